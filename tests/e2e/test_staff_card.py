"""The patient card's actions on the staff dashboard: images, ledger and contact preferences, each shown
only to the roles the API lets do it."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.pages import STAFF_SESSION_KEY, session_token, sign_in_staff
from tests.e2e.support import OpenPage, RunningStack, http_json, no_horizontal_scroll, shoot
from tests.e2e.test_accessibility import serious_violations
from tests.e2e.test_patient_billing import (
    CARD_OK,
    WEBHOOK_SECONDS,
    birth_date,
    enter_birth_date,
    fill_card,
    send_pay_link,
)

pytestmark = pytest.mark.e2e


def _api(stack: RunningStack, token: str, method: str, path: str, body: Any = None) -> Any:
    status, answer = http_json(method, f"{stack.api_url}/practices/{stack.practice_id}{path}", body, token=token)
    assert status < 300, (status, answer)
    return answer


def _patients(stack: RunningStack, token: str) -> list[str]:
    """Demo patients from the next weeks' day sheets who are none of the showcase contacts' patients (other
    tests read the showcase balances, so these tests never change them)."""
    showcase = set(stack.demo.patient.patient_ids) | set(stack.demo.guardian.patient_ids)
    start = date.fromisoformat(_api(stack, token, "GET", "/day")["date"])
    found: list[str] = []
    for n in range(1, 15):
        for appt in _api(stack, token, "GET", f"/day?date={(start + timedelta(days=n)).isoformat()}")["appointments"]:
            patient = appt.get("patient") or {}
            if patient.get("id") and patient["id"] not in showcase and patient["id"] not in found:
                found.append(patient["id"])
        if len(found) >= 8:
            return found
    raise AssertionError("the demo practice has too few booked patients in the next two weeks")


def _open_card(page: Page, stack: RunningStack, role: str, index: int) -> tuple[str, str]:
    """Sign in as ``role`` and open the card of a demo patient; (the staff token, the patient's id)."""
    sign_in_staff(page, stack, role)
    token = session_token(page, STAFF_SESSION_KEY)
    assert token
    patient_id = _patients(stack, token)[index]
    page.goto(f"{stack.web_url}/staff/#patients/{patient_id}")
    expect(page.get_by_role("heading", name="Appointments")).to_be_visible()
    return token, patient_id


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 180, 160)).save(out, format="PNG")
    return out.getvalue()


def test_a_clinical_user_uploads_a_photo_from_the_card_and_sees_it_there(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("desktop")
    token, patient_id = _open_card(page, stack, "clinical", 0)
    images = page.locator("section[aria-labelledby='card-images']")
    before = len(_api(stack, token, "GET", f"/patients/{patient_id}/images")["images"])

    page.get_by_label("File").set_input_files({"name": "smile.png", "mimeType": "image/png", "buffer": _png()})
    page.get_by_label("Kind").select_option("intraoral_photo")
    page.get_by_role("button", name="Upload").click()

    expect(images.get_by_role("status")).to_contain_text("Intraoral photo from")
    expect(images.get_by_role("status")).to_contain_text("added and ready")
    expect(images.locator("li.card-tile")).to_have_count(before + 1)
    tile = images.locator("li.card-tile[data-status='ready']").filter(has_text="Intraoral photo").first
    expect(tile.locator("img.card-thumb")).to_be_visible()
    tile.get_by_role("button", name="View").click()
    expect(page.get_by_role("heading", level=3, name="Intraoral photo, taken")).to_be_focused()
    expect(page.locator("img.image-full")).to_be_visible()
    after = _api(stack, token, "GET", f"/patients/{patient_id}/images")["images"]
    assert len(after) == before + 1 and {"ready"} >= {i["status"] for i in after if i["kind"] == "intraoral_photo"}


def test_a_file_that_is_not_an_image_is_refused_on_the_card_before_anything_is_uploaded(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("phone")
    token, patient_id = _open_card(page, stack, "clinical", 1)
    before = len(_api(stack, token, "GET", f"/patients/{patient_id}/images")["images"])
    page.get_by_label("File").set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"})
    page.get_by_role("button", name="Upload").click()
    images = page.locator("section[aria-labelledby='card-images']")
    expect(images.get_by_role("status")).to_have_text(
        "notes.txt is not a JPEG, PNG or DICOM file (.jpg, .png, .dcm). Nothing was uploaded."
    )
    expect(page.get_by_label("File")).to_have_attribute("aria-invalid", "true")
    assert len(_api(stack, token, "GET", f"/patients/{patient_id}/images")["images"]) == before


def test_the_front_desk_posts_a_payment_on_the_card_and_the_balance_changes(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("desktop")
    token, patient_id = _open_card(page, stack, "front_desk", 2)
    ledger = page.locator("section[aria-labelledby='card-ledger']")
    start = _api(stack, token, "GET", f"/patients/{patient_id}/ledger")["balance"]["total_cents"]
    expect(ledger.locator(".balance")).to_have_text(f"Balance {_dollars(start)}")

    ledger.get_by_text("Post a ledger line").click()
    form = ledger.locator("#line-action")
    form.get_by_label("Type").select_option("charge")
    form.get_by_label("Amount in dollars").fill("80.00")
    form.get_by_label("Description (optional)").fill("Exam")
    form.get_by_role("button", name="Post line").click()
    expect(ledger.get_by_role("status")).to_have_text(
        f"Posted: Charge of $80.00. Balance now {_dollars(start + 8000)}."
    )

    form.get_by_label("Type").select_option("payment")
    form.get_by_label("Amount in dollars").fill("25.50")
    form.get_by_role("button", name="Post line").click()
    expect(ledger.locator(".balance")).to_have_text(f"Balance {_dollars(start + 8000 - 2550)}")
    expect(ledger.get_by_role("status")).to_have_text(
        f"Posted: Payment of $25.50. Balance now {_dollars(start + 8000 - 2550)}."
    )
    # Lines of one day come in the ledger's own order, so the test looks for the line, not its place.
    expect(ledger.locator("li.ledger-line[data-kind='payment']").filter(has_text="$25.50")).to_have_count(1)
    after = _api(stack, token, "GET", f"/patients/{patient_id}/ledger")
    assert after["balance"]["total_cents"] == start + 8000 - 2550
    assert [x["amount_cents"] for x in after["lines"] if x["kind"] == "payment"] == [2550]


def test_a_typed_amount_that_is_not_dollars_and_cents_is_refused_and_nothing_is_posted(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("phone")
    token, patient_id = _open_card(page, stack, "front_desk", 3)
    lines = len(_api(stack, token, "GET", f"/patients/{patient_id}/ledger")["lines"])
    ledger = page.locator("section[aria-labelledby='card-ledger']")
    ledger.get_by_text("Post a ledger line").click()
    form = ledger.locator("#line-action")
    form.get_by_label("Type").select_option("payment")
    for typed, words in (
        ("12.345", "Type dollars and cents, for example 19.99."),
        ("-5", "Only an adjustment can be negative."),
    ):
        form.get_by_label("Amount in dollars").fill(typed)
        form.get_by_role("button", name="Post line").click()
        expect(ledger.get_by_role("status")).to_have_text(words)
        expect(form.get_by_label("Amount in dollars")).to_have_attribute("aria-invalid", "true")
    assert len(_api(stack, token, "GET", f"/patients/{patient_id}/ledger")["lines"]) == lines


def test_the_front_desk_texts_a_pay_link_from_the_card(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("desktop")
    token, patient_id = _open_card(page, stack, "front_desk", 4)
    _api(stack, token, "POST", f"/patients/{patient_id}/ledger", {"kind": "charge", "amount": "42.00"})
    ledger = page.locator("section[aria-labelledby='card-ledger']")
    before = stack.outbox_ids()
    ledger.get_by_text("Send a pay link").click()
    form = ledger.locator("#paylink-action")
    form.get_by_label("Send by").select_option("sms")
    form.get_by_label("Amount in dollars (optional)").fill("10")
    form.get_by_role("button", name="Send pay link").click()
    expect(ledger.get_by_role("status")).to_contain_text("Pay link for $10.00 sent by text message to")
    sent = [m for m in stack.outbox() if str(m["id"]) not in before]
    assert any("/pay/" in m["body"] for m in sent), sent


def test_each_role_sees_only_the_card_actions_it_may_take(stack: RunningStack, open_page: OpenPage) -> None:
    clinical = open_page("desktop")
    _open_card(clinical, stack, "clinical", 5)
    expect(clinical.get_by_role("heading", name="Add an x-ray or photo")).to_be_visible()
    ledger = clinical.locator("section[aria-labelledby='card-ledger']")
    expect(ledger).to_contain_text("Your role does not show this section.")
    expect(clinical.get_by_text("Post a ledger line")).to_have_count(0)
    expect(clinical.get_by_text("Send a pay link")).to_have_count(0)
    expect(clinical.get_by_role("button", name="Save preferences")).to_be_visible()

    desk = open_page("desktop")
    _open_card(desk, stack, "front_desk", 5)
    expect(desk.get_by_text("Post a ledger line")).to_be_visible()
    expect(desk.get_by_role("heading", name="Add an x-ray or photo")).to_have_count(0)
    expect(desk.locator("section[aria-labelledby='card-images']")).to_contain_text(
        "Your role does not show this section."
    )
    expect(desk.locator("details.refund")).to_have_count(0)


def test_staff_change_a_patients_contact_preferences_and_see_each_address_state(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("desktop")
    token, patient_id = _open_card(page, stack, "front_desk", 5)
    contacts = page.locator("section[aria-labelledby='card-contacts']")
    expect(contacts.locator("li.contact-address").first).to_be_visible()
    expect(contacts.locator(".contact-state").first).to_be_visible()
    box = page.get_by_label("Feedback surveys: Email")
    box.uncheck()
    page.get_by_role("button", name="Save preferences").click()
    expect(contacts.get_by_role("status")).to_have_text("Contact preferences saved.")
    record = _api(stack, token, "GET", f"/patients/{patient_id}/contact")
    assert record["preferences"]["channels"]["feedback"]["email"] is False
    expect(page.get_by_label("Feedback surveys: Email")).not_to_be_checked()
    page.get_by_label("Feedback surveys: Email").check()
    with page.expect_response(lambda r: r.url.endswith("/preferences") and r.request.method == "PUT"):
        page.get_by_role("button", name="Save preferences").click()
    expect(contacts.get_by_role("status")).to_have_text("Contact preferences saved.")
    assert _api(stack, token, "GET", f"/patients/{patient_id}/contact")["preferences"]["channels"]["feedback"]["email"]


def test_the_card_with_every_action_open_has_no_serious_accessibility_violations(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("desktop")
    _open_card(page, stack, "owner", 0)
    expect(page.locator("section[aria-labelledby='card-ledger'] .balance")).to_be_visible()
    expect(page.get_by_role("button", name="Save preferences")).to_be_visible()
    for summary in ("Post a ledger line", "Send a pay link", "Make a payment plan"):
        page.get_by_text(summary).click()
    shoot(page, "staff-card-owner-desktop")
    assert serious_violations(page) == []


def _dollars(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def test_the_card_says_plainly_when_texts_are_opted_out_and_email_is_suppressed_or_unsubscribed(
    stack: RunningStack, open_page: OpenPage
) -> None:
    """The record is the API's own answer with its states changed in flight (the local stack has no carrier or
    SES to opt a number out); saving then sends only the boxes staff changed, so an unsubscribe stays put."""
    page = open_page("desktop")
    sign_in_staff(page, stack, "front_desk")
    token = session_token(page, STAFF_SESSION_KEY)
    assert token
    patient_id = _patients(stack, token)[3]

    def states(route: Any) -> None:
        record = route.fetch().json()
        record["addresses"] = [
            {"address": "+15555550142", "channel": "sms", "relation": "self", "status": "opted_out",
             "opt_in_help": "To get texts again, text START to (555) 555-0100."},
            {"address": "pat.c@example.test", "channel": "email", "relation": "self", "status": "suppressed",
             "email_suppressed": True, "suppressed_reason": "bounce_permanent_5.1.1", "soft_bounces": 0,
             "unsubscribed": ["recall"]},
        ]  # fmt: skip
        record["preferences"]["channels"]["recall"] = {"email": True, "sms": True}
        route.fulfill(json=record)

    page.route(f"**/practices/{stack.practice_id}/patients/{patient_id}/contact", states)
    page.goto(f"{stack.web_url}/staff/#patients/{patient_id}")
    contacts = page.locator("section[aria-labelledby='card-contacts']")
    sms = contacts.locator("li.contact-address[data-channel='sms']")
    expect(sms).to_contain_text("(555) 555-0142")
    expect(sms).to_contain_text("Texted STOP: no texts go to this number.")
    expect(sms).to_contain_text("only the patient can, by texting START")
    email = contacts.locator("li.contact-address[data-channel='email']")
    expect(email).to_contain_text(
        "Email suppressed (the address does not exist, 5.1.1): nothing is emailed to this address."
    )
    expect(email).to_contain_text("Unsubscribed from: Recall (check-up due).")
    expect(page.get_by_label("Recall (check-up due): Email")).not_to_be_checked()
    expect(page.get_by_label("Recall (check-up due): Text")).to_be_checked()

    page.get_by_label("Billing: Text").uncheck()
    with page.expect_request(lambda r: r.url.endswith("/preferences") and r.method == "PUT") as sent:
        page.get_by_role("button", name="Save preferences").click()
    assert sent.value.post_data_json["channels"] == {"billing": {"sms": False}}
    expect(contacts.get_by_role("status")).to_have_text("Contact preferences saved.")
    _api(stack, token, "PUT", f"/patients/{patient_id}/preferences", {"channels": {"billing": {"sms": True}}})


def test_an_owner_refunds_part_of_a_card_payment_from_the_card_and_the_front_desk_cannot(
    stack: RunningStack, open_page: OpenPage
) -> None:
    desk_token = str(stack.staff_sign_in()["id_token"])
    patient_id = _patients(stack, desk_token)[6]
    owed = _api(stack, desk_token, "GET", f"/patients/{patient_id}/ledger")["balance"]["total_cents"]
    _api(stack, desk_token, "POST", f"/patients/{patient_id}/ledger", {"kind": "charge", "amount": _plain(6000 - owed)})
    patient = open_page("phone")  # the patient pays $60.00 by the texted link
    patient.goto(send_pay_link(stack, patient_id))
    enter_birth_date(patient, birth_date(stack, patient_id))
    patient.get_by_role("button", name="Continue to card details").click()
    fill_card(patient, CARD_OK)
    patient.get_by_role("button", name="Pay $60.00").click()
    expect(patient.locator("#pay-after")).to_have_text(
        "Your balance now: You owe nothing now.", timeout=WEBHOOK_SECONDS * 1000
    )

    desk = open_page("desktop")
    _open_card(desk, stack, "front_desk", 6)
    card_line = desk.locator("li.ledger-line[data-kind='payment']").filter(has_text="(card)")
    expect(card_line).to_contain_text("$60.00")
    expect(desk.locator("details.refund")).to_have_count(0)

    page = open_page("desktop")
    _open_card(page, stack, "owner", 6)
    ledger = page.locator("section[aria-labelledby='card-ledger']")
    expect(ledger.locator(".balance")).to_have_text("Balance $0.00")
    refund = ledger.locator("details.refund > summary")
    expect(refund).to_have_accessible_name(re.compile(r"^Refund \$60\.00 card payment of "))
    refund.click()
    ledger.locator("details.refund").get_by_label("Amount in dollars (optional)").fill("20")
    ledger.locator("details.refund").get_by_role("button", name="Refund").click()
    expect(ledger.get_by_role("status")).to_have_text("Refunded $20.00. $40.00 can still be refunded on this payment.")
    expect(ledger.locator(".balance")).to_have_text("Balance $20.00")
    expect(ledger.locator("li.ledger-line[data-kind='payment']").first).to_contain_text("$20.00 refunded")
    after = _api(stack, desk_token, "GET", f"/patients/{patient_id}/ledger")
    assert after["balance"]["total_cents"] == 2000
    assert [x["amount_cents"] for x in after["lines"] if x["kind"] == "refund"] == [2000]


def _plain(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def test_a_payment_plan_made_on_a_phone_shows_instalments_that_add_up_and_nothing_scrolls_sideways(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("phone")
    token, patient_id = _open_card(page, stack, "front_desk", 7)
    _api(stack, token, "POST", f"/patients/{patient_id}/ledger", {"kind": "charge", "amount": "150.00"})
    page.reload()
    ledger = page.locator("section[aria-labelledby='card-ledger']")
    expect(ledger.locator(".balance")).to_be_visible()
    for summary in ("Post a ledger line", "Send a pay link", "Make a payment plan"):
        ledger.get_by_text(summary).click()
    form = ledger.locator("#plan-action")
    form.get_by_label("Number of instalments").fill("3")
    form.get_by_label("Amount in dollars (optional)").fill("100")
    form.get_by_role("button", name="Make plan").click()
    expect(ledger.get_by_role("status")).to_have_text("Payment plan made: 3 instalments, $100.00 in all.")
    table = ledger.locator("table.plan-table").first
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tfoot")).to_contain_text("$100.00")
    plans = _api(stack, token, "GET", f"/patients/{patient_id}/payment-plans")["plans"]
    assert [i["amount_cents"] for i in plans[0]["instalments"]] == [3333, 3333, 3334]
    width, inner = no_horizontal_scroll(page)
    assert width <= inner, (width, inner)
    shoot(page, "staff-card-plan-phone")

    page.get_by_role("button", name="Language: Español").click()
    expect(page.get_by_role("heading", name="Agregar una radiografía o foto")).to_have_count(0)
    expect(page.get_by_text("Anotar un movimiento")).to_be_visible()
    expect(page.locator("table.plan-table caption").first).to_contain_text("Plan de")
    width, inner = no_horizontal_scroll(page)
    assert width <= inner, (width, inner)
