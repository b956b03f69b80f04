"""The patient page's contact-preferences and privacy sections, as the demo people use them: a patient changes
a channel and the quiet hours and finds them saved after a reload; a guardian sets a child's preferences; the
demo patient whose number texted STOP is told how to opt back in; a staff member's look at a record shows in
the patient's access log by role and name; the data downloads as a FHIR Bundle and a CSV zip. Three sizes
without sideways scrolling, and no serious accessibility violation."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.pages import GUARDIAN_EMAIL, PATIENT_SESSION_KEY
from tests.e2e.support import VIEWPORTS, OpenPage, RunningStack, http_json, no_horizontal_scroll, shoot
from tests.e2e.test_accessibility import serious_violations

pytestmark = pytest.mark.e2e


def storage(stack: RunningStack, answer: dict[str, Any]) -> dict[str, Any]:
    return {PATIENT_SESSION_KEY: {"token": answer["token"], "practiceId": stack.practice_id}}


def token_of(session: dict[str, Any]) -> str:
    return str(session[PATIENT_SESSION_KEY]["token"])


@pytest.fixture(scope="module")
def guardian_session(stack: RunningStack) -> dict[str, Any]:
    return storage(stack, stack.patient_sign_in(GUARDIAN_EMAIL))


@pytest.fixture(scope="module")
def texts_off_session(stack: RunningStack) -> dict[str, Any]:
    assert stack.demo.texts_off, "the demo loader opts one contact out of texts"
    return storage(stack, stack.patient_sign_in(stack.demo.texts_off.email))


def preferences(stack: RunningStack, session: dict[str, Any], patient_id: str) -> dict[str, Any]:
    status, record = http_json(
        "GET", f"{stack.api_url}/patient/patients/{patient_id}/preferences", token=token_of(session)
    )
    assert status == 200, record
    return dict(record)


def put_preferences(stack: RunningStack, session: dict[str, Any], patient_id: str, body: dict[str, Any]) -> None:
    url = f"{stack.api_url}/patient/patients/{patient_id}/preferences"
    status, answer = http_json("PUT", url, body, token=token_of(session))
    assert status == 200, answer


@pytest.fixture
def showcase_prefs_restored(stack: RunningStack, patient_session: dict[str, Any]) -> Iterator[str]:
    """The showcase patient's id; their preferences are put back after the test (other tests share them)."""
    patient_id = stack.demo.patient.patient_ids[0]
    yield patient_id
    put_preferences(
        stack,
        patient_session,
        patient_id,
        {"channels": {"billing": {"email": True, "sms": True}}, "sending_hours": None, "language": "en"},
    )


def open_section(page: Page, stack: RunningStack, section: str, heading: str) -> None:
    page.goto(f"{stack.web_url}/patient/#{section}")
    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()


# --- contact preferences ------------------------------------------------------------------------------


def test_a_patient_changes_a_channel_and_quiet_hours_and_sees_them_saved_after_a_reload(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any], showcase_prefs_restored: str
) -> None:
    page = open_page("phone", session_storage=patient_session)
    open_section(page, stack, "contact", "Contact preferences")
    expect(page.get_by_role("heading", name="Contact preferences", level=1)).to_be_focused()
    bills = page.get_by_role("group", name="Bills and payments")
    texts = bills.get_by_label("Text message")
    expect(texts).to_be_checked()
    texts.uncheck()
    hours = page.get_by_role("group", name="When messages may arrive")
    hours.get_by_label("From").fill("09:00")
    hours.get_by_label("Until").fill("19:30")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(page.locator("#contact-flash")).to_be_focused()
    shoot(page, "patient-contact-saved-phone")

    page.reload()
    bills = page.get_by_role("group", name="Bills and payments")
    expect(bills.get_by_label("Text message")).not_to_be_checked()
    expect(bills.get_by_label("Email")).to_be_checked()
    hours = page.get_by_role("group", name="When messages may arrive")
    expect(hours.get_by_label("From")).to_have_value("09:00")
    expect(hours.get_by_label("Until")).to_have_value("19:30")
    expect(page.get_by_text("You chose these hours.")).to_be_visible()
    record = preferences(stack, patient_session, showcase_prefs_restored)
    assert record["preferences"]["channels"]["billing"] == {"email": True, "sms": False}
    assert record["sending_hours"] == {"start": "09:00", "end": "19:30"}


def test_hours_the_api_refuses_are_explained_in_words_and_nothing_changes(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any], showcase_prefs_restored: str
) -> None:
    before = preferences(stack, patient_session, showcase_prefs_restored)
    page = open_page("phone", session_storage=patient_session)
    open_section(page, stack, "contact", "Contact preferences")
    hours = page.get_by_role("group", name="When messages may arrive")
    hours.get_by_label("From").fill("09:00")
    hours.get_by_label("Until").fill("10:00")
    page.get_by_role("button", name="Save preferences").click()
    alert = page.locator("#contact-error")
    expect(alert).to_contain_text("Sending hours must span at least two hours.")
    expect(alert).to_be_focused()
    assert preferences(stack, patient_session, showcase_prefs_restored)["sending_hours"] == before["sending_hours"]


def test_a_guardian_sets_a_childs_preferences(
    stack: RunningStack, open_page: OpenPage, guardian_session: dict[str, Any]
) -> None:
    child_ids = list(stack.demo.guardian.patient_ids)
    page = open_page("tablet", session_storage=guardian_session)
    open_section(page, stack, "contact", "Contact preferences")
    picker = page.get_by_role("navigation", name="Whose preferences")
    links = picker.get_by_role("link")
    expect(links).to_have_count(2)
    second = links.nth(1)
    name = second.inner_text()
    second.click()
    first_name = name.split()[0]
    expect(page.get_by_role("heading", name=f"Contact preferences for {first_name}", level=1)).to_be_visible()
    expect(picker.get_by_role("link", name=name)).to_have_attribute("aria-current", "page")
    page.get_by_role("group", name="Feedback surveys").get_by_label("Email").uncheck()
    page.get_by_role("group", name="Language for messages").get_by_label("Spanish (Español)").check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status").filter(has_text=f"contact preferences for {first_name}")).to_be_visible()
    shoot(page, "patient-contact-guardian-tablet")
    chosen = page.evaluate("decodeURIComponent(location.hash.split('/')[1])")
    assert chosen in child_ids
    record = preferences(stack, guardian_session, chosen)
    assert record["language"] == "es"
    assert record["preferences"]["channels"]["feedback"]["email"] is False
    other = next(pid for pid in child_ids if pid != chosen)
    assert preferences(stack, guardian_session, other)["preferences"]["channels"]["feedback"]["email"] is True
    put_preferences(stack, guardian_session, chosen, {"channels": {"feedback": {"email": True}}, "language": None})


def test_a_patient_who_texted_stop_is_told_how_to_opt_back_in_and_texts_stay_off(
    stack: RunningStack, open_page: OpenPage, texts_off_session: dict[str, Any]
) -> None:
    page = open_page("phone", session_storage=texts_off_session)
    open_section(page, stack, "contact", "Contact preferences")
    expect(page.get_by_text("Texts are off: this number replied STOP.")).to_be_visible()
    expect(page.get_by_text("To get texts again, text START to (555) 555-0100 from this phone.")).to_be_visible()
    reminders = page.get_by_role("group", name="Appointment reminders")
    expect(reminders.get_by_label("Text message")).to_be_disabled()
    expect(reminders.get_by_label("Email")).to_be_enabled()
    shoot(page, "patient-contact-texts-off-phone")


# --- the access log -----------------------------------------------------------------------------------


def test_the_access_log_names_the_staff_member_who_viewed_the_record(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    staff = stack.staff_sign_in("front_desk")
    patient_id = stack.demo.patient.patient_ids[0]
    status, card = http_json(
        "GET", f"{stack.api_url}/practices/{stack.practice_id}/patients/{patient_id}", token=staff["id_token"]
    )
    assert status == 200, card
    page = open_page("phone", session_storage=patient_session)
    open_section(page, stack, "privacy", "Privacy")
    entries = page.locator(".access-entry")
    expect(entries.first).to_be_visible()
    staff_view = entries.filter(has_text="Dana Lee (front desk) viewed your record").first
    expect(staff_view).to_be_visible()
    expect(staff_view.locator("time")).to_contain_text(" at ")
    expect(page.get_by_text("You looked at this access log").first).to_be_visible()
    page.get_by_label("Hide my own activity").check()
    expect(entries.filter(has_text="Dana Lee (front desk) viewed your record").first).to_be_visible()
    expect(page.locator(".access-you")).to_have_count(0)
    shoot(page, "patient-privacy-log-phone")


def test_show_more_adds_older_entries_and_moves_focus_to_the_first_new_one(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    patient_id = stack.demo.patient.patient_ids[0]
    for _ in range(14):  # each read of the profile is audited: enough for a second page
        http_json("GET", f"{stack.api_url}/patient/patients/{patient_id}/preferences", token=token_of(patient_session))
        http_json("GET", f"{stack.api_url}/patient/me", token=token_of(patient_session))
    page = open_page("desktop", session_storage=patient_session)
    open_section(page, stack, "privacy", "Privacy")
    entries = page.locator(".access-entry")
    expect(entries).to_have_count(25)
    page.get_by_role("button", name="Show more").click()
    expect(entries.nth(25)).to_be_focused()
    assert entries.count() > 25


# --- the data download --------------------------------------------------------------------------------


def test_the_data_downloads_as_a_fhir_bundle_that_parses_and_as_a_csv_zip(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    from fhir.resources.R4B.bundle import Bundle

    page = open_page("phone", session_storage=patient_session)
    open_section(page, stack, "privacy", "Privacy")
    with page.expect_download() as fhir_download:
        page.get_by_role("button", name="Download for health apps (FHIR, JSON)").click()
    fhir = fhir_download.value
    assert fhir.suggested_filename.endswith(".fhir.json")
    with open(fhir.path(), "rb") as f:
        raw = f.read()
    bundle = Bundle.model_validate_json(raw)
    kinds = {e.resource.get_resource_type() for e in bundle.entry}
    assert {"Organization", "Patient", "Appointment"} <= kinds
    assert json.loads(raw)["type"] == "collection"
    expect(page.get_by_role("status").filter(has_text="Your download has started")).to_be_visible()

    with page.expect_download() as csv_download:
        page.get_by_role("button", name="Download as spreadsheets (CSV, zip)").click()
    zipped = csv_download.value
    assert zipped.suggested_filename.endswith(".csv.zip")
    with zipfile.ZipFile(zipped.path()) as z:
        assert "appointments.csv" in z.namelist()
        rows = list(csv.DictReader(io.StringIO(z.read("appointments.csv").decode("utf-8-sig"))))
    assert rows and all(r["TimeZone"] == stack.demo.zone for r in rows)
    shoot(page, "patient-privacy-downloaded-phone")


# --- every size, and accessibility ----------------------------------------------------------------------


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize(("section", "heading"), [("contact", "Contact preferences"), ("privacy", "Privacy")])
def test_both_sections_fit_every_size_without_sideways_scrolling(
    section: str,
    heading: str,
    viewport: str,
    stack: RunningStack,
    open_page: OpenPage,
    guardian_session: dict[str, Any],
) -> None:
    page = open_page(viewport, session_storage=guardian_session)
    open_section(page, stack, section, heading)
    ready = "form.pref-form" if section == "contact" else ".access-entry"
    expect(page.locator(ready).first).to_be_visible()
    width, inner = no_horizontal_scroll(page)
    assert width <= inner, f"{section} at {viewport}: {width}px wide in a {inner}px window"
    shoot(page, f"patient-{section}-{viewport}")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_both_sections_have_no_serious_accessibility_violations(
    lang: str, stack: RunningStack, open_page: OpenPage, texts_off_session: dict[str, Any]
) -> None:
    page = open_page("phone", session_storage=texts_off_session)
    page.goto(f"{stack.web_url}/patient/?lang={lang}#contact")
    expect(page.locator("form.pref-form")).to_be_visible()
    assert serious_violations(page) == []
    page.goto(f"{stack.web_url}/patient/?lang={lang}#privacy")
    expect(page.locator(".access-entry").first).to_be_visible()
    assert serious_violations(page) == []
    shoot(page, f"patient-privacy-a11y-{lang}-phone")
