"""The local stack's servers print no traceback when a browser hangs up mid-answer, and still print real errors."""

from __future__ import annotations

from typing import Any

from local.stack import _quiet_disconnects


class _Server:
    def __init__(self) -> None:
        self.printed: list[str] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        self.printed.append(type(sys.exc_info()[1]).__name__)


def _fail_with(server: _Server, error: Exception) -> None:
    try:
        raise error
    except Exception:
        server.handle_error(None, ("127.0.0.1", 1))


def test_a_client_that_hangs_up_is_not_printed_and_any_other_error_is() -> None:
    server = _Server()
    _quiet_disconnects(server)
    for gone in (BrokenPipeError(), ConnectionResetError(), ConnectionAbortedError()):
        _fail_with(server, gone)
    assert server.printed == []
    _fail_with(server, ValueError("a real bug"))
    assert server.printed == ["ValueError"]
