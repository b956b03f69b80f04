"""`make package`: the deployable SAM template and zips in ``out/``, checked.

``chalice package --stage prod --merge-template infra/resources.yaml`` with ``automatic_layer`` (prod
stage) writes three files: ``sam.yaml``, ``deployment.zip`` (app.py + chalicelib/ only) and
``layer-deployment.zip`` (requirements.txt, built by pip from PyPI wheels for manylinux/x86_64).
Then this step removes from the layer what the Lambda Python runtime already provides (boto3,
botocore, s3transfer, jmespath: ~16 MB, pulled in by pynamodb) and checks:

- the function zip is at most 5 MB and holds only app.py and chalicelib/ (sources: the tree's
  __pycache__ is left out);
- neither zip carries boto3/botocore;
- the layer stays under Lambda's 250 MB unzipped limit;
- every pin in requirements.txt is in the layer at its pinned version. chalice only warns ("Could not
  install dependencies") when PyPI has no wheel for the Lambda runtime's platform, and the deploy would
  then fail at import in Lambda; here that stops the package instead.

Why a layer rather than stripping one zip: without botocore the dependencies are still ~18 MB
zipped (cryptography, phonenumbers, stripe, pydantic-core, fhir.resources), so no single function
zip can be ≤ 5 MB. The layer is built once per requirements.txt (chalice caches it in
``.chalice/deployments/``), code-only deploys upload well under 1 MB, and each of the five functions
shares the one layer. Sizes go to ``out/package.json`` for ``make bench``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
FUNCTION_LIMIT_MB = 5.0
LAYER_UNZIPPED_LIMIT_MB = 250.0
# In the Lambda Python 3.11+ runtime; shipping our own copies only adds size and version drift.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
SITE = "python/lib/"


def _runtime_provided(name: str) -> bool:
    parts = name.split("/")
    top = parts[4] if name.startswith(SITE) and len(parts) > 4 else parts[0]
    return any(
        top == p or (top.startswith(f"{p}-") and top.endswith((".dist-info", ".egg-info"))) for p in RUNTIME_PROVIDED
    )


def _compiled(name: str) -> bool:
    # Bytecode from the developer's tree: stale for Lambda (it checks the source's mtime, which the zip
    # resets), and Lambda cannot write its own next to a read-only /var/task anyway.
    return "/__pycache__/" in f"/{name}" or name.endswith(".pyc")


def strip(path: Path, drop: Callable[[str], bool]) -> int:
    """Rewrite ``path`` without the entries ``drop`` names; returns how many went."""
    temp = path.with_suffix(".tmp")
    removed = 0
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            if drop(info.filename):
                removed += 1
                continue
            dst.writestr(info, src.read(info.filename))
    temp.replace(path)
    return removed


def strip_runtime_provided(path: Path) -> int:
    return strip(path, _runtime_provided)


def _top_levels(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as z:
        return {n.split("/")[0] for n in z.namelist()}


def _pins(requirements: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, names normalised as wheels spell them."""
    pins: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if "==" not in text:
            continue
        name, version = text.split("==", 1)
        pins[name.split("[", 1)[0].strip().lower().replace("-", "_").replace(".", "_")] = version.strip()
    return pins


def missing_pins(layer_zip: Path, requirements: Path) -> list[str]:
    """Pinned requirements with no ``<name>-<version>.dist-info`` in the layer."""
    found: set[tuple[str, str]] = set()
    with zipfile.ZipFile(layer_zip) as z:
        for n in z.namelist():
            parts = n.split("/")
            if len(parts) > 4 and parts[4].endswith(".dist-info"):
                name, _, version = parts[4].removesuffix(".dist-info").partition("-")
                found.add((name.lower().replace("-", "_").replace(".", "_"), version))
    return [f"{name}=={version}" for name, version in _pins(requirements).items() if (name, version) not in found]


def _unzipped_mb(path: Path) -> float:
    with zipfile.ZipFile(path) as z:
        return sum(i.file_size for i in z.infolist()) / MB


def check(out: Path, requirements: Path = ROOT / "requirements.txt") -> dict[str, float]:
    function_zip, layer_zip = out / "deployment.zip", out / "layer-deployment.zip"
    problems: list[str] = []
    sizes = {
        "function_zip_mb": function_zip.stat().st_size / MB,
        "layer_zip_mb": layer_zip.stat().st_size / MB,
        "layer_unzipped_mb": _unzipped_mb(layer_zip),
    }
    if sizes["function_zip_mb"] > FUNCTION_LIMIT_MB:
        problems.append(f"function zip is {sizes['function_zip_mb']:.2f} MB (limit {FUNCTION_LIMIT_MB})")
    extra = _top_levels(function_zip) - {"app.py", "chalicelib", "chalice"}
    if extra:
        problems.append(f"function zip carries more than the app: {sorted(extra)}")
    with zipfile.ZipFile(function_zip) as z:
        if any(_compiled(n) for n in z.namelist()):
            problems.append("function zip carries bytecode from this tree")
    for zip_path in (function_zip, layer_zip):
        with zipfile.ZipFile(zip_path) as z:
            if any(_runtime_provided(n) for n in z.namelist()):
                problems.append(f"{zip_path.name} still carries boto3/botocore")
    if sizes["layer_unzipped_mb"] > LAYER_UNZIPPED_LIMIT_MB:
        problems.append(f"layer unzips to {sizes['layer_unzipped_mb']:.0f} MB (limit {LAYER_UNZIPPED_LIMIT_MB})")
    missing = missing_pins(layer_zip, requirements)
    if missing:
        problems.append(f"the layer lacks {', '.join(missing)} (no wheel for the Lambda runtime's platform?)")
    if problems:
        raise SystemExit("package check failed: " + "; ".join(problems))
    return sizes


def main(argv: list[str]) -> int:
    out = ROOT / (argv[1] if len(argv) > 1 else "out")
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    # chalice package needs a region to name things; it makes no AWS call.
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION", "us-east-1"))
    # Packaging makes no AWS call: no profile (a missing one would stop chalice), no local endpoint.
    for local_only in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "LOCAL_OUTBOX"):
        env.pop(local_only, None)
    chalice = Path(sys.executable).with_name("chalice")
    cmd = [str(chalice), "package", "--stage", "prod", "--merge-template", "infra/resources.yaml", str(out)]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)  # noqa: S603 (our own venv's chalice)
    removed = strip_runtime_provided(out / "layer-deployment.zip")
    strip(out / "deployment.zip", _compiled)
    sizes = check(out)
    (out / "package.json").write_text(json.dumps({**sizes, "removed_entries": removed}, indent=2) + "\n")
    print(  # noqa: T201 (make package reports what it wrote)
        f"out/: function zip {sizes['function_zip_mb']:.2f} MB, layer {sizes['layer_zip_mb']:.2f} MB "
        f"({sizes['layer_unzipped_mb']:.0f} MB unzipped, {removed} runtime-provided files left out)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
