"""The patient page's X-rays & photos and the share page, as people use them: the showcase patient opens
the gallery, views an image full size and downloads originals (one and several); a guardian switches to a
child's images; a patient shares images with another dentist, who opens the link in a browser of their
own, and then turns the link off. Image URLs that fail (as an expired one would) are fetched again."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.pages import GUARDIAN_EMAIL, PATIENT_EMAIL, PATIENT_PHONE, PATIENT_SESSION_KEY
from tests.e2e.support import VIEWPORTS, OpenPage, RunningStack, http_json, no_horizontal_scroll, shoot
from tests.e2e.test_accessibility import serious_violations

pytestmark = pytest.mark.e2e

KIND_LABELS = {
    "bitewing": "Bitewing x-ray",
    "periapical": "Periapical x-ray",
    "panoramic": "Panoramic x-ray",
    "intraoral_photo": "Intraoral photo",
    "other": "Image",
}


@pytest.fixture(scope="module")
def guardian_session(stack: RunningStack) -> dict[str, Any]:
    answer = stack.patient_sign_in(GUARDIAN_EMAIL)
    return {PATIENT_SESSION_KEY: {"token": answer["token"], "practiceId": stack.practice_id}}


def token_of(session: dict[str, Any]) -> str:
    return str(session[PATIENT_SESSION_KEY]["token"])


def api_get(stack: RunningStack, path: str, session: dict[str, Any]) -> Any:
    status, answer = http_json("GET", f"{stack.api_url}{path}", token=token_of(session))
    assert status == 200, answer
    return answer


def people(stack: RunningStack, session: dict[str, Any]) -> list[dict[str, Any]]:
    return list(api_get(stack, "/patient/me", session)["patients"])


def gallery_of(stack: RunningStack, session: dict[str, Any], patient_id: str) -> list[dict[str, Any]]:
    return list(api_get(stack, f"/patient/images?patient_id={patient_id}", session)["images"])


def self_id(stack: RunningStack, session: dict[str, Any]) -> str:
    return next(str(p["id"]) for p in people(stack, session) if p["relation"] == "self")


def taken_label(day: str) -> str:
    d = datetime.strptime(day, "%Y-%m-%d")
    return f"{d:%B} {d.day}, {d.year}"


def open_gallery(stack: RunningStack, open_page: OpenPage, session: dict[str, Any], viewport: str = "phone") -> Page:
    """From the patient page's home to X-rays & photos through the section link, as a person would."""
    page = open_page(viewport, session_storage=session)
    page.goto(f"{stack.web_url}/patient/")
    page.get_by_role("link", name="X-rays & photos").click()
    expect(page.get_by_role("heading", level=1, name="X-rays & photos")).to_be_focused()
    expect(page.locator(".gallery")).to_have_attribute("aria-busy", "false")
    return page


def loaded(img: Any) -> bool:
    """The image really arrived and decoded (a broken or blocked one has naturalWidth 0)."""
    return bool(img.evaluate("(el) => el.complete && el.naturalWidth > 0"))


def wait_until_loaded(page: Page, selector: str) -> None:
    expect(page.locator(selector).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    for img in page.locator(selector).all():
        expect(img).not_to_have_class(re.compile(r"\bis-loading\b"))
        assert loaded(img), img.get_attribute("alt")


def wait_for_downloads(page: Page, downloads: list[Any], count: int) -> None:
    """Until ``count`` downloads have started (the page spaces a bulk download's files out)."""
    for _ in range(100):
        if len(downloads) >= count:
            return
        page.wait_for_timeout(200)
    assert len(downloads) >= count, f"{len(downloads)} of {count} downloads started"


def test_a_patient_sees_thumbnails_opens_one_full_size_and_downloads_the_dicom_original(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    expected = gallery_of(stack, patient_session, self_id(stack, patient_session))
    assert {i["kind"] for i in expected} >= {"bitewing", "intraoral_photo"}, "the demo gives the patient images"
    page = open_gallery(stack, open_page, patient_session)

    cards = page.locator(".image-card")
    expect(cards).to_have_count(len(expected))
    wait_until_loaded(page, ".image-card img.thumb")
    days = [i["taken_on"] for i in expected]
    assert days == sorted(days, reverse=True), "newest taken first"
    for card, image in zip(cards.all(), expected, strict=True):
        expect(card).to_have_attribute("data-image-id", image["id"])
        expect(card.locator(".image-kind")).to_have_text(KIND_LABELS[image["kind"]])
        expect(card.locator(".image-taken")).to_have_text(f"Taken {taken_label(image['taken_on'])}")
    shoot(page, "patient-images-gallery-phone")

    dicom = next(i for i in expected if i["content_type"] == "application/dicom")
    page.locator(f"#open-{dicom['id']}").click()
    expect(page.get_by_role("heading", level=1, name=KIND_LABELS[dicom["kind"]])).to_be_focused()
    full = page.locator("#full-image")
    expect(full).to_have_attribute("alt", f"{KIND_LABELS[dicom['kind']]}, taken {taken_label(dicom['taken_on'])}")
    expect(full).not_to_have_class(re.compile(r"\bis-loading\b"))
    assert loaded(full), "the full-size preview of the DICOM loaded"
    width, inner = no_horizontal_scroll(page)
    assert width <= inner
    shoot(page, "patient-images-view-phone")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download original (DICOM)").click()
    assert download.value.suggested_filename.endswith(".dcm")
    assert Path(download.value.path()).read_bytes()[128:132] == b"DICM", "the original, still DICOM"
    expect(page.get_by_role("status").filter(has_text="Your download has started.")).to_be_attached()

    page.get_by_role("button", name="All images").click()
    expect(page.locator(f"#open-{dicom['id']}")).to_be_focused()


def test_an_image_url_that_fails_is_fetched_again_rather_than_shown_broken(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    """S3 answers 403 once a signed URL has expired; the first thumbnail and the first full view get that."""
    page = open_page("phone", session_storage=patient_session)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.startswith(stack.api_url) and r.method == "GET" else None)
    refused: set[str] = set()

    def expire_once(route: Route) -> None:
        kind = route.request.url.split("?", 1)[0].rsplit("/", 1)[-1]  # thumb | preview | original
        if kind not in refused:
            refused.add(kind)
            route.fulfill(status=403, content_type="application/xml", body="<Error><Code>AccessDenied</Code></Error>")
        else:
            route.continue_()

    page.route(re.compile(r"/images/[^/]+/[0-9a-f]+/(thumb|preview)\?"), expire_once)
    page.goto(f"{stack.web_url}/patient/#images")
    expect(page.locator(".gallery")).to_have_attribute("aria-busy", "false")
    wait_until_loaded(page, ".image-card img.thumb")
    assert "thumb" in refused
    assert len([u for u in asked if "/patient/images?" in u]) == 2, "the gallery was asked again for fresh URLs"
    expect(page.locator(".thumb-missing")).to_have_count(0)

    page.locator(".image-open").first.click()
    full = page.locator("#full-image")
    expect(full).not_to_have_class(re.compile(r"\bis-loading\b"))
    assert loaded(full)
    assert "preview" in refused
    assert len([u for u in asked if re.search(r"/patient/images/[^/]+/url$", u)]) == 2, "a fresh view URL"


def test_several_originals_download_at_once_and_a_foreign_id_in_the_set_gives_no_file(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any], guardian_session: dict[str, Any]
) -> None:
    page = open_gallery(stack, open_page, patient_session, "desktop")
    ids = [c.get_attribute("data-image-id") for c in page.locator(".image-card").all()]
    page.get_by_role("button", name="Download selected").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose at least one image first.")

    downloads: list[Any] = []
    page.on("download", lambda d: downloads.append(d))  # noqa: PLW0108 - playwright cannot wrap a bound builtin
    for image_id in ids[:2]:
        page.locator(f"#pick-{image_id}").check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    page.get_by_role("button", name="Download selected").click()
    expect(page.get_by_role("heading", name="Your downloads")).to_be_focused()
    expect(page.locator(".download-link")).to_have_count(2)
    wait_for_downloads(page, downloads, 2)
    names = sorted(d.suggested_filename for d in downloads)
    assert names == sorted(page.locator(".download-link").all_inner_texts()), names
    shoot(page, "patient-images-downloads-desktop")

    # An id that is not this patient's (the guardian's child's image) slips into the request: the API
    # answers 404 for the whole set, and the page says so, keeps no half result and starts no file.
    child = next(p for p in people(stack, guardian_session) if gallery_of(stack, guardian_session, p["id"]))
    foreign = gallery_of(stack, guardian_session, child["id"])[0]["id"]

    def add_foreign(route: Route) -> None:
        if route.request.method != "POST":
            return route.continue_()
        body = json.loads(route.request.post_data or "{}")
        return route.continue_(post_data=json.dumps({"ids": [*body["ids"], foreign]}))

    page.route(f"{stack.api_url}/patient/images/download", add_foreign)
    before = len(downloads)
    page.get_by_role("button", name="Done").click()
    page.locator(f"#pick-{ids[0]}").check()
    with page.expect_response(f"{stack.api_url}/patient/images/download") as answer:
        page.get_by_role("button", name="Download selected").click()
    assert answer.value.status == 404
    alert = page.locator("#images-error")
    expect(alert).to_contain_text("One of the images you chose is no longer available")
    expect(alert).to_be_focused()
    expect(page.locator(".download-link")).to_have_count(0)
    expect(page.locator(".image-card input:checked")).to_have_count(0)
    page.wait_for_timeout(1500)  # long enough for a download the page should not have started
    assert len(downloads) == before


def test_a_guardian_picks_each_child_and_sees_only_that_childs_images(
    stack: RunningStack, open_page: OpenPage, guardian_session: dict[str, Any]
) -> None:
    children = [p for p in people(stack, guardian_session) if p["relation"] == "guardian"]
    assert len(children) == 2
    with_images = [c for c in children if gallery_of(stack, guardian_session, c["id"])]
    assert with_images, "the demo gives a child of the showcase guardian images"
    page = open_gallery(stack, open_page, guardian_session, "tablet")
    expect(page.get_by_role("group", name="Whose images?")).to_be_visible()

    expect(page.get_by_role("radio", name=children[0]["name"])).to_be_checked()  # the first person, at first
    for child in (children[1], children[0]):  # to the other child and back
        page.get_by_role("radio", name=child["name"]).click()
        expect(page.get_by_role("heading", level=2, name=child["name"])).to_be_visible()
        expect(page.locator(".gallery")).to_have_attribute("aria-busy", "false")
        expected = [i["id"] for i in gallery_of(stack, guardian_session, child["id"])]
        if expected:
            expect(page.locator(".image-card")).to_have_count(len(expected))
            assert [c.get_attribute("data-image-id") for c in page.locator(".image-card").all()] == expected
            wait_until_loaded(page, ".image-card img.thumb")
            shoot(page, "patient-images-guardian-tablet")
        else:
            expect(page.locator(".image-card")).to_have_count(0)
            expect(page.get_by_text(f"No x-rays or photos for {child['name']} yet.")).to_be_visible()
        expect(page.get_by_role("radio", name=child["name"])).to_be_focused()

    page.get_by_role("button", name=re.compile("Español")).click()  # the section redraws in the new language
    expect(page.get_by_role("heading", level=1, name="Radiografías y fotos")).to_be_visible()
    expect(page.get_by_role("group", name="¿De quién son las imágenes?")).to_be_visible()
    expect(page.locator(".image-card .image-kind").first).to_have_text(re.compile("^Radiografía|^Foto"))


def test_a_patient_shares_images_with_a_dentist_who_opens_the_link_until_it_is_turned_off(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_gallery(stack, open_page, patient_session)
    expected = gallery_of(stack, patient_session, self_id(stack, patient_session))
    shared = expected[:2]
    for image in shared:
        page.locator(f"#pick-{image['id']}").check()
    page.get_by_role("button", name="Share with a dentist").click()
    expect(page.get_by_role("heading", name="Share with another dentist")).to_be_focused()
    page.get_by_role("radio", name="14 days").check()
    page.get_by_label("Note for the dentist (optional)").fill("For Dr. Okafor, second opinion")
    made_at = datetime.now(UTC)
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("heading", name="Your link is ready")).to_be_focused()
    link = page.locator("#made-link").input_value()
    assert link.startswith(f"{stack.web_url}/patient/shared.html#")
    token = link.split("#", 1)[1]
    # 14 days on, in the practice's zone, zone named (the browser itself runs in Chicago).
    until = (made_at + timedelta(days=14)).astimezone(ZoneInfo(stack.demo.zone))
    item = page.locator(".share-item", has_text="For Dr. Okafor, second opinion").first
    expect(item).to_contain_text(f"Works until {until:%A}, {until:%B} {until.day}, {until.year}")
    expect(item).to_contain_text(re.compile(r"\d{1,2}:\d{2} [AP]M E[SD]T"))
    share_id = item.get_attribute("data-share-id")
    shoot(page, "patient-images-shared-link-phone")

    dentist = open_page("phone")  # a browser of their own: no session, nothing shared with the patient's
    dentist.goto(link)
    expect(dentist.get_by_role("heading", level=1, name="Shared x-rays and photos")).to_be_visible()
    expect(dentist.locator(".brand-name")).to_have_text(stack.demo.practice_name)
    facts = dentist.locator(".shared-facts")
    expect(facts).to_contain_text(stack.demo.patient.name)
    expect(facts).to_contain_text("For Dr. Okafor, second opinion")
    expect(dentist.locator(".shared-image")).to_have_count(len(shared))
    shown = [c.get_attribute("data-image-id") for c in dentist.locator(".shared-image").all()]
    assert shown == [i["id"] for i in shared]
    wait_until_loaded(dentist, ".shared-image img")
    text = dentist.locator("main").inner_text()
    for private in (PATIENT_EMAIL, PATIENT_PHONE, "555-0123", "(555) 555-0123"):
        assert private not in text, "the share page shows no contact of the patient"
    dicom = next(i for i in shared if i["content_type"] == "application/dicom")
    with dentist.expect_download() as download:
        dentist.locator(f"#download-{dicom['id']}").click()
    assert Path(download.value.path()).read_bytes()[128:132] == b"DICM"
    width, inner = no_horizontal_scroll(dentist)
    assert width <= inner
    shoot(dentist, "patient-shared-page-phone")

    page.locator(f"#revoke-{share_id}").click()
    expect(page.get_by_text("Turn off this link?")).to_be_visible()
    page.locator(f"#revoke-yes-{share_id}").click()
    expect(page.locator("#images-status")).to_have_text("The link is turned off. It no longer opens.")
    expect(page.locator(f'.share-item[data-share-id="{share_id}"]')).to_have_count(0)
    status, listed = http_json("GET", f"{stack.api_url}/patient/shares", token=token_of(patient_session))
    assert status == 200 and not next(s for s in listed["shares"] if s["id"] == share_id)["open"]

    dentist.reload()
    expect(dentist.get_by_role("heading", level=1, name="This link is no longer available")).to_be_visible()
    expect(dentist.locator("main")).to_contain_text("The patient turned this link off.")
    expect(dentist.locator(".shared-image")).to_have_count(0)
    status, _ = http_json("POST", f"{stack.api_url}/public/shares/open", {"token": token})
    assert status == 410
    shoot(dentist, "patient-shared-page-revoked-phone")


def test_the_share_page_opens_the_link_again_for_fresh_urls_when_an_image_fails(
    stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    images = gallery_of(stack, patient_session, self_id(stack, patient_session))
    status, made = http_json(
        "POST",
        f"{stack.api_url}/patient/shares",
        {"image_ids": [images[0]["id"]], "days": 1},
        token_of(patient_session),
    )
    assert status == 201, made
    page = open_page("phone")
    opens: list[str] = []
    page.on("request", lambda r: opens.append(r.method) if r.url.endswith("/public/shares/open") else None)
    refused: list[str] = []

    def expire_once(route: Route) -> None:
        if not refused:
            refused.append(route.request.url)
            route.fulfill(status=403, content_type="application/xml", body="<Error><Code>AccessDenied</Code></Error>")
        else:
            route.continue_()

    page.route(re.compile(r"/images/[^/]+/[0-9a-f]+/(preview|original)\?"), expire_once)
    page.goto(made["share"]["link"])
    wait_until_loaded(page, ".shared-image img")
    assert refused, "the first image URL was refused, as an expired one is"
    assert opens.count("POST") == 2, "the link was opened again for fresh URLs"
    expect(page.locator(".shared-missing")).to_have_count(0)


def test_the_share_page_says_plainly_when_a_link_has_expired_is_not_valid_or_is_missing(
    stack: RunningStack, open_page: OpenPage
) -> None:
    page = open_page("phone")
    page.goto(f"{stack.web_url}/patient/shared.html#not-a-real-link")
    expect(page.get_by_role("heading", level=1, name="This link is no longer available")).to_be_visible()
    expect(page.locator("main")).to_contain_text("This link isn't valid.")

    page.goto(f"{stack.web_url}/patient/shared.html")
    expect(page.locator("main")).to_contain_text("This address has no share link in it.")

    # An expired link: the stack's clock cannot be moved, so the API's 410 answer is played back.
    expired = {"error": {"code": "link_expired", "message": "this link has expired; ask for a new one"}}
    page.route(
        f"{stack.api_url}/public/shares/open",
        lambda route: (
            route.fulfill(status=410, json=expired, headers={"Access-Control-Allow-Origin": "*"})
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    page.goto(f"{stack.web_url}/patient/shared.html#some-expired-link")
    expect(page.locator("main")).to_contain_text("This link has expired. Ask the patient for a new one")
    page.get_by_role("button", name="Español").click()
    expect(page.get_by_role("heading", level=1, name="Este enlace ya no está disponible")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Este enlace venció.")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_gallery_the_full_view_and_the_share_page_fit_every_screen_without_sideways_scrolling(
    viewport: str, stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_gallery(stack, open_page, patient_session, viewport)
    wait_until_loaded(page, ".image-card img.thumb")
    for image_id in [c.get_attribute("data-image-id") for c in page.locator(".image-card").all()]:
        page.locator(f"#pick-{image_id}").check()
    page.get_by_role("button", name="Share with a dentist").click()
    expect(page.get_by_role("heading", name="Share with another dentist")).to_be_visible()
    width, inner = no_horizontal_scroll(page)
    shoot(page, f"patient-images-{viewport}")
    assert width <= inner, f"the gallery is {width}px wide in a {inner}px {viewport} viewport"

    page.get_by_role("button", name="Create link").click()
    link = page.locator("#made-link").input_value()
    page.locator(".image-open").first.click()
    expect(page.locator("#full-image")).not_to_have_class(re.compile(r"\bis-loading\b"))
    width, inner = no_horizontal_scroll(page)
    shoot(page, f"patient-images-view-{viewport}")
    assert width <= inner, f"the full view is {width}px wide in a {inner}px {viewport} viewport"

    dentist = open_page(viewport)
    dentist.goto(link)
    wait_until_loaded(dentist, ".shared-image img")
    width, inner = no_horizontal_scroll(dentist)
    shoot(dentist, f"patient-shared-page-{viewport}")
    assert width <= inner, f"the share page is {width}px wide in a {inner}px {viewport} viewport"


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_gallery_the_share_form_the_full_view_and_the_share_page_have_no_serious_accessibility_violations(
    lang: str, stack: RunningStack, open_page: OpenPage, patient_session: dict[str, Any]
) -> None:
    page = open_page("phone", session_storage=patient_session)
    page.goto(f"{stack.web_url}/patient/?lang={lang}#images")
    expect(page.locator(".gallery")).to_have_attribute("aria-busy", "false")
    expect(page.locator(".shares")).to_have_attribute("aria-busy", "false")
    wait_until_loaded(page, ".image-card img.thumb")
    assert serious_violations(page) == [], "gallery"

    page.locator(".image-pick input").first.check()
    page.locator("#share-selected").click()
    expect(page.locator("#share-title")).to_be_focused()
    assert serious_violations(page) == [], "share form"
    page.locator("#share-create").click()
    expect(page.locator("#made-title")).to_be_focused()
    link = page.locator("#made-link").input_value()
    page.locator(".share-item button[aria-expanded]").first.click()
    assert serious_violations(page) == [], "link made, turn-off question open"
    shoot(page, f"patient-images-a11y-{lang}-phone")

    page.locator(".image-open").first.click()
    expect(page.locator("#full-image")).not_to_have_class(re.compile(r"\bis-loading\b"))
    assert serious_violations(page) == [], "full view"

    dentist = open_page("phone")
    dentist.goto(f"{link.split('#', 1)[0]}?lang={lang}#{link.split('#', 1)[1]}")
    wait_until_loaded(dentist, ".shared-image img")
    assert serious_violations(dentist) == [], "share page"
    shoot(dentist, f"patient-shared-page-a11y-{lang}-phone")
