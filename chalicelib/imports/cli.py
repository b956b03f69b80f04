"""Import a practice's export from the command line (docs/import.md).

    python -m chalicelib.imports.cli --practice maple patients.csv
    python -m chalicelib.imports.cli --practice maple --kind fhir --source opendental export.json

Talks to whatever AWS the environment names (``AWS_ENDPOINT_URL`` for the local stack), writes as the
job actor, prints progress on stderr and the report on stdout. Exit status: 0 all imported, 1 some rows
or resources rejected (the rest imported), 2 nothing imported (unreadable file, unknown practice, usage).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from chalicelib.imports.model import APPOINTMENTS_CSV, FHIR, KINDS, PATIENTS_CSV, ImportFileError, ImportReport

EXIT_OK, EXIT_REJECTED, EXIT_FAILED = 0, 1, 2
SHOWN_PROBLEMS = 50


def guess_kind(path: Path, raw: bytes) -> str | None:
    """fhir for JSON; patients_csv / appointments_csv by file name, else by an AptNum column."""
    name = path.name.lower()
    if name.endswith(".json") or raw.lstrip()[:1] == b"{":
        return FHIR
    if "appointment" in name or "appt" in name:
        return APPOINTMENTS_CSV
    if "patient" in name:
        return PATIENTS_CSV
    header = raw.split(b"\n", 1)[0].lower()
    if b"aptnum" in header:
        return APPOINTMENTS_CSV
    if b"patnum" in header:
        return PATIENTS_CSV
    return None


class ProgressLine:
    """One self-rewriting line on a terminal; a line per tenth otherwise (logs, CI)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last: tuple[str, int] = ("", -1)

    def __call__(self, phase: str, done: int, total: int) -> None:
        tenth = (done * 10 // total) if total else 10
        if self.tty:
            self.stream.write(f"\r{phase:<8} {done:>7}/{total:<7}")
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()
        elif (phase, tenth) != self.last:
            self.last = (phase, tenth)
            self.stream.write(f"{phase} {done}/{total}\n")
            self.stream.flush()


def summary(report: ImportReport, requests: int | None) -> str:
    lines = [
        f"{'dry run: ' if report.dry_run else ''}{report.kind} into {report.practice_id} (source {report.source}):"
        f" {report.items} read, {report.created} created, {report.updated} updated,"
        f" {report.unchanged} unchanged, {report.rejected} rejected",
    ]
    for entity, tally in report.by_entity.items():
        if tally.created or tally.updated or tally.unchanged:
            lines.append(
                f"  {entity:<17} {tally.created:>6} created {tally.updated:>6} updated {tally.unchanged:>6} same"
            )
    for label, problems in (("rejected", report.errors), ("warning", report.warnings)):
        for p in problems[:SHOWN_PROBLEMS]:
            lines.append(f"  {label}: {p.at}{f' ({p.ref})' if p.ref else ''}: {p.reason}")
        if len(problems) > SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(problems) - SHOWN_PROBLEMS} more (--json shows all)")
    if requests is not None:
        lines.append(f"DynamoDB requests: {requests}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.imports.cli", description="Import a FHIR R4 Bundle or a CSV export."
    )
    parser.add_argument("file", type=Path, help="the export file ('-' reads stdin)")
    parser.add_argument("--practice", required=True, help="practice id, e.g. maple")
    parser.add_argument("--kind", choices=KINDS, help="default: guessed from the file name and content")
    parser.add_argument("--source", default="", help="source system name (ids derive from it); default fhir / csv")
    parser.add_argument("--dry-run", action="store_true", help="compare and report, write nothing")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)

    try:
        raw = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILED
    kind = args.kind or guess_kind(args.file, raw)
    if kind is None:
        print("cannot tell what the file holds; pass --kind " + "|".join(KINDS), file=sys.stderr)
        return EXIT_FAILED

    from chalicelib.analytics.handlers import after_import
    from chalicelib.audit.model import ACTOR_JOB
    from chalicelib.audit.service import Auditor
    from chalicelib.audit.store import AuditStore
    from chalicelib.imports.metering import DynamoRequests
    from chalicelib.imports.service import import_file
    from chalicelib.imports.store import DynamoImportStore
    from chalicelib.platform.clock import SystemClock
    from chalicelib.platform.deps import deps
    from chalicelib.platform.errors import ApiError
    from chalicelib.practices.store import PracticeStore

    clock = SystemClock()
    try:
        with DynamoRequests() as counted:
            report = import_file(
                practices=PracticeStore(),
                port=DynamoImportStore(),
                auditor=Auditor(AuditStore(), clock),
                clock=clock,
                practice_id=args.practice,
                kind=kind,
                raw=raw,
                source=args.source,
                actor_type=ACTOR_JOB,
                actor_id="import-cli",
                dry_run=args.dry_run,
                events=deps().appointment_events,
                tally=after_import(args.practice),
                progress=None if args.quiet else ProgressLine(sys.stderr),
            )
    except ImportFileError as exc:
        print(f"{args.file}: {exc.message} ({exc.code})", file=sys.stderr)
        return EXIT_FAILED
    except ApiError as exc:
        print(f"{args.practice}: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps({**report.as_json(), "dynamodb_requests": counted.total}, indent=2))
    else:
        print(summary(report, counted.total))
    return EXIT_REJECTED if report.errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
