// The page a share link opens (/patient/shared.html#<token>), for the dentist a patient sent it to.
// No sign-in: it shows the practice, the shared images (previews, and the originals to download)
// while the link is open, and says plainly when the link has expired or the patient turned it off.
//
// The token rides in the fragment, so it never reaches a server log or a Referer header; the page sends
// it only in the body of POST /public/shares/open, which audits every open. The page shows what that
// answer holds (the practice, the patient's name, the note and the images) and nothing else.
// Image URLs live a few minutes; an image that fails to load, or a download asked for after its URL
// has lapsed, opens the link again for fresh ones (and learns so if it has been turned off meanwhile).

import { createApi, friendlyError, loadConfig } from "../common/api.js";
import { focusHeading, h, ICONS, icon } from "../common/dom.js";
import { displayPhone, telHref } from "../common/format.js";
import { createChrome } from "../practice/chrome.js";
import { DICOM, expiryMs, imagesTranslator, instantLabel, kindLabel, spent, startDownload, takenLabel } from "./images-common.js";
import { STRINGS } from "./images-strings.js";

const MAX_TIMER_MS = 2147483647; // setTimeout's ceiling (about 24.8 days)
const ENDED = new Set(["link_revoked", "link_expired", "invalid_link"]);

const config = loadConfig();
const api = createApi(config.apiBase);
const main = document.getElementById("main");
const view = {
  render: () => {},
  data: null, // the open answer, plus expiresAt (ms) of its URLs
  practice: null, // kept after the link ends, to say whom to call
  fromRetry: false, // these URLs were fetched because earlier ones failed
  reopening: false,
  missing: new Set(), // image ids that failed even with fresh URLs
  timer: 0,
  seq: 0,
};
const chrome = createChrome({ en: STRINGS.en.shared, es: STRINGS.es.shared }, config.lang, () => view.render());
const tr = () => imagesTranslator(chrome.state.lang);

function token() {
  return (window.location.hash || "").replace(/^#/, "").trim();
}

/** Put a view in the page and focus its heading; with keepFocus (a quiet refresh) focus stays put. */
function draw(content, heading, options = {}) {
  const had = document.activeElement && document.activeElement.id;
  main.replaceChildren(content);
  main.setAttribute("aria-busy", "false");
  const skip = document.querySelector(".skip-link");
  if (skip) skip.textContent = tr()("skip");
  if (options.keepFocus) {
    // A quiet refresh (fresh URLs): focus and scroll stay where the person left them.
    const again = had ? document.getElementById(had) : null;
    if (again) again.focus({ preventScroll: true });
    return;
  }
  focusHeading(heading);
}

function callLine(t, practice) {
  if (!practice || !practice.phone) return "";
  return h(
    "p",
    { class: "shared-call" },
    icon(ICONS.phone),
    h("a", { href: telHref(practice.phone) }, t("shared.call", { practice: practice.name, phone: displayPhone(practice.phone) })),
  );
}

function showLoading() {
  view.render = () => {
    const t = tr();
    main.setAttribute("aria-busy", "true");
    main.replaceChildren(h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), t("shared.loading")));
  };
  view.render();
}

function showEnded(code) {
  window.clearTimeout(view.timer);
  view.data = null;
  view.render = (options = {}) => {
    const t = tr();
    const heading = h("h1", { id: "shared-title" }, t("shared.endedTitle"));
    draw(
      h(
        "section",
        { class: "card stack shared-ended", dataset: { state: code } },
        h("div", { class: "empty-icon", aria: { hidden: "true" } }, icon(ICONS.alert)),
        heading,
        h("p", { role: "status" }, t(`shared.${code}`)),
        callLine(t, view.practice),
      ),
      heading,
      options,
    );
  };
  view.render();
}

function showProblem(err) {
  view.render = () => {
    const t = tr();
    const heading = h("h1", { id: "shared-title" }, t("shared.title"));
    draw(
      h(
        "section",
        { class: "card stack" },
        heading,
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, friendlyError(err, t, t.lang))),
        h("button", { class: "btn btn-secondary", type: "button", onclick: () => open() }, t("shared.retry")),
      ),
      heading,
    );
  };
  view.render();
}

function showImages(options = {}) {
  view.render = (again = {}) => {
    const d = view.data;
    if (!d) return;
    const t = tr();
    const lang = chrome.state.lang;
    const practice = d.practice || {};
    const heading = h("h1", { id: "shared-title" }, t("shared.title"));
    const facts = [];
    if (d.patient && d.patient.name) facts.push([t("shared.patient"), d.patient.name]);
    if (d.note) facts.push([t("shared.note"), d.note]);
    const list = Array.isArray(d.images) ? d.images : [];
    draw(
      h(
        "div",
        { class: "stack" },
        h(
          "section",
          { class: "card shared-card", aria: { labelledby: "shared-title" } },
          heading,
          practice.name ? h("p", { class: "lede" }, t("shared.from", { practice: practice.name })) : "",
          facts.length ? h("dl", { class: "shared-facts" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])) : "",
          h("p", { class: "zone-note hint" }, icon(ICONS.clock), h("span", null, t("shared.until", { until: instantLabel(d.link_expires_at, practice.zone, lang) }))),
          h("p", { class: "hint" }, t("shared.audited")),
          callLine(t, practice),
        ),
        list.length
          ? h("ul", { class: "shared-list", aria: { label: t("shared.listLabel") } }, list.map((image) => imageCard(t, lang, image)))
          : h("p", { class: "card muted" }, t("shared.noImages")),
      ),
      heading,
      { ...options, ...again },
    );
  };
  view.render();
}

function imageCard(t, lang, image) {
  const kind = kindLabel(t, image);
  const taken = takenLabel(image, lang);
  let picture;
  if (view.missing.has(image.id) || !image.view_url) {
    picture = missingPicture(t);
  } else {
    picture = h("img", {
      class: "full-image",
      src: image.view_url,
      alt: t("images.viewAlt", { kind, date: taken }),
      width: image.width > 0 ? String(image.width) : null,
      height: image.height > 0 ? String(image.height) : null,
    });
    picture.addEventListener("error", () => imageFailed(image.id, picture));
  }
  const dicom = image.content_type === DICOM;
  return h(
    "li",
    { class: "card shared-image", dataset: { imageId: image.id } },
    h("figure", null, picture, h("figcaption", null, h("span", { class: "image-kind" }, kind), h("span", { class: "image-taken" }, t("images.taken", { date: taken })))),
    image.download_url
      ? h(
          "a",
          {
            class: "btn btn-primary",
            id: `download-${image.id}`,
            href: image.download_url,
            rel: "noopener noreferrer",
            onclick: (e) => {
              if (!view.data || !spent(view.data.expiresAt)) return;
              e.preventDefault(); // this URL has lived its few minutes: open the link again for a fresh one
              downloadFresh(image.id);
            },
          },
          icon(ICONS.download),
          dicom ? t("shared.downloadDicom") : t("shared.download"),
        )
      : "",
  );
}

function missingPicture(t) {
  return h(
    "div",
    { class: "shared-missing" },
    h("p", null, t("shared.imageFailed")),
    h("button", { class: "btn btn-secondary", type: "button", onclick: () => open({ quiet: true, retryMissing: true }) }, t("shared.retry")),
  );
}

/** An image did not load: its URL may have lapsed. Fresh URLs once; if they fail too, say so. */
function imageFailed(imageId, img) {
  if (!view.data || !img.isConnected) return;
  if (view.fromRetry && !spent(view.data.expiresAt)) {
    view.missing.add(imageId);
    img.replaceWith(missingPicture(tr()));
    return;
  }
  if (view.reopening) return;
  open({ quiet: true, fromRetry: true });
}

async function downloadFresh(imageId) {
  const data = await open({ quiet: true });
  const found = data && (data.images || []).find((i) => i.id === imageId);
  if (found && found.download_url) startDownload(found.download_url);
}

function scheduleEnd(iso) {
  window.clearTimeout(view.timer);
  const left = expiryMs(iso) - Date.now();
  if (left > 0 && left < MAX_TIMER_MS) view.timer = window.setTimeout(() => showEnded("link_expired"), left);
}

/** POST the token; the answer (with expiresAt) or null. Every call is an audited open. */
async function open(options = {}) {
  const mine = ++view.seq;
  const value = token();
  if (!value) {
    showEnded("missing");
    return null;
  }
  if (!options.quiet) showLoading();
  view.reopening = true;
  try {
    const data = await api.post("/public/shares/open", { token: value });
    if (mine !== view.seq) return null;
    view.reopening = false;
    view.data = { ...data, expiresAt: expiryMs(data && data.expires_at) };
    view.practice = data && data.practice ? data.practice : view.practice;
    view.fromRetry = Boolean(options.fromRetry || options.retryMissing);
    if (options.retryMissing) view.missing.clear();
    chrome.setPracticeName(view.practice ? view.practice.name : "");
    scheduleEnd(data && data.link_expires_at);
    showImages({ keepFocus: Boolean(options.quiet) });
    return view.data;
  } catch (err) {
    if (mine !== view.seq) return null;
    view.reopening = false;
    if (ENDED.has(err.code)) showEnded(err.code);
    else if (err.status === 410) showEnded("link_expired");
    else if (err.status === 404) showEnded("invalid_link");
    else showProblem(err);
    return null;
  }
}

// Back on the page after a while: the URLs have lapsed, so fetch fresh ones (and learn if the link ended).
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && view.data && spent(view.data.expiresAt) && !view.reopening) open({ quiet: true });
});

window.addEventListener("hashchange", () => {
  view.missing.clear();
  open();
});

chrome.draw();
open();
