from __future__ import annotations

from datetime import UTC, datetime

from chalice.test import Client

from chalicelib.appointments.store import appointment_item
from chalicelib.patients.store import PatientStore
from chalicelib.platform.deps import Deps
from chalicelib.practices.store import (
    PracticeStore,
    appointment_type_item,
    operatory_item,
    provider_item,
)
from tests import factories
from tests.integration.conftest import StaffTokens


def test_the_day_sheet_lists_a_local_days_visits_in_order_with_names(
    api: Client, staff: StaffTokens, app_deps: Deps
) -> None:
    PracticeStore().put(factories.maple())
    provider_item("P1", factories.provider()).save()
    operatory_item("P1", factories.operatory()).save()
    appointment_type_item("P1", factories.cleaning()).save()
    PatientStore().put("P1", factories.patient("PAT-A"))
    # 23:30 EDT on the 15th is the 16th in UTC: it belongs to the 15th's sheet.
    late = datetime(2027, 3, 16, 3, 30, tzinfo=UTC)
    early = datetime(2027, 3, 15, 13, 30, tzinfo=UTC)
    for aid, start in (("A-late", late), ("A-early", early)):
        appointment_item("P1", "America/New_York", factories.appointment(aid, "PAT-A", start)).save()

    sheet = api.http.get("/practices/P1/day?date=2027-03-15", headers=staff.headers("P1", "front_desk")).json_body

    assert [a["id"] for a in sheet["appointments"]] == ["A-early", "A-late"]
    first = sheet["appointments"][0]
    assert first["provider"] == {"id": "DR1", "name": "Dr. DR1"}
    assert first["operatory"] == {"id": "OP2", "name": "OP2"}
    assert first["type"] == {"id": "CLEAN", "name": "Cleaning"}
    assert first["patient"]["name"] == "Ava TestA"
    assert first["local_label"] == "Monday, March 15, 2027 at 9:30 AM EDT"


def test_a_malformed_date_is_a_422_not_a_500(api: Client, staff: StaffTokens, app_deps: Deps) -> None:
    PracticeStore().put(factories.maple())
    response = api.http.get("/practices/P1/day?date=2027-02-30", headers=staff.headers("P1"))
    assert response.status_code == 422
    assert response.json_body["error"]["code"] == "invalid_date"
