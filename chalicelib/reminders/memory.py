"""In-memory twins of the reminder engine's ports, for service tests that run in milliseconds.

They keep the same invariants as the DynamoDB store: conditional creates and claims, only pending
touches re-planned, a sparse due index (only open touches are found by ``due_touches``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from chalicelib.appointments.model import Appointment
from chalicelib.billing.model import DueInstalment
from chalicelib.patients.model import ContactLink, Guardian, Patient, contact_links_for, guardian_links_for
from chalicelib.platform.clock import Clock
from chalicelib.practices.model import AppointmentType, Practice
from chalicelib.reminders.model import (
    CANCELLED,
    CLAIMED,
    EMAIL,
    OPEN_STATES,
    PENDING,
    SENDING,
    SMS,
    UNKNOWN,
    AddressState,
    ContactPrefs,
    InboxEntry,
    Policy,
    PolicyConflict,
    RecallRecord,
    Snapshot,
    SweepState,
    Touch,
    policy_from_dict,
)
from chalicelib.reminders.ports import PayLinkRefused, Ports


@dataclass
class World:
    """Practices, patients, guardians' links and appointments, as the other capabilities' stores hold them."""

    practices: dict[str, Practice] = field(default_factory=dict)
    patients: dict[tuple[str, str], Patient] = field(default_factory=dict)
    links: list[tuple[str, ContactLink]] = field(default_factory=list)
    appointments: dict[tuple[str, str], Appointment] = field(default_factory=dict)
    types: dict[str, list[AppointmentType]] = field(default_factory=dict)
    reads: int = 0

    # -- seeding ------------------------------------------------------------------------------------
    def add_practice(self, practice: Practice, types: Sequence[AppointmentType] = ()) -> None:
        self.practices[practice.id] = practice
        self.types[practice.id] = list(types)

    def add_patient(self, practice_id: str, patient: Patient) -> None:
        self.patients[(practice_id, patient.id)] = patient
        self.links = [(p, link) for p, link in self.links if not (p == practice_id and link.holder_id == patient.id)]
        self.links += [(practice_id, link) for link in contact_links_for(patient)]

    def add_guardian(self, practice_id: str, guardian: Guardian) -> None:
        self.links += [(practice_id, link) for link in guardian_links_for(guardian)]

    def put_appointment(self, practice_id: str, appointment: Appointment) -> None:
        self.appointments[(practice_id, appointment.id)] = copy.deepcopy(appointment)

    # -- PracticeReader -------------------------------------------------------------------------------
    def get(self, practice_id: str) -> Practice | None:
        return self.practices.get(practice_id)

    def all_ids(self) -> Iterator[str]:
        yield from sorted(self.practices)

    def appointment_types(self, practice_id: str) -> list[AppointmentType]:
        return list(self.types.get(practice_id, []))


class WorldPatients:
    def __init__(self, world: World) -> None:
        self.world = world

    def get(self, practice_id: str, patient_id: str) -> Patient | None:
        return self.world.patients.get((practice_id, patient_id))

    def links_for_patient(self, practice_id: str, patient_id: str) -> list[ContactLink]:
        return [link for p, link in self.world.links if p == practice_id and link.patient_id == patient_id]

    def links_for_address(self, practice_id: str, address: str) -> list[ContactLink]:
        return [link for p, link in self.world.links if p == practice_id and link.address == address]

    def practices_for_address(self, address: str) -> list[tuple[str, str]]:
        return [(p, link.patient_id) for p, link in self.world.links if link.address == address]

    def patient_ids(self, practice_id: str) -> Iterator[str]:
        yield from sorted(pid for p, pid in self.world.patients if p == practice_id)


class WorldAppointments:
    def __init__(self, world: World) -> None:
        self.world = world

    def get(self, practice_id: str, appointment_id: str) -> Appointment | None:
        found = self.world.appointments.get((practice_id, appointment_id))
        return copy.deepcopy(found) if found else None

    def on_day(self, practice_id: str, day: date) -> list[Appointment]:
        zone = ZoneInfo(self.world.practices[practice_id].zone)
        return sorted(
            (
                copy.deepcopy(a)
                for (p, _), a in self.world.appointments.items()
                if p == practice_id and a.start.astimezone(zone).date() == day
            ),
            key=lambda a: a.start,
        )

    def for_patient(self, practice_id: str, patient_id: str, start: datetime, end: datetime) -> list[Appointment]:
        return sorted(
            (
                copy.deepcopy(a)
                for (p, _), a in self.world.appointments.items()
                if p == practice_id and a.patient_id == patient_id and start <= a.start < end
            ),
            key=lambda a: a.start,
        )


class MemoryCarrier:
    """SNS's opt-out list: numbers ending in 99 are opted out, as moto reports them."""

    def __init__(self, opted_out: Iterable[str] = ()) -> None:
        self.opted_out = set(opted_out)
        self.checks: list[str] = []

    def is_opted_out(self, number: str) -> bool:
        self.checks.append(number)
        return number in self.opted_out or number.endswith("99")

    def opt_in(self, number: str) -> None:
        self.opted_out.discard(number)


class WorldConfirmer:
    def __init__(self, world: World) -> None:
        self.world = world

    def confirm(self, practice_id: str, appointment_id: str, zone: str, at: datetime, by: str) -> Appointment | None:
        found = self.world.appointments.get((practice_id, appointment_id))
        if found is None or found.status != "booked":
            return None
        found.transition("confirmed", at, by, reason="sms reply")
        return copy.deepcopy(found)


class MemoryInstalments:
    """Billing's instalments as the reminder engine sees them: ``add`` one, ``pay`` it; every pay link
    minted is kept in ``minted`` (tests count them). ``refuse`` makes ``pay_url`` refuse with a code."""

    def __init__(self) -> None:
        self.instalments: dict[tuple[str, str, int], DueInstalment] = {}
        self.paid: set[tuple[str, str, int]] = set()
        self.minted: list[tuple[str, str, int, str]] = []
        self.refuse = ""
        self.reads = 0

    def add(self, due: DueInstalment) -> None:
        self.instalments[(due.practice_id, due.plan_id, due.number)] = due

    def pay(self, practice_id: str, plan_id: str, number: int) -> None:
        self.paid.add((practice_id, plan_id, number))

    def due_between(self, practice_id: str, start: date, end: date) -> list[DueInstalment]:
        self.reads += 1
        return sorted(
            (
                d
                for key, d in self.instalments.items()
                if key[0] == practice_id and key not in self.paid and start <= d.due_on <= end
            ),
            key=lambda d: (d.due_on, d.plan_id, d.number),
        )

    def pay_url(self, practice_id: str, plan_id: str, number: int) -> str:
        if self.refuse:
            raise PayLinkRefused(self.refuse)
        if (practice_id, plan_id, number) in self.paid:
            raise PayLinkRefused("nothing_owed")
        url = f"https://patients.example.test/patient/pay/#pay-{plan_id}-{number}-{len(self.minted) + 1}"
        self.minted.append((practice_id, plan_id, number, url))
        return url


class MemoryReminderStore:
    def __init__(self, world: World) -> None:
        self.world = world
        self.policies: dict[str, tuple[Policy, list[dict[str, object]]]] = {}
        self.touches: dict[tuple[str, str], Touch] = {}
        self.states: dict[str, SweepState] = {}
        self.address_states: dict[tuple[str, str], AddressState] = {}
        self.soft_messages: dict[tuple[str, str], set[str]] = {}
        self.prefs_by_patient: dict[tuple[str, str], ContactPrefs] = {}
        self.caps: dict[tuple[str, str, str], int] = {}
        self.inbox_entries: dict[str, list[InboxEntry]] = {}
        self.seen: set[tuple[str, str]] = set()
        self.recalls: dict[tuple[str, str], RecallRecord] = {}
        self.fail_claims: set[str] = set()  # touch ids whose claim another runner "holds"
        self.replan_marks: dict[tuple[str, str], str] = {}

    # -- policy ---------------------------------------------------------------------------------------
    def policy(self, practice_id: str) -> Policy:
        found = self.policies.get(practice_id)
        return found[0] if found else Policy()

    def save_policy(self, practice_id: str, policy: Policy, expected_version: int, by: str, at: datetime) -> Policy:
        current = self.policy(practice_id)
        if current.version != expected_version:
            raise PolicyConflict("the policy was changed meanwhile")
        body = {k: v for k, v in policy.as_dict().items() if k != "version"}
        saved = policy_from_dict(body, version=expected_version + 1)
        history = self.policies.get(practice_id, (saved, []))[1]
        history.insert(0, {"version": saved.version, "changed_by": by, "at": at.isoformat()})
        self.policies[practice_id] = (saved, history)
        return saved

    def policy_history(self, practice_id: str, limit: int = 20) -> list[dict[str, object]]:
        return list(self.policies.get(practice_id, (Policy(), []))[1][:limit])

    # -- touches ----------------------------------------------------------------------------------------
    def touches_with_prefix(self, practice_id: str, prefix: str) -> list[Touch]:
        return [
            copy.deepcopy(t)
            for (p, tid), t in sorted(self.touches.items())
            if p == practice_id and tid.startswith(prefix)
        ]

    def create_touch(self, touch: Touch) -> bool:
        key = (touch.practice_id, touch.id)
        if key in self.touches:
            return False
        self.touches[key] = copy.deepcopy(touch)
        return True

    def create_touches(self, touches: Sequence[Touch]) -> int:
        return sum(self.create_touch(t) for t in touches)

    def cancel_touches(self, touches: Sequence[tuple[Touch, str]]) -> int:
        return sum(self.cancel_touch(t, reason) for t, reason in touches)

    def replan_touch(self, touch: Touch, due: datetime, from_status: str) -> bool:
        stored = self.touches.get((touch.practice_id, touch.id))
        if stored is None or stored.status != from_status:
            return False
        stored.status, stored.due, stored.reason = PENDING, due, ""
        return True

    def cancel_touch(self, touch: Touch, reason: str) -> bool:
        stored = self.touches.get((touch.practice_id, touch.id))
        if stored is None or stored.status != PENDING:
            return False
        stored.status, stored.reason = CANCELLED, reason
        return True

    def due_touches(self, practice_id: str, after: datetime, until: datetime) -> list[Touch]:
        return sorted(
            (
                copy.deepcopy(t)
                for (p, _), t in self.touches.items()
                if p == practice_id and t.status in OPEN_STATES and after < t.due <= until
            ),
            key=lambda t: (t.due, t.id),
        )

    def claim(self, touches: Sequence[Touch], now: datetime, lease_until: datetime) -> list[Touch]:
        claimed = []
        for t in touches:
            stored = self.touches.get((t.practice_id, t.id))
            if stored is None or t.id in self.fail_claims:
                continue
            fresh = stored.status == PENDING and stored.due == t.due
            expired = stored.status == CLAIMED and stored.claimed_until is not None and stored.claimed_until < now
            if not (fresh or expired):
                continue
            stored.status, stored.claimed_until, stored.attempts = CLAIMED, lease_until, stored.attempts + 1
            t.status, t.claimed_until, t.attempts = CLAIMED, lease_until, stored.attempts
            claimed.append(t)
        return claimed

    def mark_replan(self, practice_id: str, appointment_id: str, patient_id: str) -> None:
        self.replan_marks[(practice_id, appointment_id)] = patient_id

    def replans(self, practice_id: str) -> list[tuple[str, str]]:
        return [(a, pid) for (p, a), pid in self.replan_marks.items() if p == practice_id]

    def clear_replan(self, practice_id: str, appointment_id: str) -> None:
        self.replan_marks.pop((practice_id, appointment_id), None)

    def begin_send(self, touch: Touch) -> bool:
        stored = self.touches.get((touch.practice_id, touch.id))
        if stored is None or stored.status != CLAIMED or stored.claimed_until != touch.claimed_until:
            return False
        stored.status = SENDING
        return True

    def begin_sends(self, touches: Sequence[Touch]) -> list[Touch]:
        return [t for t in touches if self.begin_send(t)]

    def finish_many(self, outcomes: Sequence[tuple[Touch, datetime]], zone: str = "UTC") -> list[Touch]:
        return [t for t, lease in outcomes if not self.finish(t, lease, zone)]

    def finish(self, touch: Touch, lease: datetime, zone: str = "UTC") -> bool:
        key = (touch.practice_id, touch.id)
        stored = self.touches.get(key)
        if stored is None or stored.status not in (SENDING, UNKNOWN) or stored.claimed_until != lease:
            return False
        self.touches[key] = copy.deepcopy(touch)
        return True

    def give_up_unknown(self, touch: Touch, reason: str) -> bool:
        stored = self.touches.get((touch.practice_id, touch.id))
        if stored is None or stored.status != SENDING or stored.claimed_until != touch.claimed_until:
            return False
        stored.status, stored.reason = UNKNOWN, reason
        return True

    def record(
        self, practice_id: str, touches: Iterable[Touch], caps: Iterable[tuple[str, str, int]] = (), zone: str = "UTC"
    ) -> None:
        for t in touches:
            self.touches[(t.practice_id, t.id)] = copy.deepcopy(t)
        for patient_id, day, count in caps:
            self.caps[(practice_id, patient_id, day)] = count

    def messages_for_patient(self, practice_id: str, patient_id: str, limit: int = 50) -> list[Touch]:
        found = [t for (p, _), t in self.touches.items() if p == practice_id and t.patient_id == patient_id]
        return [copy.deepcopy(t) for t in sorted(found, key=lambda t: t.due, reverse=True)[:limit]]

    # -- sweep state -----------------------------------------------------------------------------------
    def sweep_state(self, practice_id: str) -> SweepState | None:
        return self.states.get(practice_id)

    def save_sweep_state(self, practice_id: str, old: SweepState | None, new: SweepState) -> bool:
        if self.states.get(practice_id) != old:
            return False
        self.states[practice_id] = new
        return True

    # -- re-reads ---------------------------------------------------------------------------------------
    def snapshot(
        self,
        practice_id: str,
        appointment_ids: Iterable[str],
        patient_ids: Iterable[str],
        caps: Iterable[tuple[str, str]],
        recall_patient_ids: Iterable[str] = (),
        with_practice: bool = False,
        for_sending: bool = False,
    ) -> Snapshot:
        snap = Snapshot()
        if with_practice:
            snap.practice = self.world.practices.get(practice_id)
            snap.policy = self.policy(practice_id)
        for aid in appointment_ids:
            found = self.world.appointments.get((practice_id, aid))
            if found is not None:
                snap.appointments[aid] = copy.deepcopy(found)
        for pid in patient_ids:
            patient = self.world.patients.get((practice_id, pid))
            if patient is not None:
                snap.patients[pid] = patient
            if (practice_id, pid) in self.prefs_by_patient:
                snap.prefs[pid] = self.prefs_by_patient[(practice_id, pid)]
        for pid, day in caps:
            if (practice_id, pid, day) in self.caps:
                snap.caps[(pid, day)] = self.caps[(practice_id, pid, day)]
        for pid in recall_patient_ids:
            if (practice_id, pid) in self.recalls:
                snap.recalls[pid] = self.recalls[(practice_id, pid)]
        return snap

    def addresses(self, practice_id: str, addresses: Iterable[str]) -> dict[str, AddressState]:
        return {a: self.address_states[(practice_id, a)] for a in addresses if (practice_id, a) in self.address_states}

    def address(self, practice_id: str, address: str) -> AddressState:
        return self.address_states.get(
            (practice_id, address), AddressState(address=address, channel=EMAIL if "@" in address else SMS)
        )

    def _change(self, practice_id: str, address: str, **changes: object) -> None:
        self.address_states[(practice_id, address)] = replace(self.address(practice_id, address), **changes)  # type: ignore[arg-type]

    def set_sms_opt_out(self, practice_id: str, number: str, opted_out: bool, word: str, at: datetime) -> None:
        if opted_out:
            self._change(practice_id, number, sms_opt_out=True)
        else:
            self._change(practice_id, number, sms_opt_out=False, sms_blocked=False)

    def set_sms_blocked(self, practice_id: str, number: str, at: datetime) -> None:
        self._change(practice_id, number, sms_blocked=True)

    def suppress_email(self, practice_id: str, email: str, reason: str, at: datetime) -> None:
        self._change(practice_id, email, email_suppressed=True, suppressed_reason=reason)

    def count_soft_bounce(self, practice_id: str, email: str, message_id: str) -> AddressState | None:
        seen = self.soft_messages.setdefault((practice_id, email), set())
        if message_id in seen:
            return None
        seen.add(message_id)
        self._change(practice_id, email, soft_bounces=self.address(practice_id, email).soft_bounces + 1)
        return self.address(practice_id, email)

    def reset_soft_bounces(self, practice_id: str, email: str) -> None:
        if (practice_id, email) in self.address_states:
            self._change(practice_id, email, soft_bounces=0)
            self.soft_messages.pop((practice_id, email), None)

    def clear_email_suppression(self, practice_id: str, email: str) -> None:
        self._change(practice_id, email, email_suppressed=False, suppressed_reason="", soft_bounces=0)
        self.soft_messages.pop((practice_id, email), None)

    def unsubscribe_email(self, practice_id: str, email: str, message_type: str) -> None:
        current = self.address(practice_id, email)
        self._change(practice_id, email, unsubscribed=current.unsubscribed | {message_type})

    def resubscribe_email(self, practice_id: str, email: str, message_type: str) -> None:
        current = self.address(practice_id, email)
        self._change(practice_id, email, unsubscribed=current.unsubscribed - {message_type})

    # -- preferences, inbox, inbound, recall ------------------------------------------------------------
    def prefs(self, practice_id: str, patient_id: str) -> ContactPrefs:
        return self.prefs_by_patient.get((practice_id, patient_id), ContactPrefs())

    def save_prefs(self, practice_id: str, patient_id: str, prefs: ContactPrefs, by: str, at: datetime) -> None:
        self.prefs_by_patient[(practice_id, patient_id)] = prefs

    def add_inbox(self, practice_id: str, entry: InboxEntry) -> None:
        self.inbox_entries.setdefault(practice_id, []).insert(0, entry)

    def inbox(self, practice_id: str, limit: int = 100) -> list[InboxEntry]:
        return list(self.inbox_entries.get(practice_id, [])[:limit])

    def first_sight(self, practice_id: str, message_id: str, at: datetime) -> bool:
        if (practice_id, message_id) in self.seen:
            return False
        self.seen.add((practice_id, message_id))
        return True

    def recall(self, practice_id: str, patient_id: str) -> RecallRecord | None:
        return self.recalls.get((practice_id, patient_id))

    def save_recall(self, practice_id: str, record: RecallRecord) -> None:
        self.recalls[(practice_id, record.patient_id)] = record

    # -- for tests --------------------------------------------------------------------------------------
    def all_touches(self, practice_id: str) -> list[Touch]:
        return [t for (p, _), t in sorted(self.touches.items(), key=lambda kv: kv[1].due) if p == practice_id]


def utc(text: str) -> datetime:
    """'2027-03-13T14:30' (or with Z) as a UTC instant; for tests."""
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def memory_ports(world: World, clock: Clock, key: bytes = b"test-signing-key") -> Ports:
    """Ports over in-memory twins: a store on ``world``, memory senders, a carrier list, a confirmer."""
    from chalicelib.adapters.messaging import MemoryEmailSender, MemorySmsSender

    patients = WorldPatients(world)
    return Ports(
        store=MemoryReminderStore(world),
        practices=world,
        patients=patients,
        appointments=WorldAppointments(world),
        email=MemoryEmailSender(),
        sms=MemorySmsSender(),
        carrier=MemoryCarrier(),
        confirmer=WorldConfirmer(world),
        clock=clock,
        signing_key=lambda: key,
        web_base_url="https://patients.example.test",
        api_base_url="https://api.example.test",
        patient_lister=patients,
        instalments=MemoryInstalments(),
    )
