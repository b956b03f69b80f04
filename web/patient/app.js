// The patient page: sign in with a one-time code, then see, confirm, cancel, reschedule and book your
// and your family's visits, ask for an earlier time, and add them to a calendar.
//
// The session token lives in sessionStorage (gone when the tab closes) and goes out only as
// "Authorization: Bearer <token>". Nothing about the patient is ever written to the console.

import { createApi, friendlyError, loadConfig, store } from "../common/api.js";
import { busyButton, focusHeading, h, ICONS, icon, pickLanguage, translator } from "../common/dom.js";
import { addDays, dayLabel, displayPhone, hoursRows, isIsoDay, partsInZone, telHref, todayIn, zoneName } from "../common/format.js";
import { HOME, currentSection, loaderFor, sectionArgument, sectionNav } from "./sections.js";
import { STRINGS } from "./strings.js";

const SESSION_KEY = "chairside.patient.session";
const LANG_KEY = "chairside.patient.lang";
const RESEND_SECONDS = 30;
const SUPPORTED = Object.keys(STRINGS);

const config = loadConfig();
const arrival = readArrival();
const el = {
  main: document.getElementById("main"),
  practiceName: document.getElementById("practice-name"),
  appName: document.getElementById("app-name"),
  brandMark: document.getElementById("brand-mark"),
  actions: document.getElementById("topbar-actions"),
  footer: document.getElementById("footer"),
};

const savedLang = store.read(LANG_KEY);
const state = {
  lang: pickLanguage(SUPPORTED, config.lang, savedLang && savedLang.lang, navigator.language),
  langChosen: Boolean(config.lang || (savedLang && savedLang.chosen)),
  t: null,
  practice: null,
  contact: "",
  resendAt: 0,
  render: null, // re-draws the current view (after a language change)
  timers: [],
  booking: null, // the practice's bookable types and policy (public), once loaded
};
state.t = translator(STRINGS, state.lang);

const api = createApi(config.apiBase, { token: () => (currentSession() || {}).token || null });

// --- arriving from a message ------------------------------------------------------------------

/**
 * A message's link: "#link=<signed token>" (older messages: "?link=<token>"), and "book=1" (in either)
 * for "book again". Read once, then taken out of the address bar so the token is not left in history
 * or handed on; the practice and language stay.
 */
function readArrival() {
  const query = new URLSearchParams(window.location.search);
  const hash = window.location.hash.startsWith("#") ? window.location.hash.slice(1) : "";
  const fragment = new URLSearchParams(hash.includes("=") ? hash : "");
  const token = (fragment.get("link") || query.get("link") || "").trim();
  const book = Boolean(fragment.get("book") || query.get("book"));
  if (query.has("link") || query.has("book") || fragment.has("link") || fragment.has("book")) {
    query.delete("link");
    query.delete("book");
    const search = query.toString();
    window.history.replaceState(null, "", window.location.pathname + (search ? `?${search}` : ""));
  }
  return { token: /^[A-Za-z0-9._~-]{1,2000}$/.test(token) ? token : token ? "invalid" : "", book };
}

// --- session ---------------------------------------------------------------------------------

function currentSession() {
  const s = store.read(SESSION_KEY);
  if (!s || !s.token || s.practiceId !== config.practiceId) return null;
  return s;
}

function saveSession(answer) {
  store.write(SESSION_KEY, { token: answer.token, practiceId: config.practiceId });
}

function dropSession() {
  store.remove(SESSION_KEY);
}

/** A 401 on any signed-in call: back to sign-in, saying why. */
function sessionEnded() {
  dropSession();
  showContact({ notice: state.t("session.expired") });
}

// --- chrome ----------------------------------------------------------------------------------

function setLanguage(lang, chosen) {
  state.lang = pickLanguage(SUPPORTED, lang);
  state.t = translator(STRINGS, state.lang);
  if (chosen) state.langChosen = true;
  store.write(LANG_KEY, { lang: state.lang, chosen: state.langChosen });
  renderChrome();
  if (state.render) state.render();
}

function renderChrome() {
  const t = state.t;
  document.documentElement.lang = state.lang;
  document.title = state.practice ? `${t("pageTitle")} · ${state.practice.name}` : t("pageTitle");
  const skip = document.querySelector(".skip-link");
  if (skip) skip.textContent = t("skip");
  el.brandMark.replaceChildren(icon(ICONS.tooth));
  el.practiceName.textContent = state.practice ? state.practice.name : "Chairside";
  el.appName.textContent = t("appName");
  el.actions.replaceChildren(
    currentSession() && state.practice
      ? h("button", { class: "btn btn-secondary btn-small", type: "button", onclick: signOut }, t("home.signOut"))
      : "",
  );
  const other = t("language.otherCode");
  el.footer.replaceChildren(
    h(
      "button",
      {
        class: "btn btn-quiet",
        type: "button",
        lang: other,
        aria: { label: `${t("language.label")}: ${t("language.other")}` },
        onclick: () => setLanguage(other, true),
      },
      t("language.other"),
    ),
    currentSession() ? h("a", { class: "btn btn-quiet", href: `../refer/?practice=${encodeURIComponent(config.practiceId)}` }, t("home.referFriend")) : "",
    h("span", null, t("footer")),
  );
}

function clearTimers() {
  for (const id of state.timers) window.clearInterval(id);
  state.timers = [];
}

function show(view, render) {
  clearTimers();
  state.render = render;
  el.main.setAttribute("aria-busy", "false");
  el.main.replaceChildren(view);
  renderChrome();
}

// --- views -------------------------------------------------------------------------------------

function showProblem(message, retry) {
  const t = state.t;
  const render = () => {
    const title = h("h1", { class: "visually-hidden" }, t("pageTitle"));
    show(
      h(
        "section",
        { class: "card problem" },
        title,
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, message)),
        retry ? h("button", { class: "btn btn-secondary", type: "button", onclick: retry }, t("home.retry")) : "",
      ),
      render,
    );
  };
  render();
}

function fieldError(input, box, message) {
  box.replaceChildren(icon(ICONS.alert), h("span", null, message));
  input.setAttribute("aria-invalid", "true");
  input.focus();
}

function clearFieldError(input, box) {
  box.replaceChildren();
  input.removeAttribute("aria-invalid");
}

function codeRequestError(err, t) {
  return err.status === 429 ? t("signIn.tooManyCodes") : friendlyError(err, t, state.lang);
}

function looksLikeContact(value) {
  if (value.includes("@")) return /^[^@\s]+@[^@\s]+\.[^@\s.]+$/.test(value);
  const digits = value.replace(/\D/g, "");
  return /^[\d\s()+.-]+$/.test(value) && digits.length >= 7 && digits.length <= 15;
}

function showContact(options = {}) {
  let notice = options.notice || "";
  const render = () => {
    const t = state.t;
    const title = h("h1", { id: "signin-title" }, t("signIn.title"));
    const error = h("div", { class: "form-error", id: "contact-error", role: "alert" });
    const input = h("input", {
      id: "contact",
      name: "contact",
      type: "text",
      autocomplete: "username",
      autocapitalize: "off",
      spellcheck: "false",
      required: true,
      aria: { describedby: "contact-hint contact-error" },
      oninput: () => clearFieldError(input, error),
    });
    input.value = state.contact;
    const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, t("signIn.send"));
    const form = h(
      "form",
      { novalidate: true, aria: { labelledby: "signin-title" } },
      error,
      h(
        "div",
        { class: "field" },
        h("label", { for: "contact" }, t("signIn.contactLabel")),
        h("p", { class: "hint", id: "contact-hint" }, t("signIn.contactHint")),
        input,
      ),
      submit,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return fieldError(input, error, t("signIn.emptyContact"));
      if (!looksLikeContact(value)) return fieldError(input, error, t("signIn.badContact"));
      const restore = busyButton(submit, t("signIn.sending"));
      try {
        await api.post("/patient/auth/code", { practice_id: config.practiceId, contact: value });
        state.contact = value;
        state.resendAt = Date.now() + RESEND_SECONDS * 1000;
        notice = "";
        showCode();
      } catch (err) {
        restore();
        fieldError(input, error, codeRequestError(err, t));
      }
    });
    show(
      h(
        "section",
        { class: "card auth-card", aria: { labelledby: "signin-title" } },
        h("div", { class: "auth-icon", aria: { hidden: "true" } }, icon(ICONS.calendar)),
        title,
        h("p", { class: "lede" }, t("signIn.lede")),
        h("div", { class: "notice", role: "status" }, notice),
        form,
        config.local ? localHint(t) : "",
      ),
      render,
    );
    if (notice) focusHeading(title);
  };
  render();
}

function localHint(t) {
  return h(
    "aside",
    { class: "local-hint" },
    h("p", null, t("signIn.localHint"), " ", h("a", { href: "/outbox/", target: "_blank" }, t("signIn.localOutbox"))),
    h("p", null, t("signIn.localTry", { email: "patient@example.test", phone: "+1 555 555 0123", guardian: "guardian@example.test" })),
  );
}

function showCode() {
  const render = () => {
    const t = state.t;
    const title = h("h1", { id: "code-title" }, t("code.title"));
    const error = h("div", { class: "form-error", id: "code-error", role: "alert" });
    const notice = h("div", { class: "notice", role: "status" });
    const input = h("input", {
      id: "code",
      name: "code",
      type: "text",
      class: "code-input",
      inputmode: "numeric",
      autocomplete: "one-time-code",
      pattern: "[0-9 ]*",
      maxlength: "9",
      required: true,
      aria: { describedby: "code-error" },
      oninput: () => clearFieldError(input, error),
    });
    const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, t("code.submit"));
    const resend = h("button", { class: "btn btn-quiet", type: "button" }, t("code.resend"));
    const change = h("button", { class: "btn btn-quiet", type: "button", onclick: () => showContact() }, t("code.change"));

    const tickResend = () => {
      const left = Math.ceil((state.resendAt - Date.now()) / 1000);
      resend.disabled = left > 0;
      resend.textContent = left > 0 ? t("code.resendIn", { seconds: left }) : t("code.resend");
    };
    tickResend();
    state.timers.push(window.setInterval(tickResend, 1000));

    resend.addEventListener("click", async () => {
      const restore = busyButton(resend, t("signIn.sending"));
      try {
        await api.post("/patient/auth/code", { practice_id: config.practiceId, contact: state.contact });
        state.resendAt = Date.now() + RESEND_SECONDS * 1000;
        restore();
        tickResend();
        clearFieldError(input, error);
        notice.textContent = t("code.resent");
        input.value = "";
        input.focus();
      } catch (err) {
        restore();
        tickResend();
        fieldError(input, error, codeRequestError(err, t));
      }
    });

    const form = h(
      "form",
      { novalidate: true, aria: { labelledby: "code-title" } },
      error,
      h("div", { class: "field" }, h("label", { for: "code" }, t("code.label")), input),
      submit,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const code = input.value.replace(/[\s-]/g, "");
      if (!code) return fieldError(input, error, t("code.empty"));
      if (!/^\d{6}$/.test(code)) return fieldError(input, error, t("code.badFormat"));
      const restore = busyButton(submit, t("code.checking"));
      try {
        const answer = await api.post("/patient/auth/verify", {
          practice_id: config.practiceId,
          contact: state.contact,
          code,
        });
        saveSession(answer);
        showHome();
      } catch (err) {
        restore();
        const known = t.has(`errors.${err.code}`);
        const message = err.status === 401 && !known ? t("code.wrong") : friendlyError(err, t, state.lang);
        fieldError(input, error, message);
        input.select();
      }
    });

    show(
      h(
        "section",
        { class: "card auth-card", aria: { labelledby: "code-title" } },
        h("div", { class: "auth-icon", aria: { hidden: "true" } }, icon(state.contact.includes("@") ? ICONS.mail : ICONS.message)),
        title,
        h("p", { class: "lede" }, t("code.lede", { contact: state.contact, practice: state.practice.name })),
        notice,
        form,
        h("div", { class: "link-row" }, resend, change),
        h("p", { class: "hint" }, state.contact.includes("@") ? t("code.notArrivedEmail") : t("code.notArrivedSms")),
      ),
      render,
    );
    input.focus();
  };
  render();
}

async function signOut() {
  const s = currentSession();
  dropSession();
  state.contact = "";
  showContact({ notice: state.t("home.signedOut") });
  if (s) {
    try {
      await fetch(`${config.apiBase}/patient/auth/sign-out`, {
        method: "POST",
        headers: { Authorization: `Bearer ${s.token}`, "Content-Type": "application/json" },
        body: "{}",
        credentials: "omit",
      });
    } catch {
      // The token is already gone from this browser; the server forgets it when it idles out.
    }
  }
}

// --- home: upcoming and past visits, what can be done with each ------------------------------------

const LIVE = new Set(["requested", "booked", "confirmed", "arrived"]);

/** Errors that mean "do this by phone": the API says so, and gives the office phone. */
const OFFICE_CODES = new Set(["too_late_to_change", "too_many_reschedules", "not_bookable_online", "too_soon"]);

function officePhone(err) {
  const given = err && err.details && typeof err.details.phone === "string" ? err.details.phone : "";
  return given || (state.practice && state.practice.phone) || "";
}

/** An alert box for a failed action; offers the office phone when the change has to be made by phone. */
function actionError(t, err, id) {
  const phone = officePhone(err);
  const byPhone = err && OFFICE_CODES.has(err.code);
  return h(
    "div",
    { class: "form-error", role: "alert", id: id || null, tabindex: "-1" },
    icon(ICONS.alert),
    h(
      "span",
      null,
      friendlyError(err, t, state.lang),
      byPhone && phone ? [" ", h("a", { href: telHref(phone), class: "tel-inline" }, t("home.callPractice", { phone: displayPhone(phone) }))] : "",
    ),
  );
}

function showHome(options = {}) {
  let data = null; // {people, upcoming, cancelledAhead}
  let failure = null;
  let flash = options.flash || null; // {text, kind}
  let past = null; // null: not asked; "loading"; {list} or {error}
  let pastOpen = false;
  let cancelOpen = ""; // the appointment whose cancel form is open
  const cardErrors = new Map(); // appointment id -> ApiError
  let waitlist = null; // entries, or null if unavailable
  let feed = null; // {url, webcal_url} or null if unavailable
  let feedError = null;
  let feedCopied = false;

  const render = () => {
    const t = state.t;
    const title = h("h1", { id: "home-title" }, t("home.title"));
    const body = h("div", { class: "appts", id: "appointments", aria: { busy: data || failure ? "false" : "true" } });
    if (failure) {
      body.append(
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, failure)),
        h("button", { class: "btn btn-secondary", type: "button", onclick: load }, t("home.retry")),
      );
    } else if (!data) {
      body.append(
        h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), t("home.loading")),
        h("div", { class: "skeleton", aria: { hidden: "true" } }),
        h("div", { class: "skeleton", aria: { hidden: "true" } }),
      );
    } else if (data.upcoming.length === 0) {
      body.append(emptyState(t));
    } else {
      body.append(appointmentList(t, data.upcoming, data.people.length > 1, cardParts));
    }
    const people = data ? data.people : [];
    const self = people.find((p) => p.relation === "self");
    const heading = h(
      "div",
      { class: "home-head" },
      h("p", { class: "greeting" }, self ? t("home.greeting", { name: firstName(self.name) }) : t("home.greetingPlain")),
      title,
      people.length ? h("p", { class: "muted people" }, t("home.forPeople", { names: peopleList(t, people) })) : "",
      zoneNote(t),
    );
    const flashBox = h(
      "div",
      { class: `flash ${flash && flash.kind === "info" ? "flash-info" : "flash-ok"}`, id: "home-flash", role: "status", tabindex: "-1" },
      flash ? [icon(flash.kind === "info" ? ICONS.clock : ICONS.check), h("span", null, flash.text)] : "",
    );
    const bookButton = data
      ? h("button", { class: "btn btn-primary btn-block book-start", type: "button", onclick: () => showBooking({ people: data.people }) }, icon(ICONS.plus), t("book.start"))
      : "";
    show(
      h(
        "div",
        { class: "stack" },
        sectionNav(t, HOME),
        heading,
        flashBox,
        bookButton,
        body,
        data ? pastSection(t) : "",
        data ? waitlistSection(t) : "",
        data ? feedSection(t) : "",
        data && data.upcoming.length ? practiceCard(t) : "",
      ),
      render,
    );
    return title;
  };

  /** Redraw, then put focus where the person's attention should go (by element id). */
  function redraw(focusId) {
    if (state.render !== render) return;
    render();
    const target = focusId ? document.getElementById(focusId) : null;
    if (target) focusHeading(target);
  }

  function setFlash(text, kind = "ok") {
    flash = { text, kind };
  }

  // Each upcoming card's actions, notes and open forms.
  function cardParts(t, appt) {
    const a = appt.actions && typeof appt.actions === "object" ? appt.actions : {};
    const id = String(appt.id || "");
    const about = h("span", { class: "visually-hidden" }, ` ${apptSummary(t, appt)}`);
    const buttons = [];
    if (a.confirm) {
      buttons.push(
        h("button", { class: "btn btn-primary btn-small", type: "button", onclick: (e) => confirmVisit(appt, e.currentTarget) }, icon(ICONS.check), t("appt.confirm"), about.cloneNode(true)),
      );
    }
    if (a.reschedule) {
      buttons.push(
        h("button", { class: "btn btn-secondary btn-small", type: "button", onclick: () => showBooking({ people: data.people, appointment: appt }) }, icon(ICONS.move), t("appt.reschedule"), about.cloneNode(true)),
      );
    }
    if (a.cancel) {
      buttons.push(
        h(
          "button",
          {
            class: "btn btn-secondary btn-small btn-danger-text",
            type: "button",
            id: `cancel-open-${id}`,
            aria: { expanded: cancelOpen === id ? "true" : "false", controls: `cancel-form-${id}` },
            onclick: () => {
              cancelOpen = cancelOpen === id ? "" : id;
              cardErrors.delete(id);
              redraw(cancelOpen ? `cancel-reason-${id}` : `cancel-open-${id}`);
            },
          },
          icon(ICONS.x),
          t("appt.cancel"),
          about.cloneNode(true),
        ),
      );
    }
    if (LIVE.has(appt.status) && appt.calendar_path) {
      buttons.push(
        h("button", { class: "btn btn-quiet btn-small", type: "button", onclick: (e) => downloadIcs(appt, e.currentTarget) }, icon(ICONS.download), t("appt.addToCalendar"), about.cloneNode(true)),
      );
    }
    if (a.reschedule && !waitingFor(appt)) {
      buttons.push(
        h("button", { class: "btn btn-quiet btn-small", type: "button", id: `wait-${id}`, onclick: (e) => joinWaitlistFor(appt, e.currentTarget) }, icon(ICONS.bell), t("appt.earlier"), about.cloneNode(true)),
      );
    }
    const notes = [];
    if (appt.status === "requested") notes.push(h("p", { class: "appt-note" }, t("appt.requestedNote")));
    if (waitingFor(appt)) notes.push(h("p", { class: "appt-note" }, icon(ICONS.bell), h("span", null, t("appt.waitingNote"))));
    const phone = a.office_phone || (state.practice && state.practice.phone) || "";
    if (a.call_office_reason) {
      const key = t.has(`appt.office.${a.call_office_reason}`) ? `appt.office.${a.call_office_reason}` : "appt.office.other";
      notes.push(
        h(
          "p",
          { class: "appt-note appt-office" },
          h("span", null, t(key, { hours: bookingPolicy().change_notice_hours || 24 })),
          phone ? h("a", { class: "btn btn-secondary btn-small tel-link", href: telHref(phone) }, icon(ICONS.phone), t("home.callPractice", { phone: displayPhone(phone) })) : "",
        ),
      );
    }
    const err = cardErrors.get(id);
    return [
      notes.length ? h("div", { class: "appt-notes" }, notes) : "",
      err ? actionError(t, err, `card-error-${id}`) : "",
      cancelOpen === id ? cancelForm(t, appt) : "",
      buttons.length ? h("div", { class: "appt-actions" }, buttons) : "",
    ];
  }

  function cancelForm(t, appt) {
    const id = String(appt.id);
    const reason = h("textarea", { id: `cancel-reason-${id}`, name: "reason", rows: "2", maxlength: "500", aria: { describedby: `cancel-hint-${id}` } });
    const submit = h("button", { class: "btn btn-danger", type: "submit" }, t("appt.cancelConfirm"));
    const keep = h(
      "button",
      {
        class: "btn btn-secondary",
        type: "button",
        onclick: () => {
          cancelOpen = "";
          redraw(`cancel-open-${id}`);
        },
      },
      t("appt.cancelKeep"),
    );
    const form = h(
      "form",
      { class: "cancel-form", id: `cancel-form-${id}`, novalidate: true, aria: { label: t("appt.cancelTitle", { what: apptSummary(t, appt) }) } },
      h("p", { class: "cancel-question" }, t("appt.cancelQuestion", { what: apptSummary(t, appt) })),
      h("div", { class: "field" }, h("label", { for: `cancel-reason-${id}` }, t("appt.reasonLabel")), h("p", { class: "hint", id: `cancel-hint-${id}` }, t("appt.reasonHint")), reason),
      h("div", { class: "button-row" }, submit, keep),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const restore = busyButton(submit, t("appt.cancelling"));
      try {
        await api.post(`/patient/appointments/${encodeURIComponent(id)}/cancel`, { reason: reason.value.trim().slice(0, 500) }, { auth: true, timeoutMs: WRITE_TIMEOUT_MS });
        cancelOpen = "";
        setFlash(t("appt.cancelled", { what: apptSummary(t, appt) }));
        await load("home-flash");
      } catch (err) {
        if (err.status === 401) return sessionEnded();
        restore();
        cardErrors.set(id, err);
        redraw(`card-error-${id}`);
      }
    });
    return form;
  }

  async function confirmVisit(appt, button) {
    const t = state.t;
    const id = String(appt.id);
    busyButton(button, t("appt.confirming"));
    try {
      await api.post(`/patient/appointments/${encodeURIComponent(id)}/confirm`, {}, { auth: true });
      setFlash(t("appt.confirmed", { what: apptSummary(t, appt) }));
      await load("home-flash");
    } catch (err) {
      if (err.status === 401) return sessionEnded();
      cardErrors.set(id, err);
      redraw(`card-error-${id}`);
    }
  }

  async function downloadIcs(appt, button) {
    const t = state.t;
    const restore = busyButton(button, t("appt.preparing"));
    try {
      const text = await api.get(appt.calendar_path, { auth: true, text: true });
      const url = URL.createObjectURL(new Blob([text], { type: "text/calendar" }));
      const link = h("a", { href: url, download: `appointment-${String(appt.local_start || appt.start).slice(0, 10)}.ics`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 60000);
      restore();
    } catch (err) {
      if (err.status === 401) return sessionEnded();
      restore();
      cardErrors.set(String(appt.id), err);
      redraw(`card-error-${appt.id}`);
    }
  }

  function waitingFor(appt) {
    return Array.isArray(waitlist) && waitlist.some((e) => e.appointment_id === appt.id && e.status === "waiting");
  }

  async function joinWaitlistFor(appt, button) {
    const t = state.t;
    const zone = practiceZone();
    const today = todayIn(zone);
    const day = String(appt.local_start || "").slice(0, 10);
    const latest = isIsoDay(day) && day > today ? addDays(day, -1) : today;
    busyButton(button, t("appt.joining"));
    try {
      await api.post("/patient/waitlist", { patient_id: appt.patient_id, appointment_id: appt.id, earliest: today, latest }, { auth: true });
      setFlash(t("waitlist.joined"));
      await load("home-flash");
    } catch (err) {
      if (err.status === 401) return sessionEnded();
      cardErrors.set(String(appt.id), err);
      redraw(`card-error-${appt.id}`);
    }
  }

  // --- past visits (loaded when opened) ---

  function pastSection(t) {
    const details = h("details", { class: "card past", id: "past" }, h("summary", { id: "past-summary" }, h("h2", null, t("past.title"))));
    if (pastOpen) details.open = true;
    details.addEventListener("toggle", () => {
      pastOpen = details.open;
      if (pastOpen && (past === null || past.error)) loadPast();
    });
    const inner = h("div", { class: "past-body", aria: { busy: past === "loading" ? "true" : "false" } });
    if (past === "loading" || past === null) {
      inner.append(h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), t("past.loading")));
    } else if (past.error) {
      inner.append(
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, friendlyError(past.error, t, state.lang))),
        h("button", { class: "btn btn-secondary", type: "button", onclick: loadPast }, t("home.retry")),
      );
    } else {
      const list = [...data.cancelledAhead, ...past.list];
      inner.append(list.length ? pastList(t, list, data.people.length > 1) : h("p", { class: "muted" }, t("past.empty")));
    }
    details.append(inner);
    return details;
  }

  async function loadPast() {
    past = "loading";
    redraw();
    try {
      const answer = await api.get("/patient/schedule?when=past", { auth: true });
      past = { list: Array.isArray(answer && answer.appointments) ? answer.appointments : [] };
    } catch (err) {
      if (err.status === 401) return sessionEnded();
      past = { error: err };
    }
    redraw();
  }

  // --- waitlist ---

  function waitlistSection(t) {
    const entries = Array.isArray(waitlist) ? waitlist.filter((e) => e.status === "waiting") : [];
    if (!entries.length) return "";
    const types = bookingTypes();
    return h(
      "section",
      { class: "card waitlist", aria: { labelledby: "waitlist-title" } },
      h("h2", { id: "waitlist-title" }, t("waitlist.title")),
      h("p", { class: "muted" }, t("waitlist.body")),
      h(
        "ul",
        { class: "plain-list" },
        entries.map((e) => {
          const type = types.find((x) => x.id === e.type_id);
          const person = data.people.find((p) => p.id === e.patient_id);
          const what = type ? type.name : t("home.visitFallback");
          const window_ = t("waitlist.window", { from: dayLabel(e.earliest, state.lang, SHORT_DAY), to: dayLabel(e.latest, state.lang, SHORT_DAY) });
          const label = [what, data.people.length > 1 && person ? person.name : "", window_].filter(Boolean).join(" · ");
          return h(
            "li",
            { class: "waitlist-entry", dataset: { entryId: String(e.id) } },
            h("span", null, label),
            h("button", { class: "btn btn-secondary btn-small", type: "button", onclick: (ev) => leaveWaitlist(e, ev.currentTarget) }, t("waitlist.leave"), h("span", { class: "visually-hidden" }, ` ${label}`)),
          );
        }),
      ),
    );
  }

  async function leaveWaitlist(entry, button) {
    const t = state.t;
    busyButton(button, t("waitlist.leaving"));
    try {
      await api.del(`/patient/waitlist/${encodeURIComponent(entry.id)}`, { auth: true });
      setFlash(t("waitlist.left"));
      await load("home-flash");
    } catch (err) {
      if (err.status === 401) return sessionEnded();
      setFlash(friendlyError(err, t, state.lang), "info");
      redraw("home-flash");
    }
  }

  // --- calendar feed ---

  function feedSection(t) {
    if (!feed) return "";
    const parts = [h("h2", { id: "feed-title" }, t("feed.title")), h("p", { class: "muted" }, t("feed.body"))];
    if (feedError) parts.push(actionError(t, feedError, "feed-error"));
    if (feed.url) {
      const input = h("input", { id: "feed-url", type: "text", readonly: true, value: feed.url, class: "feed-url", spellcheck: "false", onfocus: (e) => e.currentTarget.select() });
      parts.push(
        h("div", { class: "field" }, h("label", { for: "feed-url" }, t("feed.urlLabel")), input),
        h(
          "div",
          { class: "button-row" },
          h("button", { class: "btn btn-primary", type: "button", id: "feed-copy", onclick: () => copyFeed(input) }, icon(ICONS.copy), t("feed.copy")),
          feed.webcal_url ? h("a", { class: "btn btn-secondary", href: feed.webcal_url }, icon(ICONS.calendar), t("feed.open")) : "",
          h("button", { class: "btn btn-quiet btn-danger-text", type: "button", id: "feed-revoke", onclick: (e) => revokeFeed(e.currentTarget) }, t("feed.revoke")),
        ),
        h("p", { class: "hint" }, t("feed.secret")),
      );
    } else {
      parts.push(h("button", { class: "btn btn-secondary", type: "button", id: "feed-make", onclick: (e) => makeFeed(e.currentTarget) }, icon(ICONS.calendar), t("feed.make")));
    }
    parts.push(h("p", { class: "visually-hidden", role: "status", id: "feed-status" }, feedCopied ? t("feed.copied") : ""));
    return h("section", { class: "card feed", aria: { labelledby: "feed-title" } }, parts);
  }

  async function copyFeed(input) {
    let ok = false;
    try {
      await navigator.clipboard.writeText(input.value);
      ok = true;
    } catch {
      input.focus();
      input.select();
      try {
        ok = document.execCommand("copy");
      } catch {
        ok = false;
      }
    }
    const button = document.getElementById("feed-copy");
    const status = document.getElementById("feed-status");
    feedCopied = ok;
    if (status) status.textContent = ok ? state.t("feed.copied") : state.t("feed.copyFailed");
    if (button && ok) {
      button.replaceChildren(icon(ICONS.check), state.t("feed.copied"));
      window.setTimeout(() => {
        if (button.isConnected) button.replaceChildren(icon(ICONS.copy), state.t("feed.copy"));
      }, 4000);
    }
  }

  async function makeFeed(button) {
    busyButton(button, state.t("feed.making"));
    try {
      feed = await api.post("/patient/calendar-feed", {}, { auth: true });
      feedError = null;
      feedCopied = false;
      redraw("feed-url");
    } catch (err) {
      if (err.status === 401) return sessionEnded();
      feedError = err;
      redraw("feed-error");
    }
  }

  async function revokeFeed(button) {
    busyButton(button, state.t("feed.revoking"));
    try {
      await api.del("/patient/calendar-feed", { auth: true });
      feed = { url: null, webcal_url: null };
      feedError = null;
      setFlash(state.t("feed.revoked"));
      redraw("home-flash");
    } catch (err) {
      if (err.status === 401) return sessionEnded();
      feedError = err;
      redraw("feed-error");
    }
  }

  // --- loading ---

  async function load(focusId) {
    const first = !data;
    failure = null;
    if (first) {
      data = null;
      render();
    }
    const optional = (promise) =>
      promise.catch((err) => {
        if (err.status === 401) throw err;
        return null;
      });
    try {
      const [me, list, options, wait, feedAnswer] = await Promise.all([
        api.get("/patient/me", { auth: true }),
        api.get("/patient/schedule?when=upcoming", { auth: true }),
        state.booking ? Promise.resolve(state.booking) : optional(api.get(`/public/practices/${encodeURIComponent(config.practiceId)}/booking`)),
        optional(api.get("/patient/waitlist", { auth: true })),
        optional(api.get("/patient/calendar-feed", { auth: true })),
      ]);
      const people = Array.isArray(me && me.patients) ? me.patients : [];
      const all = Array.isArray(list && list.appointments) ? list.appointments.slice() : [];
      all.sort((a, b) => String(a.start).localeCompare(String(b.start)));
      const lang = (me && me.language) || (people.find((p) => p.relation === "self") || {}).language;
      if (lang && !state.langChosen && SUPPORTED.includes(lang) && lang !== state.lang) {
        state.lang = lang;
        state.t = translator(STRINGS, lang);
      }
      if (options) state.booking = options;
      waitlist = wait && Array.isArray(wait.entries) ? wait.entries : null;
      feed = feedAnswer && typeof feedAnswer === "object" ? feedAnswer : null;
      data = {
        people,
        upcoming: all.filter((a) => a.status !== "cancelled"),
        cancelledAhead: all.filter((a) => a.status === "cancelled"),
      };
      cardErrors.clear();
      if (arrival.book && state.render === render) {
        arrival.book = false;
        return showBooking({ people });
      }
      if (past && !past.error && past !== "loading") past = null; // stale after a change
      if (pastOpen && past === null) loadPast();
    } catch (err) {
      if (state.render !== render) return; // signed out (or moved on) while this was loading
      if (err.status === 401) return sessionEnded();
      failure = friendlyError(err, state.t, state.lang);
      data = null;
    }
    if (state.render !== render) return;
    const title = render();
    const target = focusId ? document.getElementById(focusId) : null;
    focusHeading(target || title);
  }

  load(flash ? "home-flash" : null);
}

const SHORT_DAY = { weekday: "short", month: "short", day: "numeric" };

function bookingTypes() {
  return state.booking && Array.isArray(state.booking.types) ? state.booking.types : [];
}

function bookingPolicy() {
  return (state.booking && state.booking.policy) || {};
}

/** "Exam on Friday, December 11 at 10:00 AM" — the words that tell two cards' buttons apart. */
function apptSummary(t, appt) {
  const parts = partsInZone(appt.start, appt.zone || practiceZone(), state.lang);
  const what = nameOf(appt, "type") || t("home.visitFallback");
  return parts ? t("appt.summary", { what, day: parts.dateLong, time: parts.time }) : what;
}

function firstName(name) {
  return String(name || "").split(/\s+/)[0];
}

function peopleList(t, people) {
  const names = people.map((p) => (p.relation === "self" ? `${p.name} (${t("home.you")})` : p.name));
  try {
    return new Intl.ListFormat(state.lang === "es" ? "es" : "en", { style: "long", type: "conjunction" }).format(names);
  } catch {
    return names.join(", ");
  }
}

function practiceZone() {
  return (state.practice && state.practice.zone) || "UTC";
}

function zoneNote(t) {
  let browserZone = "";
  try {
    browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch {
    browserZone = "";
  }
  if (browserZone === practiceZone()) return "";
  return h("p", { class: "hint zone-note" }, icon(ICONS.clock), h("span", null, t("home.zoneNote", { zone: zoneName(practiceZone(), state.lang) })));
}

function nameOf(appt, kind) {
  const value = appt[kind];
  if (value && typeof value === "object" && value.name) return String(value.name);
  if (typeof value === "string" && value) return value;
  return appt[`${kind}_name`] ? String(appt[`${kind}_name`]) : "";
}

function statusKey(status) {
  return status && Object.prototype.hasOwnProperty.call(STRINGS.en.status, status) ? status : "unknown";
}

function appointmentCard(t, appt, showPerson, extra, past) {
  const zone = appt.zone || practiceZone();
  const parts = partsInZone(appt.start, zone, state.lang);
  const status = statusKey(appt.status);
  const what = nameOf(appt, "type") || t("home.visitFallback");
  const provider = nameOf(appt, "provider");
  const person = appt.patient && appt.patient.name ? String(appt.patient.name) : "";
  return h(
    "li",
    { class: `${past ? "visit" : "appt"} appt-${status}`, dataset: { appointmentId: String(appt.id || "") } },
    h(
      "div",
      { class: "appt-date", aria: { hidden: "true" } },
      h("span", { class: "appt-month" }, parts ? parts.monthShort : ""),
      h("span", { class: "appt-day" }, parts ? parts.day : ""),
    ),
    h(
      "div",
      { class: "appt-body" },
      h("p", { class: "appt-when" }, h("time", { datetime: appt.start }, parts ? parts.dateLong : appt.local_label || "")),
      h("p", { class: "appt-time" }, parts ? `${parts.time} ${parts.zoneShort}` : ""),
      h("p", { class: "appt-what" }, provider ? `${what} · ${t("home.with", { provider })}` : what),
      showPerson && person ? h("p", { class: "appt-person" }, h("span", { class: "visually-hidden" }, t("home.forPerson", { name: "" })), person) : "",
    ),
    h("span", { class: `badge badge-${status}` }, h("span", { class: "visually-hidden" }, t("home.statusLabel", { status: "" })), t(`status.${status}`)),
    extra ? h("div", { class: "appt-extra" }, extra(t, appt)) : "",
  );
}

function appointmentList(t, appointments, showPerson, extra) {
  return h(
    "ol",
    { class: "appt-list", aria: { labelledby: "home-title" } },
    appointments.map((appt) => appointmentCard(t, appt, showPerson, extra, false)),
  );
}

function pastList(t, appointments, showPerson) {
  return h(
    "ol",
    { class: "appt-list", aria: { labelledby: "past-summary" } },
    appointments.map((appt) => appointmentCard(t, appt, showPerson, null, true)),
  );
}

function emptyState(t) {
  const p = state.practice || {};
  return h(
    "section",
    { class: "card empty", aria: { labelledby: "empty-title" } },
    h("div", { class: "empty-icon", aria: { hidden: "true" } }, icon(ICONS.calendar)),
    h("h2", { id: "empty-title" }, t("home.emptyTitle")),
    h("p", { class: "muted" }, p.phone ? t("home.emptyBody") : t("home.emptyNoPhone")),
    p.phone ? h("a", { class: "btn btn-primary tel-link", href: telHref(p.phone) }, icon(ICONS.phone), t("home.callPractice", { phone: displayPhone(p.phone) })) : "",
    h("div", { class: "practice-details" }, practiceAddress(p), practiceHours(t, p)),
  );
}

function practiceCard(t) {
  const p = state.practice || {};
  return h(
    "section",
    { class: "card practice-card", aria: { labelledby: "practice-title" } },
    h("h2", { id: "practice-title" }, t("home.needChange")),
    h("p", { class: "muted" }, t("home.needChangeBody", { practice: p.name || "" })),
    p.phone ? h("a", { class: "btn btn-secondary tel-link", href: telHref(p.phone) }, icon(ICONS.phone), t("home.callPractice", { phone: displayPhone(p.phone) })) : "",
    practiceAddress(p),
    practiceHours(t, p),
  );
}

function practiceHours(t, p) {
  const rows = hoursRows(p.hours, state.lang);
  if (!rows.length) return "";
  return h(
    "div",
    { class: "practice-hours" },
    icon(ICONS.clock),
    h(
      "div",
      null,
      h("h3", { id: "hours-title" }, t("home.hours")),
      h(
        "dl",
        { aria: { labelledby: "hours-title" } },
        rows.map((r) => h("div", null, h("dt", null, r.days), h("dd", null, r.times.map((span) => h("span", null, span))))),
      ),
    ),
  );
}

function practiceAddress(p) {
  const a = p.address && typeof p.address === "object" ? p.address : null;
  if (!a) return "";
  const street = [a.line, a.line1, a.line2, a.street].filter(Boolean).join(", ");
  const region = [a.state || a.region, a.postal_code || a.zip || a.postcode].filter(Boolean).join(" ");
  const locality = [a.city, region].filter(Boolean).join(", ");
  const lines = [street, locality].filter(Boolean);
  if (!lines.length) return "";
  return h("address", { class: "practice-address" }, icon(ICONS.pin), h("span", null, p.name ? h("strong", null, p.name) : "", lines.map((line) => [h("br"), line])));
}

// --- booking and rescheduling: type -> day -> time -> review ------------------------------------------

const WINDOW_DAYS = 14; // local days asked for at once (the API's most)
const WRITE_TIMEOUT_MS = 60000; // a booking is one transaction; give it longer than a read before giving up

/**
 * options.people: the session's patients; options.appointment: the visit to move (reschedule), else a new booking.
 * One step at a time; each step's heading takes focus so keyboard and screen reader users land on it.
 */
function showBooking(options) {
  const moving = options.appointment || null;
  const people = options.people || [];
  const s = {
    step: moving ? "day" : "what",
    patientId: moving ? moving.patient_id : people.length === 1 ? people[0].id : "",
    typeId: moving ? moving.type_id : "",
    from: todayIn(practiceZone()),
    avail: null, // {days, duration_min} for [from, from + WINDOW_DAYS)
    loading: false,
    loadError: null,
    day: "",
    provider: "",
    slot: null,
    error: null, // an ApiError or {message}
    busy: false,
  };
  let seq = 0;

  const types = () => bookingTypes();
  const typeOf = () => types().find((x) => x.id === s.typeId) || (moving ? { id: moving.type_id, name: nameOf(moving, "type") } : null);
  const steps = moving ? ["day", "slot", "review"] : ["what", "day", "slot", "review"];

  const render = () => {
    const t = state.t;
    const title = h("h1", { id: "book-title" }, moving ? t("book.rescheduleTitle") : t("book.title"));
    const index = steps.indexOf(s.step);
    const head = h(
      "div",
      { class: "book-head" },
      h("button", { class: "btn btn-quiet back-link", type: "button", onclick: back }, icon(ICONS.left), index > 0 ? t("book.back") : t("book.close")),
      title,
      moving ? h("p", { class: "muted" }, t("book.moving", { what: apptSummary(t, moving) })) : "",
      h("p", { class: "step-count" }, t("book.stepOf", { n: index + 1, total: steps.length })),
    );
    let body;
    if (s.step === "what") body = whatStep(t);
    else if (s.step === "day") body = dayStep(t);
    else if (s.step === "slot") body = slotStep(t);
    else body = reviewStep(t);
    show(h("div", { class: "stack booking" }, head, body), render);
    return title;
  };

  function go(step) {
    s.step = step;
    s.error = null;
    render();
    const heading = document.getElementById("step-title");
    focusHeading(heading);
  }

  function back() {
    const index = steps.indexOf(s.step);
    if (index <= 0) return showHome();
    go(steps[index - 1]);
  }

  function errorBox(t) {
    if (!s.error) return h("div", { id: "step-error", role: "alert", class: "form-error", tabindex: "-1" });
    return s.error instanceof Error || s.error.code ? actionError(t, s.error, "step-error") : h("div", { id: "step-error", role: "alert", class: "form-error", tabindex: "-1" }, icon(ICONS.alert), h("span", null, s.error.message));
  }

  function showError(err) {
    s.error = err;
    render();
    focusHeading(document.getElementById("step-error"));
  }

  // Step 1: who and what.
  function whatStep(t) {
    const form = h("form", { novalidate: true, class: "step", aria: { labelledby: "step-title" } }, h("h2", { id: "step-title" }, t("book.whatTitle")), errorBox(t));
    if (people.length > 1) {
      form.append(
        h(
          "fieldset",
          { class: "choices" },
          h("legend", null, t("book.whoLegend")),
          people.map((p) =>
            h(
              "label",
              { class: "choice" },
              h("input", { type: "radio", name: "patient", value: p.id, checked: s.patientId === p.id, onchange: () => (s.patientId = p.id) }),
              h("span", null, p.relation === "self" ? `${p.name} (${t("home.you")})` : p.name),
            ),
          ),
        ),
      );
    }
    const list = types();
    if (!list.length) {
      form.append(h("p", { class: "muted" }, t("book.noTypes")));
      const phone = state.practice && state.practice.phone;
      if (phone) form.append(h("a", { class: "btn btn-primary tel-link", href: telHref(phone) }, icon(ICONS.phone), t("home.callPractice", { phone: displayPhone(phone) })));
      return form;
    }
    form.append(
      h(
        "fieldset",
        { class: "choices" },
        h("legend", null, t("book.typeLegend")),
        list.map((x) =>
          h(
            "label",
            { class: "choice" },
            h("input", { type: "radio", name: "type", value: x.id, checked: s.typeId === x.id, onchange: () => (s.typeId = x.id) }),
            h("span", { class: "choice-text" }, h("span", null, x.name), h("span", { class: "choice-sub" }, t("book.minutes", { n: x.duration_min }))),
          ),
        ),
      ),
      h("button", { class: "btn btn-primary btn-block", type: "submit" }, t("book.next")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!s.patientId) return showError({ message: t("book.pickWho") });
      if (!s.typeId) return showError({ message: t("book.pickType") });
      s.from = todayIn(practiceZone());
      s.avail = null;
      s.day = "";
      s.slot = null;
      go("day");
      loadDays();
    });
    return form;
  }

  async function loadDays() {
    const mine = ++seq;
    s.loading = true;
    s.loadError = null;
    if (s.step === "day") rerenderKeepingFocus();
    try {
      const query = new URLSearchParams({ type_id: s.typeId, date: s.from, days: String(WINDOW_DAYS) });
      const answer = await api.get(`/practices/${encodeURIComponent(config.practiceId)}/availability?${query}`);
      if (mine !== seq) return;
      s.avail = { days: Array.isArray(answer && answer.days) ? answer.days : [], duration: answer && answer.duration_min };
    } catch (err) {
      if (mine !== seq) return;
      s.loadError = err;
    }
    s.loading = false;
    if (state.render !== render) return;
    rerenderKeepingFocus();
    const status = document.getElementById("days-status");
    if (status && document.activeElement === document.body) focusHeading(document.getElementById("step-title"));
  }

  /** Redraw without losing the person's place: focus goes back to the element with the same id. */
  function rerenderKeepingFocus() {
    const id = document.activeElement && document.activeElement.id;
    render();
    const again = id ? document.getElementById(id) : null;
    if (again) again.focus();
    else focusHeading(document.getElementById("step-title"));
  }

  // Step 2: a day with free times.
  function dayStep(t) {
    const zone = practiceZone();
    const wrap = h(
      "section",
      { class: "step", aria: { labelledby: "step-title" } },
      h("h2", { id: "step-title" }, t("book.dayTitle")),
      h("p", { class: "muted" }, typeOf() ? t("book.forType", { what: typeOf().name }) : ""),
      errorBox(t),
    );
    const status = h("div", { id: "days-status", role: "status", class: "days-status" });
    wrap.append(status);
    if (s.loading || (!s.avail && !s.loadError)) {
      status.append(h("p", { class: "loading" }, h("span", { class: "spinner", aria: { hidden: "true" } }), t("book.loadingTimes")));
    } else if (s.loadError) {
      wrap.append(actionError(t, s.loadError), h("button", { class: "btn btn-secondary", type: "button", onclick: loadDays }, t("home.retry")));
    } else {
      const open = s.avail.days.filter((d) => Array.isArray(d.slots) && d.slots.length);
      const last = addDays(s.from, WINDOW_DAYS - 1);
      status.append(
        h("p", { class: "hint" }, t("book.window", { from: dayLabel(s.from, state.lang, SHORT_DAY), to: dayLabel(last, state.lang, SHORT_DAY) })),
      );
      if (open.length) {
        wrap.append(
          h(
            "ul",
            { class: "day-grid" },
            open.map((d) => {
              const times = new Set(d.slots.map((x) => x.start)).size;
              return h(
                "li",
                null,
                h(
                  "button",
                  {
                    class: "day-btn",
                    type: "button",
                    id: `day-${d.date}`,
                    aria: { pressed: s.day === d.date ? "true" : "false" },
                    onclick: () => {
                      s.day = d.date;
                      s.provider = "";
                      s.slot = null;
                      go("slot");
                    },
                  },
                  h("span", { class: "day-week" }, dayLabel(d.date, state.lang, { weekday: "short" })),
                  h("span", { class: "day-date" }, dayLabel(d.date, state.lang, { month: "short", day: "numeric" })),
                  h("span", { class: "day-count" }, t(times === 1 ? "book.timesOne" : "book.times", { n: times })),
                ),
              );
            }),
          ),
        );
      } else {
        wrap.append(h("p", { class: "muted no-times" }, t("book.noTimes")));
      }
      const today = todayIn(zone);
      wrap.append(
        h(
          "div",
          { class: "button-row pager" },
          h(
            "button",
            {
              class: "btn btn-secondary",
              type: "button",
              id: "days-earlier",
              disabled: s.from <= today,
              onclick: () => {
                const earlier = addDays(s.from, -WINDOW_DAYS);
                s.from = earlier < today ? today : earlier;
                loadDays();
              },
            },
            icon(ICONS.left),
            t("book.earlier"),
          ),
          h(
            "button",
            {
              class: "btn btn-secondary",
              type: "button",
              id: "days-later",
              onclick: () => {
                s.from = addDays(s.from, WINDOW_DAYS);
                loadDays();
              },
            },
            t("book.later"),
            icon(ICONS.right),
          ),
        ),
      );
      if (!moving) wrap.append(waitOffer(t, s.from, last));
    }
    return wrap;
  }

  /** "Tell me if a time opens" for this type in the window on screen. */
  function waitOffer(t, from, to) {
    const box = h("div", { class: "wait-offer" });
    const result = h("p", { role: "status", id: "wait-result", class: "wait-result" });
    const button = h("button", { class: "btn btn-quiet", type: "button", id: "wait-join" }, icon(ICONS.bell), t("book.notifyMe"));
    button.addEventListener("click", async () => {
      const restore = busyButton(button, t("appt.joining"));
      try {
        await api.post("/patient/waitlist", { patient_id: s.patientId, type_id: s.typeId, earliest: from, latest: to }, { auth: true });
        button.remove();
        result.textContent = t("book.notifyDone", { from: dayLabel(from, state.lang, SHORT_DAY), to: dayLabel(to, state.lang, SHORT_DAY) });
      } catch (err) {
        if (err.status === 401) return sessionEnded();
        restore();
        result.textContent = friendlyError(err, t, state.lang);
      }
    });
    box.append(h("p", { class: "hint" }, t("book.notifyHint")), button, result);
    return box;
  }

  // Step 3: a time on that day, in the practice's zone (named).
  function slotStep(t) {
    const day = (s.avail ? s.avail.days : []).find((d) => d.date === s.day);
    const slots = day && Array.isArray(day.slots) ? day.slots : [];
    const providers = [];
    for (const x of slots) if (x.provider && !providers.some((p) => p.id === x.provider.id)) providers.push(x.provider);
    const shown = [];
    const seen = new Set();
    for (const x of slots) {
      if (s.provider && (!x.provider || x.provider.id !== s.provider)) continue;
      if (!s.provider && seen.has(x.start)) continue; // "anyone": one button per time
      seen.add(x.start);
      shown.push(x);
    }
    const zone = practiceZone();
    const sample = slots.length ? partsInZone(slots[0].start, zone, state.lang) : null;
    const zoneText = t("book.zone", { zone: zoneName(zone, state.lang), short: sample ? sample.zoneShort : "" });
    const select = h(
      "select",
      {
        id: "provider",
        onchange: (e) => {
          s.provider = e.currentTarget.value;
          rerenderKeepingFocus();
        },
      },
      h("option", { value: "" }, t("book.anyone")),
      providers.map((p) => h("option", { value: p.id, selected: s.provider === p.id }, p.name || p.id)),
    );
    return h(
      "section",
      { class: "step", aria: { labelledby: "step-title" } },
      h("h2", { id: "step-title" }, t("book.slotTitle", { day: dayLabel(s.day, state.lang, { weekday: "long", month: "long", day: "numeric" }) })),
      h("p", { class: "hint zone-note" }, icon(ICONS.clock), h("span", { id: "zone-named" }, zoneText)),
      errorBox(t),
      providers.length > 1 ? h("div", { class: "field" }, h("label", { for: "provider" }, t("book.withLabel")), select) : "",
      shown.length
        ? h(
            "ul",
            { class: "slot-grid", aria: { label: t("book.slotListLabel", { zone: zoneText }) } },
            shown.map((x) => {
              const parts = partsInZone(x.start, zone, state.lang);
              return h(
                "li",
                null,
                h(
                  "button",
                  {
                    class: "slot-btn",
                    type: "button",
                    aria: { describedby: "zone-named" },
                    onclick: () => {
                      s.slot = x;
                      go("review");
                    },
                  },
                  parts ? parts.time : x.local_time,
                  s.provider || providers.length < 2 ? "" : "",
                ),
              );
            }),
          )
        : h("p", { class: "muted" }, t("book.noTimesDay")),
    );
  }

  // Step 4: check and book.
  function reviewStep(t) {
    const x = s.slot;
    const parts = partsInZone(x.start, practiceZone(), state.lang);
    const person = people.find((p) => p.id === s.patientId);
    const type = typeOf();
    const requestMode = bookingPolicy().mode === "request";
    const rows = [
      [t("book.reviewWho"), person ? person.name : ""],
      [t("book.reviewWhat"), type ? type.name : ""],
      [t("book.reviewWhen"), parts ? `${parts.dateLong}, ${parts.time} ${parts.zoneShort}` : x.label],
      [t("book.reviewWith"), x.provider ? x.provider.name : ""],
    ].filter(([, v]) => v);
    const submit = h("button", { class: "btn btn-primary btn-block", type: "submit", id: "book-submit" }, moving ? t("book.moveHere") : requestMode ? t("book.sendRequest") : t("book.bookIt"));
    const form = h(
      "form",
      { class: "step card review", novalidate: true, aria: { labelledby: "step-title" } },
      h("h2", { id: "step-title" }, t("book.reviewTitle")),
      errorBox(t),
      h("dl", { class: "review-list" }, rows.map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v)))),
      moving ? h("p", { class: "hint" }, t("book.moveNote")) : "",
      requestMode && !moving ? h("p", { class: "hint" }, t("book.requestNote")) : "",
      submit,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const restore = busyButton(submit, moving ? t("book.moving2") : t("book.booking"));
      try {
        let answer;
        if (moving) {
          answer = await api.post(`/patient/appointments/${encodeURIComponent(moving.id)}/reschedule`, { start: x.start, provider_id: x.provider ? x.provider.id : undefined }, { auth: true, timeoutMs: WRITE_TIMEOUT_MS });
        } else {
          answer = await api.post("/patient/appointments", { patient_id: s.patientId, type_id: s.typeId, provider_id: x.provider.id, start: x.start }, { auth: true, timeoutMs: WRITE_TIMEOUT_MS });
        }
        const summary = apptSummary(t, answer || { ...x, type: type });
        let text;
        if (moving) text = t("book.moved", { what: summary });
        else if (answer && answer.status === "requested") text = t("book.requested", { what: summary });
        else text = t("book.booked", { what: summary });
        showHome({ flash: { text, kind: answer && answer.status === "requested" ? "info" : "ok" } });
      } catch (err) {
        if (err.status === 401) return sessionEnded();
        restore();
        if (err.code === "slot_taken" || err.code === "not_a_slot" || err.code === "too_soon") {
          // The time went (or is no longer offered): fresh times for that day, and say why.
          s.step = "slot";
          s.slot = null;
          await loadDays();
          showError(err);
          return;
        }
        showError(err);
      }
    });
    return form;
  }

  render();
  focusHeading(document.getElementById("step-title") || document.getElementById("book-title"));
  if (s.step === "day") loadDays();
}

// --- start -------------------------------------------------------------------------------------

async function boot() {
  renderChrome();
  if (!config.practiceId) return showProblem(state.t("practice.missing"));
  try {
    state.practice = await api.get(`/public/practices/${encodeURIComponent(config.practiceId)}`);
  } catch (err) {
    if (err.status === 404) return showProblem(state.t("practice.notFound"));
    return showProblem(err.status ? friendlyError(err, state.t, state.lang) : state.t("practice.loadFailed"), boot);
  }
  if (arrival.token) return openLink();
  if (arrival.book) return startBooking();
  if (currentSession()) route();
  else showContact();
}

/** The one-task view for a message's link (link.js); no sign-in. */
async function openLink() {
  let module;
  try {
    module = await import("./link.js");
  } catch {
    return showProblem(state.t("practice.loadFailed"), openLink);
  }
  const token = arrival.token;
  arrival.token = "";
  module.showLink({
    api,
    token,
    get lang() {
      return state.lang;
    },
    show,
    signIn: () => (currentSession() ? showHome() : showContact()),
    book: startBooking,
  });
}

/** "Book again": the booking steps, after signing in if need be. */
function startBooking() {
  arrival.book = true;
  if (currentSession()) return showHome();
  showContact({ notice: state.t("book.signInHint") });
}

// --- sections (sections.js): the hash names the signed-in view --------------------------------------

function sectionContext() {
  return {
    api,
    config,
    practice: state.practice,
    // Live, not copied: a section redrawn after a language change reads the new language.
    get lang() {
      return state.lang;
    },
    get t() {
      return state.t;
    },
    argument: sectionArgument(),
    show,
    nav: (current) => sectionNav(state.t, current),
    sessionEnded,
    navigate: (hash) => {
      window.location.hash = hash;
    },
  };
}

let routeSeq = 0;

async function route() {
  if (!state.practice) return; // still booting; boot() routes when the practice is known
  if (!currentSession()) return showContact();
  const name = currentSection();
  const load = loaderFor(name);
  if (!load) return showHome();
  const seq = ++routeSeq;
  let module;
  try {
    module = await load();
  } catch {
    return showProblem(state.t("practice.loadFailed"), route);
  }
  if (seq !== routeSeq) return; // the person moved on while the module loaded
  module.showSection(sectionContext());
}

window.addEventListener("hashchange", () => {
  if (/^#(link|book)=/.test(window.location.hash)) {
    Object.assign(arrival, readArrival()); // a message's link opened in this tab
    return boot();
  }
  route();
});

// The skip link's "#main" would name a section (and so go home): move focus to the content instead.
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  focusHeading(el.main);
});

boot();
