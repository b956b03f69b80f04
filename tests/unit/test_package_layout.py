"""`make package` leaves out what the Lambda runtime provides and keeps the function zip small."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from infra import package


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name in names:
            z.writestr(name, "x")
    return path


def test_the_layer_loses_boto3_botocore_and_their_helpers_but_keeps_the_rest(tmp_path: Path) -> None:
    site = "python/lib/python3.11/site-packages/"
    layer = _zip(
        tmp_path / "layer.zip",
        [
            f"{site}botocore/client.py",
            f"{site}botocore-1.44.8.dist-info/METADATA",
            f"{site}boto3/__init__.py",
            f"{site}s3transfer/manager.py",
            f"{site}jmespath/parser.py",
            f"{site}pynamodb/models.py",
            f"{site}stripe/__init__.py",
            f"{site}botocore_extra_plugin/x.py",
        ],
    )
    assert package.strip_runtime_provided(layer) == 5
    with zipfile.ZipFile(layer) as z:
        kept = sorted(n.split("/")[4] for n in z.namelist())
    assert kept == ["botocore_extra_plugin", "pynamodb", "stripe"]


def test_the_check_refuses_a_function_zip_with_dependencies_in_it(tmp_path: Path) -> None:
    _zip(tmp_path / "deployment.zip", ["app.py", "chalicelib/__init__.py", "botocore/client.py"])
    _zip(tmp_path / "layer-deployment.zip", ["python/lib/python3.11/site-packages/pynamodb/models.py"])
    with pytest.raises(SystemExit, match="boto"):
        package.check(tmp_path)


SITE = "python/lib/python3.11/site-packages/"


def _requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("# shipped\npynamodb==6.1.0\nPyJWT[crypto]==2.15.1  # tokens\n")
    return path


def test_the_check_passes_an_app_only_function_zip(tmp_path: Path) -> None:
    _zip(tmp_path / "deployment.zip", ["app.py", "chalicelib/__init__.py", "chalice/app.py"])
    _zip(
        tmp_path / "layer-deployment.zip",
        [
            f"{SITE}pynamodb/models.py",
            f"{SITE}pynamodb-6.1.0.dist-info/METADATA",
            f"{SITE}PyJWT-2.15.1.dist-info/METADATA",
        ],
    )
    assert package.check(tmp_path, _requirements(tmp_path))["function_zip_mb"] < package.FUNCTION_LIMIT_MB


def test_the_check_refuses_a_layer_without_a_pinned_requirement(tmp_path: Path) -> None:
    # What chalice does when PyPI has no wheel for Lambda's platform: warn, and leave the package out.
    _zip(tmp_path / "deployment.zip", ["app.py", "chalicelib/__init__.py"])
    _zip(tmp_path / "layer-deployment.zip", [f"{SITE}pynamodb/models.py", f"{SITE}pynamodb-6.1.0.dist-info/METADATA"])
    with pytest.raises(SystemExit, match=r"lacks pyjwt==2\.15\.1"):
        package.check(tmp_path, _requirements(tmp_path))


def test_the_check_refuses_a_layer_with_another_version_than_the_pin(tmp_path: Path) -> None:
    _zip(tmp_path / "deployment.zip", ["app.py"])
    _zip(
        tmp_path / "layer-deployment.zip",
        [f"{SITE}pynamodb-6.0.0.dist-info/METADATA", f"{SITE}PyJWT-2.15.1.dist-info/METADATA"],
    )
    with pytest.raises(SystemExit, match=r"lacks pynamodb==6\.1\.0"):
        package.check(tmp_path, _requirements(tmp_path))


def test_the_function_zip_loses_the_trees_bytecode(tmp_path: Path) -> None:
    zip_path = _zip(
        tmp_path / "deployment.zip",
        ["app.py", "chalicelib/__init__.py", "chalicelib/__pycache__/__init__.cpython-311.pyc", "__pycache__/app.pyc"],
    )
    assert package.strip(zip_path, package._compiled) == 2
    with zipfile.ZipFile(zip_path) as z:
        assert sorted(z.namelist()) == ["app.py", "chalicelib/__init__.py"]


def test_prod_puts_dependencies_in_a_layer() -> None:
    import json

    config = json.loads((package.ROOT / ".chalice" / "config.json").read_text())
    assert config["stages"]["prod"]["automatic_layer"] is True
