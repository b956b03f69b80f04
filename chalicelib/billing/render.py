"""A statement as a printable HTML page (one self-contained document with a print stylesheet). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from html import escape

from chalicelib.billing.model import (
    ADJUSTMENT,
    CHARGE,
    INSURANCE_ESTIMATE,
    INSURANCE_PAYMENT,
    PAYMENT,
    REFUND,
    LedgerLine,
    Statement,
    display_cents,
)

KIND_LABELS = {
    CHARGE: "Charge",
    INSURANCE_ESTIMATE: "Insurance estimate",
    INSURANCE_PAYMENT: "Insurance payment",
    PAYMENT: "Payment",
    ADJUSTMENT: "Adjustment",
    REFUND: "Refund",
}

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; margin: 0; }
main { max-width: 760px; margin: 0 auto; padding: 24px 16px; }
header { display: flex; justify-content: space-between; gap: 16px; flex-wrap: wrap; border-bottom: 2px solid #111; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
.muted { color: #555; }
table { width: 100%; border-collapse: collapse; margin-top: 8px; }
th, td { text-align: left; padding: 6px 4px; border-bottom: 1px solid #ddd; vertical-align: top; }
td.amount, th.amount { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.summary td { border: 0; padding: 3px 4px; }
.due { font-size: 18px; font-weight: 700; }
.note { margin-top: 16px; padding: 8px 12px; background: #f4f4f4; }
@media print {
  @page { margin: 16mm; }
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  .note { background: none; border: 1px solid #999; }
  tr { break-inside: avoid; }
  .no-print { display: none; }
}
"""


def _day(d: date) -> str:
    return f"{d:%B} {d.day}, {d.year}"


def _amount(line: LedgerLine) -> str:
    if line.kind == INSURANCE_ESTIMATE:
        return f"({display_cents(line.amount_cents)})"
    return display_cents(line.effect_cents)


def statement_html(
    statement: Statement,
    *,
    practice_name: str,
    practice_lines: list[str],
    guarantor_name: str,
    patient_names: Mapping[str, str],
) -> str:
    s = statement
    t = s.totals
    period = f"{_day(s.period_start)} – {_day(s.period_end)}"
    rows = (
        "\n".join(
            "<tr>"
            f"<td>{x.posted_on.isoformat()}</td>"
            f"<td>{escape(patient_names.get(x.patient_id, x.patient_id))}</td>"
            f"<td>{escape(x.description or KIND_LABELS[x.kind])}</td>"
            f"<td>{escape(KIND_LABELS[x.kind])}</td>"
            f'<td class="amount">{_amount(x)}</td>'
            "</tr>"
            for x in s.lines
        )
        or '<tr><td colspan="5" class="muted">No activity this month.</td></tr>'
    )
    pending = (
        f'<p class="note">{display_cents(s.closing.pending_insurance_cents)} is waiting on insurance and is not '
        "included in the amount due. You may owe part of it once your insurance pays.</p>"
        if s.closing.pending_insurance_cents
        else ""
    )
    address = "<br>".join(escape(line) for line in practice_lines if line)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Statement {s.period_start:%Y-%m} – {escape(practice_name)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<header>
  <div><h1>{escape(practice_name)}</h1><p class="muted">{address}</p></div>
  <div><h1>Statement</h1><p class="muted">{period}<br>For {escape(guarantor_name)}</p></div>
</header>
<h2>Activity</h2>
<table>
<thead><tr><th>Date</th><th>Patient</th><th>Description</th><th>Type</th><th class="amount">Amount</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<h2>Summary</h2>
<table class="summary">
<tr><td>Opening balance</td><td class="amount">{display_cents(s.opening_cents)}</td></tr>
<tr><td>Charges</td><td class="amount">{display_cents(t.charges_cents)}</td></tr>
<tr><td>Payments</td><td class="amount">-{display_cents(t.payments_cents)}</td></tr>
<tr><td>Adjustments</td><td class="amount">{display_cents(t.adjustments_cents)}</td></tr>
<tr><td>Refunds</td><td class="amount">{display_cents(t.refunds_cents)}</td></tr>
<tr><td>Closing balance</td><td class="amount">{display_cents(s.closing_cents)}</td></tr>
<tr class="due"><td>Amount due</td><td class="amount">{display_cents(s.amount_due_cents)}</td></tr>
</table>
{pending}
<p class="no-print"><button onclick="window.print()">Print</button></p>
</main>
</body>
</html>
"""
