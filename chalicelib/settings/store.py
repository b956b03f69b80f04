"""Settings items: ``SETTINGS`` (current) and ``SETTINGS#<version, 6 digits>`` (history) under the practice.

A change is one TransactWriteItems: the current item conditioned on the version read (absent for the
first change), the history item (attribute_not_exists), and the practice item's ``hours`` and
``settings`` (so bookings, pay links and the patient page see the change at once).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.platform.table import TableItem, practice_pk
from chalicelib.practices.model import Practice
from chalicelib.practices.store import PracticeItem
from chalicelib.settings.model import DEFAULT_ANALYTICS, Settings


class SettingsItem(TableItem, discriminator="PracticeSettings"):
    version = NumberAttribute()
    doc = JSONAttribute(default=dict)
    changed_by = UnicodeAttribute(default="")
    sections = JSONAttribute(default=list)


class VersionConflict(Exception):
    pass


def from_practice(practice: Practice) -> Settings:
    """Version 0: what the practice item holds before any change through the dashboard."""
    s = practice.settings
    base = Settings()
    return Settings(
        version=0,
        hours=dict(practice.hours),
        quiet_hours=dict(s.get("quiet_hours") or base.quiet_hours),  # type: ignore[call-overload]
        review_links=list(s.get("review_links") or []),  # type: ignore[call-overload]
        payments={**base.payments, **dict(s.get("payments") or {})},  # type: ignore[call-overload]
        analytics={**base.analytics, **dict(s.get("analytics") or {})},  # type: ignore[call-overload]
    )


def _from_doc(version: int, doc: dict[str, Any]) -> Settings:
    return Settings(
        version=version,
        hours={d: [(str(a), str(b)) for a, b in spans] for d, spans in (doc.get("hours") or {}).items()},
        quiet_hours=dict(doc.get("quiet_hours") or {}),
        review_links=list(doc.get("review_links") or []),
        payments=dict(doc.get("payments") or {}),
        analytics={**DEFAULT_ANALYTICS, **dict(doc.get("analytics") or {})},
    )


class SettingsStore:
    def current(self, practice: Practice) -> Settings:
        try:
            item = SettingsItem.get(practice_pk(practice.id), "SETTINGS", consistent_read=True)
        except SettingsItem.DoesNotExist:
            return from_practice(practice)
        return _from_doc(int(item.version), dict(item.doc or {}))

    def history(self, practice_id: str) -> list[dict[str, Any]]:
        """Every earlier version, newest first (paged to the end)."""
        return [
            {
                "version": int(i.version),
                "changed_at": i.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "changed_by": i.changed_by,
                "sections": list(i.sections or []),
                "settings": dict(i.doc or {}),
            }
            for i in SettingsItem.query(
                practice_pk(practice_id), SettingsItem.sk.startswith("SETTINGS#"), scan_index_forward=False
            )
        ]

    def save(self, practice: Practice, after: Settings, by: str, sections: list[str]) -> None:
        pk = practice_pk(practice.id)
        doc = after.as_dict()
        doc.pop("version")
        current = SettingsItem(pk, "SETTINGS", version=after.version, doc=doc, changed_by=by, sections=sections)
        history = SettingsItem(
            pk, f"SETTINGS#{after.version:06d}", version=after.version, doc=doc, changed_by=by, sections=sections
        )
        previous = after.version - 1
        condition = SettingsItem.sk.does_not_exist() if previous == 0 else SettingsItem.version == previous
        merged = {
            **practice.settings,
            "quiet_hours": doc["quiet_hours"],
            "review_links": doc["review_links"],
            "payments": doc["payments"],
            "pay_link_days": doc["payments"]["pay_link_days"],
            "analytics": doc["analytics"],
        }
        try:
            with TransactWrite(connection=SettingsItem._get_connection().connection) as txn:
                txn.save(current, condition=condition)
                txn.save(history, condition=SettingsItem.sk.does_not_exist())
                txn.update(
                    PracticeItem(pk, "PRACTICE"),
                    actions=[PracticeItem.hours.set(doc["hours"]), PracticeItem.settings.set(merged)],
                    condition=PracticeItem.pk.exists(),
                )
        except TransactWriteError as exc:
            raise VersionConflict from exc
