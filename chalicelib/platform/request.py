"""Turning a request into a verified caller. Routes call these before touching any id."""

from __future__ import annotations

from chalice.app import Request

from chalicelib.audit.service import remember_staff
from chalicelib.platform import limits
from chalicelib.platform.auth import STAFF_ROLES, PatientCaller, StaffCaller, bearer_token, staff_for_practice
from chalicelib.platform.deps import deps
from chalicelib.platform.errors import Unauthorized


def staff_caller(request: Request, practice_id: str, roles: tuple[str, ...] = STAFF_ROLES) -> StaffCaller:
    """The verified staff member of ``practice_id``; on a route that sends, this request is counted
    against its send limits (chalicelib/platform/limits.py) once the caller is known."""
    caller = deps().staff_verifier.verify(bearer_token(dict(request.headers)))
    remember_staff(caller.user_id, caller.role, caller.name)
    allowed = staff_for_practice(caller, practice_id, roles)
    limits.spend(allowed.practice_id, f"staff:{allowed.user_id}")
    return allowed


def patient_caller(request: Request) -> PatientCaller:
    """The signed-in contact; counted against the route's send limits like ``staff_caller``."""
    token = bearer_token(dict(request.headers))
    caller = deps().patient_sessions.resolve(token)
    if caller is None:
        raise Unauthorized("your session has ended; sign in again", code="session_expired")
    limits.spend(caller.practice_id, f"patient:{caller.holder_id}")
    return caller
