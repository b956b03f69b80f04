"""`make run` checks its ports as its servers bind them: a listener makes a port busy, a closed one does not."""

from __future__ import annotations

import socket

from local.stack import _port_is_free


def _port_left_in_time_wait() -> int:
    """A port whose server side closed a connection first, so that socket waits in TIME_WAIT; the server binds
    with SO_REUSEADDR, as the stack's HTTP servers and moto's do."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the side that closes first keeps the port in TIME_WAIT
        client.recv(1)
        client.close()
    return port


def test_a_port_someone_listens_on_is_busy() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        assert not _port_is_free(blocker.getsockname()[1])


def test_a_port_whose_last_connections_are_closing_is_free_to_start_again() -> None:
    port = _port_left_in_time_wait()
    with socket.socket() as plain:  # without SO_REUSEADDR the port still looks taken
        try:
            plain.bind(("127.0.0.1", port))
            lingering = False
        except OSError:
            lingering = True
    assert lingering
    assert _port_is_free(port)
