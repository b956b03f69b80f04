"""Domain modules import only the standard library and field libraries, never AWS, web or payment code."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
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


_NO_AWS_AT_IMPORT = """
import botocore.client
calls = []
botocore.client.BaseClient._make_api_call = lambda self, op, params: calls.append(op)
import app  # noqa: F401
import sys
heavy = sorted(m for m in ("stripe", "pydicom", "fhir.resources", "numpy", "PIL", "icalendar") if m in sys.modules)
print(calls, heavy)
"""


def test_importing_the_app_talks_to_no_aws_service_and_loads_no_heavy_library() -> None:
    # A fresh interpreter: reloading app in this process would register every route twice.
    out = subprocess.run(
        [sys.executable, "-c", _NO_AWS_AT_IMPORT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert out.stdout.strip() == "[] []", out.stdout + out.stderr
