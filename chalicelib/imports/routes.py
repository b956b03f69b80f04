"""Staff import endpoint: POST a practice's export file, answer the import report."""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint, Response

from chalicelib.analytics.handlers import after_import
from chalicelib.imports.model import KINDS, ImportFileError
from chalicelib.platform.api import respond, route
from chalicelib.platform.deps import Deps, deps
from chalicelib.platform.errors import BadRequest, Unprocessable
from chalicelib.platform.observability import logger
from chalicelib.platform.permissions import roles_for
from chalicelib.platform.request import staff_caller

bp = Blueprint(__name__)

# A request must finish inside API Gateway's 29 s: 2 MB holds a 2,000-patient practice's patients.csv
# several times over, or about 20,000 appointment rows. Bigger files go through the command line.
MAX_IMPORT_BYTES = 2 * 1024 * 1024
IMPORT_TYPES = [
    "application/fhir+json",
    "application/json",
    "text/csv",
    "text/plain",
    "application/vnd.ms-excel",  # what Windows browsers call a .csv
    "application/octet-stream",
]
_SOURCE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_TRUE = {"1", "true", "yes"}


def _port(d: Deps) -> Any:
    """The import store: ``extras["imports"]`` when a test put a twin there, else the DynamoDB one."""
    if "imports" not in d.extras:
        from chalicelib.imports.store import DynamoImportStore

        d.extras["imports"] = DynamoImportStore()
    return d.extras["imports"]


@route(
    bp,
    "/practices/{practice_id}/imports",
    "POST",
    summary="Import patients, guardians, providers, rooms and appointments (FHIR R4 Bundle or CSV)",
    auth="staff",
    tag="imports",
    body={"type": "string", "format": "binary", "description": "the file: a FHIR R4 Bundle or a CSV export"},
    body_type="application/octet-stream",
    query={
        "kind": {"type": "string", "enum": list(KINDS)},
        "source": {"type": "string", "pattern": _SOURCE.pattern},
        "dry_run": {"type": "boolean"},
    },
    content_types=IMPORT_TYPES,
    max_body=MAX_IMPORT_BYTES,
    too_large=f"files over {MAX_IMPORT_BYTES // (1024 * 1024)} MB go through the import command",
)
def create_import(practice_id: str) -> Response:
    request = bp.current_request
    caller = staff_caller(request, practice_id, roles=roles_for("imports.run"))
    params: dict[str, str] = dict(request.query_params or {})
    kind, source = params.get("kind", ""), params.get("source", "")
    if kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}", code="invalid_kind")
    if source and not _SOURCE.match(source):
        raise BadRequest("source is 1-40 letters, digits, dots, dashes or underscores", code="invalid_source")
    body = request.raw_body or b""
    raw = body if isinstance(body, bytes) else body.encode()
    from chalicelib.imports import service  # parsers and their field libraries stay off the cold start

    d = deps()
    try:
        report = service.import_file(
            practices=d.practices,
            port=_port(d),
            auditor=d.auditor,
            clock=d.clock,
            practice_id=practice_id,
            kind=kind,
            raw=raw,
            source=source,
            actor_type="staff",
            actor_id=caller.user_id,
            dry_run=params.get("dry_run", "").lower() in _TRUE,
            events=d.appointment_events,
            tally=after_import(practice_id),
        )
    except ImportFileError as exc:
        raise Unprocessable(exc.message, code=exc.code) from exc
    logger.info("import finished", extra={"practice_id": practice_id, "run_id": report.run_id, "kind": kind})
    return respond(report.as_json())
