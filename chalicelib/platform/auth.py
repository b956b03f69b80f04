"""Who is calling: staff (Cognito ID token, verified here) or a patient (session token).

Chalice local and the test client do not enforce Cognito authorizers, and API Gateway's
authorizer does not check our practice scoping, so every token is verified in our own code:
signature against the pool's JWKS, issuer, audience (app client id), token use and expiry.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from chalicelib.platform.errors import Forbidden, NotFound, Unauthorized

STAFF_ROLES = ("owner", "manager", "front_desk", "clinical")


@dataclass(frozen=True)
class StaffCaller:
    practice_id: str
    user_id: str  # Cognito sub
    role: str
    username: str
    name: str = ""  # display name ("name" claim, else given + family name); shown in patients' access logs

    kind = "staff"


@dataclass(frozen=True)
class PatientCaller:
    """A signed-in contact (phone or email) and the patients it may act for."""

    practice_id: str
    session_id: str
    holder_id: str  # patient or guardian id holding the contact
    patient_ids: tuple[str, ...]

    kind = "patient"

    def owns(self, patient_id: str) -> bool:
        return patient_id in self.patient_ids


def bearer_token(headers: dict[str, str]) -> str:
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("sign in first", code="missing_token")
    return token.strip()


def fetch_jwks_over_http(url: str) -> dict[str, Any]:
    if not url.startswith(("https://", "http://")):
        raise ValueError("JWKS url must be http(s)")
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - scheme checked above
        return dict(json.loads(resp.read()))


class StaffTokenVerifier:
    """Verifies Cognito ID tokens; caches the pool's keys and refetches once on an unknown key id."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        jwks_url: str,
        fetch_jwks: Callable[[str], dict[str, Any]] = fetch_jwks_over_http,
        leeway_seconds: int = 30,
        cache_seconds: int = 3600,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.jwks_url = jwks_url
        self.fetch_jwks = fetch_jwks
        self.leeway = leeway_seconds
        self.cache_seconds = cache_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            stale = time.monotonic() - self._fetched_at > self.cache_seconds
            if kid not in self._keys or stale:
                try:
                    jwks = self.fetch_jwks(self.jwks_url)
                except Exception as exc:
                    raise Unauthorized("cannot verify the sign-in token right now", code="jwks_unavailable") from exc
                self._keys = {k["kid"]: jwt.PyJWK(k) for k in jwks.get("keys", []) if "kid" in k}
                self._fetched_at = time.monotonic()
            if kid not in self._keys:
                raise Unauthorized("the sign-in token is not valid", code="invalid_token")
            return self._keys[kid]

    def verify(self, token: str) -> StaffCaller:
        try:
            header = jwt.get_unverified_header(token)
            key = self._key(str(header.get("kid", "")))
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the sign-in has expired; sign in again", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("the sign-in token is not valid", code="invalid_token") from exc
        if claims.get("token_use") != "id":
            raise Unauthorized("an ID token is required", code="invalid_token")
        practice_id = str(claims.get("custom:practice_id") or "")
        role = str(claims.get("custom:role") or "")
        if not practice_id or role not in STAFF_ROLES:
            raise Unauthorized("this account has no practice or role", code="invalid_token")
        return StaffCaller(
            practice_id, str(claims["sub"]), role, str(claims.get("cognito:username", "")), display_name(claims)
        )


def display_name(claims: dict[str, Any]) -> str:
    """The staff member's name as the user pool holds it; never the username or email (may be empty)."""
    name = str(claims.get("name") or "").strip()
    if not name:
        name = f"{claims.get('given_name') or ''} {claims.get('family_name') or ''}".strip()
    return " ".join(name.split())[:80]


class PatientSessions(Protocol):
    def resolve(self, token: str) -> PatientCaller | None: ...


def staff_for_practice(caller: StaffCaller, practice_id: str, roles: tuple[str, ...] = STAFF_ROLES) -> StaffCaller:
    """A staff caller of another practice sees 404, exactly as for a practice that does not exist."""
    if caller.practice_id != practice_id:
        raise NotFound("no such practice")
    if caller.role not in roles:
        # Wrong role inside one's own practice is not an existence leak: say so plainly.
        raise Forbidden(f"the {caller.role} role cannot do this")
    return caller
