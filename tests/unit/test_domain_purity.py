"""Domain modules import only the standard library and field libraries, never AWS, web or payment code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"boto3", "botocore", "pynamodb", "chalice", "stripe", "moto", "aws_lambda_powertools"}
DOMAIN_MODULES = sorted(ROOT.glob("chalicelib/*/model.py"))


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_there_are_domain_modules_to_check() -> None:
    assert len(DOMAIN_MODULES) >= 4


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_domain_module_imports_no_aws_web_or_payment_library(path: Path) -> None:
    assert not (_imported_roots(path) & FORBIDDEN)


def test_importing_the_app_talks_to_no_aws_service(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.client

    calls: list[str] = []
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", lambda self, op, params: calls.append(op))
    import importlib

    import app

    importlib.reload(app)
    assert calls == []
