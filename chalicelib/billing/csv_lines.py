"""Ledger lines from a CSV file (columns in docs/billing.md). Pure: stdlib only.

Header names match case-insensitively and in any order; unknown columns are ignored. Row numbers count
the header as row 1, as a spreadsheet shows them. A file is all or nothing: any bad row refuses the file.
Line ids are derived from the file (``line_id`` column, else the row's content and its occurrence), so
importing the same file twice writes the same lines again instead of adding new ones.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime

from chalicelib.billing.model import (
    ADJUSTMENT,
    KINDS,
    REFUND,
    SOURCE_IMPORT,
    LedgerLine,
    LineError,
    check_line,
    parse_cents,
)
from chalicelib.imports.model import PATIENT, internal_id

REQUIRED = ("date", "kind", "amount")  # and one of PATIENT_COLUMNS
PATIENT_COLUMNS = ("patient_id", "patnum")  # Chairside's id, or the source system's PatNum (mapped as imports do)
OPTIONAL = ("line_id", "description", "invoice_id", "claim_id")
MAX_ROWS = 10_000
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")
IMPORT_KINDS = tuple(k for k in KINDS if k != REFUND)  # card refunds come from Stripe, cash ones are adjustments


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, header, size)."""


@dataclass
class RowError:
    row: int
    message: str


@dataclass
class ParsedLines:
    lines: list[LedgerLine] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # line id -> file row


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFileError("the file is not UTF-8 text") from exc


def _date(text: str) -> date:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    raise ValueError("dates look like 2027-03-14 or 03/14/2027")


def _line_id(row: dict[str, str], patient_id: str, occurrence: int) -> str:
    own = row.get("line_id", "")
    content = (patient_id, *(row.get(c, "") for c in (*REQUIRED, *OPTIONAL[1:])))
    basis = ["id", own] if own else ["row", *content, str(occurrence)]
    return "imp-" + hashlib.sha256("\x1f".join(basis).encode()).hexdigest()[:24]


def _patient(row: dict[str, str], source: str) -> str:
    if row.get("patient_id"):
        return row["patient_id"]
    if row.get("patnum"):
        return internal_id(source, PATIENT, row["patnum"])
    raise LineError("patient_id (or PatNum) is empty")


def parse_ledger_csv(raw: bytes, posted_by: str = "import", source: str = "csv") -> ParsedLines:
    """``source`` names the system PatNum values come from, as for patient imports (``csv`` by default)."""
    text = _text(raw)
    try:
        reader = csv.reader(io.StringIO(text), csv.Sniffer().sniff(text[:4096], delimiters=",;\t|"))
    except csv.Error:
        reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise CsvFileError("the file is empty")
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if not any(c in names for c in PATIENT_COLUMNS):
        missing.insert(0, "patient_id (or PatNum)")
    if missing:
        raise CsvFileError(f"missing column(s): {', '.join(missing)}")
    parsed = ParsedLines()
    seen: dict[str, int] = {}
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if number - 1 > MAX_ROWS:
            raise CsvFileError(f"at most {MAX_ROWS} rows per file")
        row = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(names)}
        try:
            kind = row["kind"].lower()
            if kind not in IMPORT_KINDS:
                raise LineError(f"kind is one of {', '.join(IMPORT_KINDS)}")
            amount = parse_cents(row["amount"], allow_negative=kind == ADJUSTMENT)
            patient_id = _patient(row, source)
            fingerprint = "\x1f".join((patient_id, *(row.get(c, "") for c in (*REQUIRED, *OPTIONAL))))
            seen[fingerprint] = seen.get(fingerprint, 0) + 1
            line = check_line(
                LedgerLine(
                    id=_line_id(row, patient_id, seen[fingerprint]),
                    patient_id=patient_id,
                    kind=kind,
                    amount_cents=amount,
                    posted_on=_date(row["date"]),
                    description=row.get("description", ""),
                    invoice_id=row.get("invoice_id", ""),
                    claim_id=row.get("claim_id", ""),
                    source=SOURCE_IMPORT,
                    posted_by=posted_by,
                )
            )
        except ValueError as exc:  # MoneyError and LineError are ValueErrors too
            parsed.errors.append(RowError(number, str(exc)))
            continue
        if line.id in parsed.rows:
            parsed.errors.append(RowError(number, f"line_id repeats row {parsed.rows[line.id]}"))
            continue
        parsed.rows[line.id] = number
        parsed.lines.append(line)
    return parsed
