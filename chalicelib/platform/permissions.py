"""Who may do what: the one permission table every staff route checks (``roles_for``).

The README's "Staff roles and permissions" table is rendered from ``PERMISSIONS`` (a test keeps them equal).
A caller of another practice still gets 404 before any role is looked at (``auth.staff_for_practice``).
"""

from __future__ import annotations

OWNER = "owner"
MANAGER = "manager"
FRONT_DESK = "front_desk"
CLINICAL = "clinical"
ROLES = (OWNER, MANAGER, FRONT_DESK, CLINICAL)

_ALL = ROLES
_LEADS = (OWNER, MANAGER)
_DESK = (OWNER, MANAGER, FRONT_DESK)
_CLINIC = (OWNER, MANAGER, CLINICAL)

# permission -> (roles, what it allows). Order is the README's order.
PERMISSIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "schedule.view": (_ALL, "see the day sheet, appointments and their reminder history"),
    "appointments.act": (_ALL, "confirm by phone, mark arrived, completed or no-show, cancel, reschedule, book"),
    "appointments.bulk": (_DESK, "approve or decline requests, cancel a provider's day, close and reopen days"),
    "patients.view": (_ALL, "search patients and open a patient card (audited)"),
    "patients.contact": (_ALL, "change a patient's contact preferences"),
    "inbox.work": (_DESK, "read the inbox, reply by SMS or email, assign and close items"),
    "billing.post": (_DESK, "see ledgers, post charges and payments, send pay links, make payment plans"),
    "billing.refund": (_LEADS, "refund card payments"),
    "images.manage": (_CLINIC, "upload and view x-rays and photos"),
    "imports.run": (_LEADS, "import patients, appointments and ledgers"),
    "analytics.view": (_ALL, "see appointment, message, recall and feedback analytics (no money)"),
    "analytics.money": (_LEADS, "see money analytics and ROI"),
    "settings.view": (_LEADS, "read the practice settings and reminder policy"),
    "settings.change": (_LEADS, "change settings and the reminder policy (versioned, audited)"),
    "audit.view": (_LEADS, "browse and export the audit trail"),
}


def roles_for(permission: str) -> tuple[str, ...]:
    """The roles holding a permission; an unknown name is a programming error, not a 403."""
    return PERMISSIONS[permission][0]


def allows(role: str, permission: str) -> bool:
    return role in roles_for(permission)


def permissions_of(role: str) -> list[str]:
    return [name for name, (roles, _) in PERMISSIONS.items() if role in roles]


def markdown_table() -> str:
    """The README table: one row per permission, a check per role."""
    head = "| permission | allows | " + " | ".join(ROLES) + " |"
    rule = "|---|---|" + "---|" * len(ROLES)
    rows = [
        f"| `{name}` | {what} | " + " | ".join("✓" if r in roles else "" for r in ROLES) + " |"
        for name, (roles, what) in PERMISSIONS.items()
    ]
    return "\n".join([head, rule, *rows])
