"""Practice, provider, operatory and appointment-type items and their repository."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.platform.table import TableItem, practice_pk
from chalicelib.practices.model import AppointmentType, Operatory, Practice, Provider


class PracticeItem(TableItem, discriminator="Practice"):
    practice_id = UnicodeAttribute()
    name = UnicodeAttribute()
    zone = UnicodeAttribute()
    phone = UnicodeAttribute(default="")
    email = UnicodeAttribute(default="")
    address = JSONAttribute(default=dict)
    hours = JSONAttribute(default=dict)
    settings = JSONAttribute(default=dict)


class ProviderItem(TableItem, discriminator="Provider"):
    provider_id = UnicodeAttribute()
    name = UnicodeAttribute()
    kind = UnicodeAttribute(default="dentist")
    hours = JSONAttribute(default=dict)
    source_id = UnicodeAttribute(default="")
    source_hash = UnicodeAttribute(default="")  # set by imports: the content last imported


class OperatoryItem(TableItem, discriminator="Operatory"):
    operatory_id = UnicodeAttribute()
    name = UnicodeAttribute()
    source_id = UnicodeAttribute(default="")
    source_hash = UnicodeAttribute(default="")  # set by imports


class AppointmentTypeItem(TableItem, discriminator="AppointmentType"):
    type_id = UnicodeAttribute()
    name = UnicodeAttribute()
    duration_min = NumberAttribute()
    category = UnicodeAttribute(default="general")
    provider_ids = ListAttribute(of=UnicodeAttribute, default=list)
    operatory_ids = ListAttribute(of=UnicodeAttribute, default=list)
    source_hash = UnicodeAttribute(default="")  # set by imports


def _hours_out(raw: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    return {day: [(s, e) for s, e in spans] for day, spans in (raw or {}).items()}


def practice_item(p: Practice) -> PracticeItem:
    return PracticeItem(
        practice_pk(p.id),
        "PRACTICE",
        gsi1pk="PRACTICES",
        gsi1sk=f"PRACTICE#{p.id}",
        practice_id=p.id,
        name=p.name,
        zone=p.zone,
        phone=p.phone,
        email=p.email,
        address=p.address,
        hours={d: [list(s) for s in v] for d, v in p.hours.items()},
        settings=p.settings,
    )


def practice_from(item: PracticeItem) -> Practice:
    return Practice(
        id=item.practice_id,
        name=item.name,
        zone=item.zone,
        phone=item.phone,
        email=item.email,
        address=dict(item.address or {}),
        hours=_hours_out(item.hours),
        settings=dict(item.settings or {}),
    )


def provider_item(practice_id: str, p: Provider) -> ProviderItem:
    return ProviderItem(
        practice_pk(practice_id),
        f"PROVIDER#{p.id}",
        provider_id=p.id,
        name=p.name,
        kind=p.kind,
        hours={d: [list(s) for s in v] for d, v in p.hours.items()},
        source_id=p.source_id,
    )


def operatory_item(practice_id: str, o: Operatory) -> OperatoryItem:
    return OperatoryItem(
        practice_pk(practice_id), f"OPERATORY#{o.id}", operatory_id=o.id, name=o.name, source_id=o.source_id
    )


def appointment_type_item(practice_id: str, t: AppointmentType) -> AppointmentTypeItem:
    return AppointmentTypeItem(
        practice_pk(practice_id),
        f"APPTTYPE#{t.id}",
        type_id=t.id,
        name=t.name,
        duration_min=t.duration_min,
        category=t.category,
        provider_ids=list(t.provider_ids),
        operatory_ids=list(t.operatory_ids),
    )


class PracticeStore:
    """Repository for practices and their resources."""

    def get(self, practice_id: str) -> Practice | None:
        try:
            return practice_from(PracticeItem.get(practice_pk(practice_id), "PRACTICE"))
        except PracticeItem.DoesNotExist:
            return None

    def all_ids(self) -> Iterator[str]:
        for item in PracticeItem.gsi1.query("PRACTICES"):
            yield str(item.gsi1sk).removeprefix("PRACTICE#")

    def put(self, practice: Practice) -> None:
        practice_item(practice).save()

    def providers(self, practice_id: str) -> list[Provider]:
        return [
            Provider(id=i.provider_id, name=i.name, kind=i.kind, hours=_hours_out(i.hours), source_id=i.source_id)
            for i in ProviderItem.query(practice_pk(practice_id), ProviderItem.sk.startswith("PROVIDER#"))
        ]

    def operatories(self, practice_id: str) -> list[Operatory]:
        return [
            Operatory(id=i.operatory_id, name=i.name, source_id=i.source_id)
            for i in OperatoryItem.query(practice_pk(practice_id), OperatoryItem.sk.startswith("OPERATORY#"))
        ]

    def appointment_types(self, practice_id: str) -> list[AppointmentType]:
        return [
            AppointmentType(
                id=i.type_id,
                name=i.name,
                duration_min=int(i.duration_min),
                category=i.category,
                provider_ids=[str(x) for x in i.provider_ids or []],
                operatory_ids=[str(x) for x in i.operatory_ids or []],
            )
            for i in AppointmentTypeItem.query(practice_pk(practice_id), AppointmentTypeItem.sk.startswith("APPTTYPE#"))
        ]
