"""The patient page's billing section and the text-to-pay page, in Chromium against the local stack, paying
through localstripe (its Stripe.js stand-in in the page, its signed webhook into the local API).

Demo balances (local/stripe_local.py): the showcase adult owes $65.00 now (in a plan of two instalments)
with $120.00 waiting on insurance; the guardian's children owe $95.00 (Sam) and $48.50 (Riley). Tests that
pay read the balance from the API first and expect it to move by what they paid, so they hold in any order.
"""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chalicelib.billing.model import display_cents
from tests.e2e.pages import GUARDIAN_EMAIL, PATIENT_EMAIL, PATIENT_SESSION_KEY, session_token, sign_in_patient
from tests.e2e.support import OpenPage, RunningStack, http_json, no_horizontal_scroll, shoot
from tests.e2e.test_accessibility import serious_violations

pytestmark = pytest.mark.e2e

CARD_OK = "4242424242424242"
# Stripe's generic decline test card 4000 0000 0000 0002 is declined by localstripe only when it is attached
# to a customer; confirming a PaymentIntent with it succeeds there. 4000 0000 0000 0341 is the card localstripe
# declines when it is charged (Stripe: attaches, then the charge fails), which is what a payment meets.
CARD_DECLINED = "4000000000000341"
CARD_HOST = "#pay-card"
WEBHOOK_SECONDS = 45  # the page polls until localstripe's webhook has paid the ledger

CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


# --- helpers ------------------------------------------------------------------------------------------


def watch_csp(page: Page) -> list[str]:
    """Collect CSP violations (the event and the console's report) for the page's life."""
    seen: list[str] = []
    page.add_init_script(CSP_WATCH)
    page.on("console", lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None)
    return seen


def csp_violations(page: Page, console: list[str]) -> list[str]:
    return [*page.evaluate("window.__cspViolations || []"), *console]


def billing(stack: RunningStack, token: str) -> dict[str, Any]:
    status, body = http_json("GET", f"{stack.api_url}/patient/billing", token=token)
    assert status == 200, body
    return dict(body)


def words(balance: dict[str, Any], name: str = "") -> str:
    """The page's sentence for a balance (yours, or a named person's), from the API's integer cents."""
    owed, pending, credit = balance["owed_now_cents"], balance["pending_insurance_cents"], balance["credit_cents"]
    if owed > 0:
        text = f"{name} owes {display_cents(owed)} now." if name else f"You owe {display_cents(owed)} now."
    elif credit > 0:
        text = (
            f"{name} has a credit of {display_cents(credit)}."
            if name
            else f"You have a credit of {display_cents(credit)}."
        )
    else:
        text = f"{name} owes nothing now." if name else "You owe nothing now."
    if pending > 0:
        text += f" {display_cents(pending)} is waiting on your insurance."
    return text


def open_billing(page: Page, stack: RunningStack, lang: str = "") -> None:
    page.goto(f"{stack.web_url}/patient/{'?lang=' + lang if lang else ''}#billing")
    expect(page.locator("#billing")).to_have_attribute("aria-busy", "false")
    expect(page.locator(".ledger-line").first).to_be_visible()


def fill_card(page: Page, number: str) -> None:
    """localstripe's stand-in draws plain inputs named by their placeholders (Stripe's own is an iframe)."""
    host = page.locator(CARD_HOST)
    expect(host.get_by_placeholder("number")).to_be_visible()
    host.get_by_placeholder("number").fill(number)
    host.get_by_placeholder("exp_month").fill("12")
    host.get_by_placeholder("exp_year").fill("30")
    host.get_by_placeholder("cvc").fill("123")
    host.get_by_placeholder("postal_code").fill("12345")


def staff_token(stack: RunningStack) -> str:
    return str(stack.staff_sign_in()["id_token"])


def send_pay_link(stack: RunningStack, patient_id: str, amount: str = "") -> str:
    """What the front desk does: text a pay link (for the balance, or ``amount``); the URL as the guardian's
    phone received it (the outbox)."""
    token = staff_token(stack)
    before = stack.outbox_ids()
    path = f"/practices/{stack.practice_id}/patients/{patient_id}/pay-links"
    body = {"channel": "sms", "amount": amount} if amount else {"channel": "sms"}
    status, sent = http_json("POST", f"{stack.api_url}{path}", body, token=token)
    assert status == 201, sent
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for message in stack.outbox():
            found = re.search(r"https?://\S+/patient/pay/#\S+", message["body"])
            if message["id"] not in before and found and found.group(0) == sent["url"]:
                return found.group(0)
        time.sleep(0.2)
    raise AssertionError("the pay link never reached the outbox")


def birth_date(stack: RunningStack, patient_id: str) -> date:
    status, card = http_json(
        "GET", f"{stack.api_url}/practices/{stack.practice_id}/patients/{patient_id}", token=staff_token(stack)
    )
    assert status == 200, card
    return date.fromisoformat(card["birth_date"])


def enter_birth_date(page: Page, day: date) -> None:
    page.get_by_label("Month").select_option(str(day.month))
    page.get_by_label("Day").fill(str(day.day))
    page.get_by_label("Year").fill(str(day.year))
    page.get_by_role("button", name="Continue").click()


# --- the billing section -------------------------------------------------------------------------------


def test_a_patient_sees_the_balance_in_words_opens_a_statement_and_pays_part_of_it_by_card(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("phone")
    console = watch_csp(page)
    sign_in_patient(page, stack, PATIENT_EMAIL)
    token = session_token(page, PATIENT_SESSION_KEY)
    assert token
    before = billing(stack, token)
    assert before["family"]["owed_now_cents"] >= 2000 and before["family"]["pending_insurance_cents"] > 0

    page.get_by_role("link", name="Billing").click()
    expect(page.get_by_role("heading", level=1, name="Billing")).to_be_focused()
    expect(page.locator("#balance-words")).to_have_text(words(before["family"]))
    expect(page.locator(".ledger-line").first).to_be_visible()
    lines = page.locator(".ledger-line")
    expect(lines.filter(has_text="Crown, first visit")).to_have_count(1)
    expect(lines.filter(has_text="Insurance estimate")).to_have_count(1)
    shoot(page, "patient-billing-phone")

    month = before["statements"][0]
    status, statement = http_json("GET", f"{stack.api_url}/patient/statements/{month}", token=token)
    assert status == 200, statement
    label = f"{date.fromisoformat(month + '-01'):%B %Y}"
    page.get_by_role("link", name=label).click()
    expect(page.get_by_role("heading", level=1, name=f"Statement for {label}")).to_be_focused()
    expect(page.locator("#statement-due")).to_have_text(display_cents(statement["amount_due_cents"]))
    expect(page.locator(".statement-lines tbody tr")).to_have_count(len(statement["lines"]))
    expect(page.locator(".statement-lines")).to_contain_text("Crown, first visit")
    with page.expect_download() as saved:
        page.get_by_role("button", name="Save a copy").click()
    assert saved.value.suggested_filename == f"statement-{month}.html"
    copy = Path(saved.value.path()).read_text()
    assert "Amount due" in copy and "@media print" in copy
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.locator(".statement-lines")).to_be_visible()
    shoot(page, "patient-statement-print")
    page.emulate_media(media="screen")
    page.get_by_role("link", name="Back to billing").click()
    expect(page.locator("#balance-words")).to_have_text(words(before["family"]))

    page.get_by_role("button", name="Pay now").click()
    expect(page.get_by_role("heading", name="Pay online")).to_be_focused()
    page.get_by_role("radio", name="Another amount").check()
    amount = page.get_by_label("Amount", exact=True)
    for typed, said in (("0", "greater than zero"), ("10.005", "whole cents"), ("-5", "greater than zero")):
        amount.fill(typed)
        page.get_by_role("button", name="Continue to card details").click()
        expect(page.locator("#pay-error")).to_contain_text(said)
    amount.fill("20.00")
    page.get_by_role("button", name="Continue to card details").click()
    expect(page.get_by_role("heading", name="Card details")).to_be_focused()
    fill_card(page, CARD_OK)
    shoot(page, "patient-billing-card-phone")
    page.get_by_role("button", name="Pay $20.00").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    expect(page.locator("#pay-paid")).to_have_text("We received your payment of $20.00.")

    after = dict(before["family"], owed_now_cents=before["family"]["owed_now_cents"] - 2000)
    expect(page.locator("#pay-after")).to_have_text(f"Your balance now: {words(after)}", timeout=WEBHOOK_SECONDS * 1000)
    expect(page.locator("#balance-words")).to_have_text(words(after))
    expect(page.locator(".ledger-payment").first).to_contain_text("Card payment, thank you")
    assert billing(stack, token)["family"]["owed_now_cents"] == after["owed_now_cents"]
    shoot(page, "patient-billing-paid-phone")
    assert csp_violations(page, console) == []


def test_a_declined_card_says_so_and_leaves_the_balance_as_it_was(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    token = patient_session[PATIENT_SESSION_KEY]["token"]
    before = billing(stack, token)["family"]
    page = open_page("tablet", session_storage=patient_session)
    console = watch_csp(page)
    open_billing(page, stack)
    page.get_by_role("button", name="Pay now").click()
    page.get_by_role("button", name="Continue to card details").click()
    fill_card(page, CARD_DECLINED)
    page.get_by_role("button", name=f"Pay {display_cents(before['owed_now_cents'])}").click()
    error = page.locator("#pay-card-error")
    expect(error).to_contain_text("Your card was declined. Nothing was charged.")
    expect(page.get_by_role("button", name=f"Pay {display_cents(before['owed_now_cents'])}")).to_be_enabled()
    shoot(page, "patient-billing-declined-tablet")
    assert billing(stack, token)["family"] == before
    page.reload()
    expect(page.locator("#balance-words")).to_have_text(words(before))
    assert csp_violations(page, console) == []


def test_a_card_that_asks_for_3d_secure_is_finished_in_stripes_own_step(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    token = patient_session[PATIENT_SESSION_KEY]["token"]
    before = billing(stack, token)["family"]
    page = open_page("desktop", session_storage=patient_session)
    open_billing(page, stack)
    page.get_by_role("button", name="Pay now").click()
    page.get_by_role("radio", name="Another amount").check()
    page.get_by_label("Amount", exact=True).fill("5.00")
    page.get_by_role("button", name="Continue to card details").click()
    fill_card(page, "4000002500003155")  # Stripe's (and localstripe's) "authentication required" card
    page.get_by_role("button", name="Pay $5.00").click()
    page.get_by_role("button", name="Complete authentication").click()  # localstripe's stand-in for the bank's page
    expect(page.locator("#pay-paid")).to_have_text("We received your payment of $5.00.")
    after = dict(before, owed_now_cents=before["owed_now_cents"] - 500)
    expect(page.locator("#pay-after")).to_have_text(f"Your balance now: {words(after)}", timeout=WEBHOOK_SECONDS * 1000)


def test_a_guardian_sees_each_childs_account_and_the_familys_balance(stack: RunningStack, open_page: OpenPage) -> None:
    answer = stack.patient_sign_in(GUARDIAN_EMAIL)
    session = {PATIENT_SESSION_KEY: {"token": answer["token"], "practiceId": stack.practice_id}}
    overview = billing(stack, answer["token"])
    page = open_page("desktop", session_storage=session)
    open_billing(page, stack)
    expect(page.locator("#balance-words")).to_have_text(words(overview["family"]))
    accounts = page.locator("section.account")
    expect(accounts).to_have_count(len(overview["patients"]))
    for account in overview["patients"]:
        card = page.locator(f'section.account[data-patient-id="{account["patient_id"]}"]')
        expect(card.get_by_role("heading", level=2)).to_have_text(account["name"])
        expect(card.locator(".account-words")).to_have_text(words(account["balance"], account["name"]))
    shoot(page, "patient-billing-guardian-desktop")
    page.get_by_role("button", name="Language: Español").click()
    expect(page.get_by_role("heading", level=1, name="Pagos y saldo")).to_be_visible()
    expect(page.get_by_role("link", name="Pagos")).to_have_attribute("aria-current", "page")
    expect(page.locator("#balance-words")).to_contain_text("Usted debe")
    expect(page.locator(".statement-link").first).to_have_text(re.compile(r"^[a-z]+ de \d{4}$"))  # "marzo de 2027"


# --- text to pay ---------------------------------------------------------------------------------------


def test_a_texted_pay_link_asks_the_birth_date_refuses_a_wrong_one_and_pays(
    stack: RunningStack, open_page: OpenPage
) -> None:
    child = stack.demo.guardian.patient_ids[0]  # Sam, $95.00
    url = send_pay_link(stack, child)
    born = birth_date(stack, child)
    page = open_page("phone")
    console = watch_csp(page)
    page.goto(url)
    expect(page.get_by_role("heading", level=1, name=re.compile(r"^Pay your balance at "))).to_be_focused()
    shoot(page, "pay-link-check-phone")

    enter_birth_date(page, born.replace(year=born.year - 1))
    expect(page.locator("#dob-error")).to_have_text(
        "That date of birth doesn't match our records. Check it and try again."
    )

    enter_birth_date(page, born)
    expect(page.get_by_role("heading", level=1, name=re.compile(r"^Your balance at "))).to_be_focused()
    owed = page.locator("#balance-words").inner_text()
    found = re.match(r"^You owe (\$[\d,]+\.\d\d) now\.", owed)
    assert found, owed
    expect(page.get_by_role("radio", name=f"The full balance: {found.group(1)}")).to_be_checked()
    page.get_by_role("button", name="Continue to card details").click()
    fill_card(page, CARD_OK)
    page.get_by_role("button", name=f"Pay {found.group(1)}").click()
    expect(page.locator("#pay-paid")).to_have_text(f"We received your payment of {found.group(1)}.")
    expect(page.locator("#pay-after")).to_have_text(
        "Your balance now: You owe nothing now.", timeout=WEBHOOK_SECONDS * 1000
    )
    shoot(page, "pay-link-paid-phone")
    assert csp_violations(page, console) == []

    page.reload()
    expect(page.get_by_role("heading", level=1, name="This balance has been paid")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Call \(555\) 555-"))).to_be_visible()


def test_a_pay_link_for_part_of_the_balance_offers_the_amount_asked_not_the_full_balance(
    stack: RunningStack, open_page: OpenPage
) -> None:
    child = stack.demo.guardian.patient_ids[1]  # Riley, $48.50 (not paid here)
    url = send_pay_link(stack, child, amount="10.00")
    page = open_page("phone")
    page.goto(url)
    enter_birth_date(page, birth_date(stack, child))
    expect(page.get_by_role("heading", level=1, name=re.compile(r"^Your balance at "))).to_be_focused()
    expect(page.locator(".pay-amount")).to_have_text("This link is for $10.00.")
    expect(page.get_by_role("radio", name="The amount asked: $10.00")).to_be_checked()
    expect(page.get_by_text("The full balance")).to_have_count(0)
    page.get_by_role("radio", name="Another amount").check()
    page.get_by_label("Amount", exact=True).fill("20.00")
    page.get_by_role("button", name="Continue to card details").click()
    expect(page.locator("#pay-error")).to_contain_text("That's more than this link asks for. Enter at most $10.00.")
    page.get_by_role("button", name="Español").click()
    expect(page.get_by_role("radio", name=re.compile(r"^La cantidad solicitada: "))).to_be_visible()
    expect(page.get_by_text("El saldo completo")).to_have_count(0)


def test_a_bad_pay_link_says_so_kindly_and_gives_the_practices_phone(stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("phone")
    page.goto(f"{stack.web_url}/patient/pay/#not-a-real-link")
    expect(page.get_by_role("heading", level=1, name="This payment link isn't working")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Call \(555\) 555-"))).to_be_visible()
    page.goto(f"{stack.web_url}/patient/pay/")
    expect(page.get_by_role("heading", level=1, name="This payment link isn't working")).to_be_visible()


# --- layout and accessibility ----------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", ["phone", "tablet", "desktop"])
def test_the_billing_section_statement_and_pay_page_never_scroll_sideways(
    viewport: str, stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_page(viewport, session_storage=patient_session)
    open_billing(page, stack)
    width, inner = no_horizontal_scroll(page)
    assert width <= inner, f"billing at {viewport}: {width} > {inner}"
    page.get_by_role("button", name="Pay now").click()
    page.get_by_role("button", name="Continue to card details").click()
    expect(page.locator(CARD_HOST).get_by_placeholder("number")).to_be_visible()
    width, inner = no_horizontal_scroll(page)
    assert width <= inner, f"card step at {viewport}: {width} > {inner}"
    shoot(page, f"patient-billing-card-{viewport}")
    page.locator(".statement-link").first.click()
    expect(page.locator("#statement")).to_have_attribute("aria-busy", "false")
    width, inner = no_horizontal_scroll(page)
    assert width <= inner, f"statement at {viewport}: {width} > {inner}"
    shoot(page, f"patient-statement-{viewport}")
    page.goto(f"{stack.web_url}/patient/pay/#not-a-real-link")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    width, inner = no_horizontal_scroll(page)
    assert width <= inner, f"pay page at {viewport}: {width} > {inner}"


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_billing_section_has_no_serious_accessibility_violations(
    lang: str, stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_page("phone", session_storage=patient_session)
    open_billing(page, stack, lang)
    assert serious_violations(page) == [], "overview"
    page.locator("#billing-pay-open").click()
    page.locator("#pay-choice-other").check()
    page.locator("#pay-continue").click()  # the empty-amount error state
    expect(page.locator("#pay-error")).not_to_be_empty()
    assert serious_violations(page) == [], "amount step"
    page.locator("#pay-other").fill("5.00")
    page.locator("#pay-continue").click()
    expect(page.locator(CARD_HOST).get_by_placeholder("number")).to_be_visible()
    assert serious_violations(page, exclude=(CARD_HOST,)) == [], "card step"
    shoot(page, f"patient-billing-a11y-{lang}-phone")
    page.locator(".statement-link").first.click()
    expect(page.locator("#statement")).to_have_attribute("aria-busy", "false")
    assert serious_violations(page) == [], "statement"


def test_the_pay_page_has_no_serious_accessibility_violations(stack: RunningStack, open_page: OpenPage) -> None:
    child = stack.demo.guardian.patient_ids[1]  # Riley, $48.50 (not paid here)
    url = send_pay_link(stack, child)
    page = open_page("phone")
    page.goto(url)
    expect(page.get_by_role("heading", level=1, name=re.compile(r"^Pay your balance at "))).to_be_visible()
    assert serious_violations(page) == [], "birth date step"
    page.get_by_role("button", name="Continue").click()  # nothing entered: the error state
    expect(page.locator("#dob-error")).not_to_be_empty()
    assert serious_violations(page) == [], "birth date error"
    enter_birth_date(page, birth_date(stack, child))
    expect(page.get_by_role("heading", level=1, name=re.compile(r"^Your balance at "))).to_be_visible()
    assert serious_violations(page) == [], "amount step"
    page.get_by_role("button", name="Continue to card details").click()
    expect(page.locator(CARD_HOST).get_by_placeholder("number")).to_be_visible()
    assert serious_violations(page, exclude=(CARD_HOST,)) == [], "card step"
    shoot(page, "pay-link-card-phone")


def test_money_is_formatted_from_integer_cents_exactly_and_anything_else_is_refused(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("desktop")
    page.goto(f"{stack.web_url}/outbox/")
    shown = page.evaluate(
        """async () => {
            const m = await import('/patient/money.js');
            return [
                m.formatCents(4210, 'usd', 'en'), m.formatCents(-57, 'usd', 'en'), m.formatCents(123456, 'usd', 'es'),
                m.formatCents(9007199254740991, 'usd', 'en'), m.formatCents(1.5, 'usd', 'en'),
                m.formatCents('100', 'usd', 'en'), m.minorUnitsText(5, 2), m.minorUnitsText(1234, 0),
            ];
        }"""
    )
    assert shown == ["$42.10", "-$0.57", "$1,234.56", "$90,071,992,547,409.91", "", "", "0.05", "1234"]
