"""In-memory twins of the identity stores, for service tests. Same conditions as the DynamoDB ones."""

from __future__ import annotations

import threading
from dataclasses import replace

from chalicelib.identity.model import (
    MAX_ATTEMPTS,
    SESSION_ABSOLUTE,
    SESSION_IDLE,
    OneTimeCode,
    Session,
)


class MemoryCodes:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], OneTimeCode] = {}
        self._lock = threading.Lock()

    def put(self, practice_id: str, contact_digest: str, code: OneTimeCode) -> None:
        with self._lock:
            self.items[(practice_id, contact_digest)] = replace(code, attempts=0)

    def get(self, practice_id: str, contact_digest: str) -> OneTimeCode | None:
        return self.items.get((practice_id, contact_digest))

    def count_attempt(self, practice_id: str, contact_digest: str, now_epoch: int) -> OneTimeCode | None:
        with self._lock:
            code = self.items.get((practice_id, contact_digest))
            if code is None or code.attempts >= MAX_ATTEMPTS or code.expires_at <= now_epoch:
                return None
            code = replace(code, attempts=code.attempts + 1)
            self.items[(practice_id, contact_digest)] = code
            return code

    def consume(self, practice_id: str, contact_digest: str, digest: str) -> bool:
        with self._lock:
            code = self.items.get((practice_id, contact_digest))
            if code is None or code.digest != digest:
                return False
            del self.items[(practice_id, contact_digest)]
            return True


class MemorySessions:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Session] = {}
        self._lock = threading.Lock()

    def create(self, session: Session) -> None:
        with self._lock:
            key = (session.practice_id, session.id)
            if key in self.items:
                raise KeyError("session exists")
            self.items[key] = session

    def get(self, practice_id: str, session_id: str) -> Session | None:
        return self.items.get((practice_id, session_id))

    def touch(self, session: Session, now_epoch: int) -> bool:
        with self._lock:
            key = (session.practice_id, session.id)
            stored = self.items.get(key)
            if (
                stored is None
                or stored.last_seen <= now_epoch - int(SESSION_IDLE.total_seconds())
                or stored.started_at <= now_epoch - int(SESSION_ABSOLUTE.total_seconds())
            ):
                return False
            self.items[key] = replace(stored, last_seen=now_epoch)
            return True

    def delete(self, practice_id: str, session_id: str) -> None:
        with self._lock:
            self.items.pop((practice_id, session_id), None)


class MemoryRates:
    def __init__(self) -> None:
        self.hits: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def hit(self, practice_id: str, counter_key: str, limit: int, expires_at: int) -> bool:
        with self._lock:
            key = (practice_id, counter_key)
            if self.hits.get(key, 0) >= limit:
                return False
            self.hits[key] = self.hits.get(key, 0) + 1
            return True
