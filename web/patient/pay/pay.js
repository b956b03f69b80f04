// The text-to-pay page (/patient/pay/#<token>): what the link is for, the light identity check (the
// patient's date of birth), then the amount and the same card payment panel as the patient page.
//
// The signed token rides in the URL fragment, which browsers never send to a server; it goes to the API
// only in the path of its own calls. Nothing about the patient is shown before the birth date checks out,
// and nothing is stored: the 30-minute pay session lives in this page's memory only.

import { createApi, loadConfig } from "../../common/api.js";
import { busyButton, focusHeading, h, ICONS, icon } from "../../common/dom.js";
import { displayPhone, localeFor, partsInZone, telHref } from "../../common/format.js";
import { createChrome } from "../../practice/chrome.js";
import { balanceWords, createPaymentPanel } from "../card-payment.js";
import { formatCents } from "../money.js";
import { STRINGS } from "./pay-strings.js";

const POLL_MS = 1000;
const POLL_TRIES = 30;

const config = loadConfig();
const api = createApi(config.apiBase);
const main = document.getElementById("main");
const token = readToken();
const view = {
  render: () => {},
  practice: null, // {name, phone, zone}
  link: null, // GET /pay/{token}
  verified: null, // POST /pay/{token}/verify
  dob: { month: "", day: "", year: "" },
  notice: "",
  panel: null,
  panelLang: "",
};
const chrome = createChrome(STRINGS, config.lang, () => view.render());
const t = chrome.t;
const lang = () => chrome.state.lang;

function readToken() {
  const raw = (window.location.hash || "").replace(/^#/, "");
  try {
    return decodeURIComponent(raw).trim();
  } catch {
    return "";
  }
}

const linkPath = (suffix = "") => `/pay/${encodeURIComponent(token)}${suffix}`;
const sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));

function errorText(err) {
  const code = err && err.code ? String(err.code) : "";
  const status = err && typeof err.status === "number" ? err.status : -1;
  if (code && chrome.state.t.has(`errors.${code}`)) return t(`errors.${code}`);
  if (chrome.state.t.has(`errors.status_${status}`)) return t(`errors.status_${status}`);
  return t("errors.generic");
}

function draw(content, focusTarget) {
  view.render = () => {
    const node = content();
    main.replaceChildren(node);
    return node;
  };
  const node = view.render();
  main.setAttribute("aria-busy", "false");
  const heading = focusTarget || node.querySelector("h1");
  if (heading) focusHeading(heading);
}

function callButton(phone) {
  if (!phone) return "";
  return h("a", { class: "btn btn-primary tel-link", href: telHref(phone) }, icon(ICONS.phone), t("closed.call", { phone: displayPhone(phone) }));
}

// --- the link's state -------------------------------------------------------------------------------

async function practiceFromConfig() {
  if (view.practice || !config.practiceId) return;
  try {
    const p = await api.get(`/public/practices/${encodeURIComponent(config.practiceId)}`);
    view.practice = { name: p.name, phone: p.phone, zone: p.zone };
    chrome.setPracticeName(p.name);
  } catch {
    // No practice to name: the page still says what happened.
  }
}

function showClosed(kind) {
  draw(() => {
    const p = view.practice;
    const title = t(`closed.${kind}Title`);
    let body;
    if (kind === "expired") body = p && p.name ? t("closed.expiredBody", { practice: p.name }) : t("closed.expiredBodyPlain");
    else body = t(`closed.${kind}Body`);
    return h(
      "section",
      { class: "card stack pay-closed", dataset: { state: kind } },
      h("h1", { id: "pay-page-title" }, title),
      h("p", null, body),
      callButton(p && p.phone),
    );
  });
}

function showProblem(err, retry) {
  draw(() =>
    h(
      "section",
      { class: "card stack", dataset: { state: "error" } },
      h("h1", null, t("pageTitle")),
      h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, errorText(err))),
      h("button", { class: "btn btn-secondary", type: "button", onclick: retry }, t("retry")),
    ),
  );
}

function closedKind(err) {
  return err.code === "link_paid" ? "paid" : "expired";
}

function practiceFromError(err) {
  const given = err && err.details && err.details.practice;
  if (given && typeof given === "object") {
    view.practice = { ...(view.practice || {}), name: String(given.name || ""), phone: String(given.phone || "") };
    chrome.setPracticeName(view.practice.name);
  }
}

async function start() {
  chrome.draw();
  if (!token) {
    await practiceFromConfig();
    return showClosed("invalid");
  }
  try {
    const info = await api.get(linkPath());
    view.link = info;
    view.practice = info.practice || null;
    chrome.setPracticeName(view.practice ? view.practice.name : "");
    if (info.status === "paid") return showClosed("paid");
    if (info.status !== "open") return showClosed("expired");
    showCheck();
  } catch (err) {
    if (err.status === 410) {
      practiceFromError(err);
      if (!view.practice) await practiceFromConfig();
      return showClosed(closedKind(err));
    }
    if (err.status === 404) {
      await practiceFromConfig();
      return showClosed("invalid");
    }
    showProblem(err, start);
  }
}

// --- the identity check -------------------------------------------------------------------------------

function monthNames() {
  const fmt = new Intl.DateTimeFormat(localeFor(lang()), { month: "long", timeZone: "UTC" });
  return Array.from({ length: 12 }, (_, i) => fmt.format(new Date(Date.UTC(2000, i, 1))));
}

/** The typed date as YYYY-MM-DD, or an error key. Calendar checks only; the API compares it. */
function birthDate() {
  const { month, day, year } = view.dob;
  if (!/^\d{1,2}$/.test(month) || !/^\d{1,2}$/.test(day.trim()) || !/^\d{4}$/.test(year.trim())) return { error: "check.incomplete" };
  const y = Number(year.trim());
  const m = Number(month);
  const d = Number(day.trim());
  const probe = new Date(Date.UTC(y, m - 1, d));
  if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== m - 1 || probe.getUTCDate() !== d || y < 1900) return { error: "check.notADate" };
  const iso = `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
  if (iso > new Date().toISOString().slice(0, 10)) return { error: "check.future" };
  return { iso };
}

function showCheck() {
  let failure = view.notice ? { text: view.notice } : null;
  view.notice = "";
  const content = () => {
    const p = view.practice;
    const error = h("div", { class: "form-error", id: "dob-error", role: "alert", tabindex: "-1" });
    if (failure) error.append(icon(ICONS.alert), h("span", null, failure.text || errorText(failure.err)));
    const invalid = failure ? "true" : null;
    const month = h(
      "select",
      {
        id: "dob-month",
        name: "bday-month",
        autocomplete: "bday-month",
        aria: { describedby: "dob-error", invalid },
        onchange: (e) => {
          view.dob.month = e.currentTarget.value;
        },
      },
      h("option", { value: "" }, t("check.chooseMonth")),
      monthNames().map((name, i) => h("option", { value: String(i + 1), selected: view.dob.month === String(i + 1) }, name)),
    );
    const day = h("input", {
      id: "dob-day",
      name: "bday-day",
      type: "text",
      inputmode: "numeric",
      autocomplete: "bday-day",
      maxlength: "2",
      aria: { describedby: "dob-error", invalid },
      oninput: (e) => {
        view.dob.day = e.currentTarget.value;
      },
    });
    day.value = view.dob.day;
    const year = h("input", {
      id: "dob-year",
      name: "bday-year",
      type: "text",
      inputmode: "numeric",
      autocomplete: "bday-year",
      maxlength: "4",
      aria: { describedby: "dob-error", invalid },
      oninput: (e) => {
        view.dob.year = e.currentTarget.value;
      },
    });
    year.value = view.dob.year;
    const submit = h("button", { class: "btn btn-primary btn-block", type: "submit", id: "dob-submit" }, t("check.submit"));
    const form = h(
      "form",
      { novalidate: true, aria: { labelledby: "pay-page-title" } },
      h(
        "fieldset",
        { class: "dob-fields" },
        h("legend", null, t("check.legend")),
        h(
          "div",
          { class: "dob-row" },
          h("div", { class: "field dob-month" }, h("label", { for: "dob-month" }, t("check.month")), month),
          h("div", { class: "field dob-day" }, h("label", { for: "dob-day" }, t("check.day")), day),
          h("div", { class: "field dob-year" }, h("label", { for: "dob-year" }, t("check.year")), year),
        ),
      ),
      error,
      submit,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const typed = birthDate();
      if (typed.error) {
        failure = { text: t(typed.error) };
        view.render();
        document.getElementById(view.dob.month ? "dob-day" : "dob-month").focus();
        return;
      }
      const restore = busyButton(submit, t("check.checking"));
      try {
        view.verified = await api.post(linkPath("/verify"), { birth_date: typed.iso });
        if (view.verified.practice) view.practice = { ...view.practice, ...view.verified.practice };
        showVerified();
      } catch (err) {
        restore();
        if (err.status === 410) {
          practiceFromError(err);
          return showClosed(closedKind(err));
        }
        failure = { err };
        view.render();
        focusHeading(document.getElementById("dob-error"));
      }
    });
    const expires = view.link && Number.isSafeInteger(view.link.expires_at) ? partsInZone(new Date(view.link.expires_at * 1000).toISOString(), p && p.zone, lang()) : null;
    return h(
      "section",
      { class: "card stack", dataset: { state: "check" }, aria: { labelledby: "pay-page-title" } },
      h("h1", { id: "pay-page-title" }, p && p.name ? t("check.title", { practice: p.name }) : t("check.titlePlain")),
      h("p", { class: "lede" }, t("check.lede")),
      form,
      expires ? h("p", { class: "hint" }, t("check.expires", { date: expires.dateLong })) : "",
    );
  };
  draw(content);
}

// --- paying ---------------------------------------------------------------------------------------------

function showVerified() {
  const v = view.verified;
  const p = view.practice || {};
  const currency = v.currency || "usd";
  let balance = v.balance || {};
  view.panel = createPaymentPanel({
    lang: lang(),
    currency,
    practiceName: p.name || "",
    phone: p.phone || "",
    publishableKey: v.publishable_key,
    api,
    totalCents: v.amount_cents,
    // A link for part of the balance (an amount staff chose, a plan instalment): its whole is "the amount asked".
    asked: Number.isSafeInteger(v.amount_cents) && v.amount_cents < (balance.owed_now_cents || 0),
    headingLevel: "h2",
    start: (amount) => api.post(linkPath("/payments"), { session: v.session, amount }),
    onPaid: async () => {
      const before = balance;
      for (let n = 0; n < POLL_TRIES; n += 1) {
        await sleep(POLL_MS);
        let fresh;
        try {
          fresh = await api.post(linkPath("/balance"), { session: v.session });
        } catch (err) {
          if (err.status === 401) return null;
          continue;
        }
        const now = fresh && fresh.balance;
        if (now && (now.owed_now_cents < before.owed_now_cents || now.total_cents < before.total_cents)) {
          balance = now;
          view.render();
          return (language) => balanceWords(now, currency, language).text;
        }
      }
      return null;
    },
    onUnauthorized: (err) => {
      if (err.code !== "identity_check_required") return false;
      view.verified = null;
      view.panel = null;
      view.notice = t("errors.identity_check_required");
      showCheck();
      return true;
    },
  });
  view.panelLang = lang();
  const content = () => {
    if (view.panel && view.panelLang !== lang()) {
      view.panelLang = lang();
      view.panel.setLanguage(lang());
    }
    const words = balanceWords(balance, currency, lang());
    const partial = Number.isSafeInteger(v.amount_cents) && v.amount_cents > 0 && v.amount_cents < balance.owed_now_cents;
    return h(
      "div",
      { class: "stack" },
      h(
        "section",
        { class: "card balance-card", dataset: { state: "verified" }, aria: { labelledby: "pay-page-title" } },
        h("h1", { id: "pay-page-title" }, t("verified.title", { practice: p.name || "" })),
        v.patient && v.patient.given_name ? h("p", null, t("verified.hello", { name: v.patient.given_name })) : "",
        h("p", { class: "balance-words", id: "balance-words" }, words.text),
        words.hint ? h("p", { class: "hint" }, words.hint) : "",
        partial ? h("p", { class: "pay-amount" }, t("verified.linkFor", { amount: formatCents(v.amount_cents, currency, lang()) })) : "",
      ),
      v.amount_cents > 0 ? view.panel.root : "",
    );
  };
  draw(content);
}

// The skip link would replace the fragment, which holds the token: move focus instead.
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

start();
