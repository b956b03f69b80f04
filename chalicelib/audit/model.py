"""Audit events: who read or changed which patient's data, when and from where. Append-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ACTOR_STAFF = "staff"
ACTOR_PATIENT = "patient"
ACTOR_JOB = "job"
ACTOR_ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class AuditEvent:
    id: str
    at: datetime
    actor_type: str  # staff | patient | job | anonymous
    actor_id: str  # staff sub, contact holder id, or job name; never a name, phone or email
    action: str  # e.g. "patient.read", "appointments.list", "import.write", "access_denied"
    patient_id: str  # "" for practice-level events
    record: str  # "<kind>:<id>" of what was touched
    source: str  # "api", "job:<name>", "import:<file kind>"
    # Staff only: the role and display name from the sign-in token at the time of the event, so a
    # patient's access log can say who looked without asking the user pool for every row.
    actor_role: str = ""
    actor_name: str = ""
