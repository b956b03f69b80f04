// The patient page: sign in with a one-time code, then see your and your family's upcoming visits.
//
// The session token lives in sessionStorage (gone when the tab closes) and goes out only as
// "Authorization: Bearer <token>". Nothing about the patient is ever written to the console.

import { createApi, friendlyError, loadConfig, store } from "../common/api.js";
import { busyButton, focusHeading, h, ICONS, icon, pickLanguage, translator } from "../common/dom.js";
import { displayPhone, hoursRows, partsInZone, telHref, zoneName } from "../common/format.js";
import { STRINGS } from "./strings.js";

const SESSION_KEY = "chairside.patient.session";
const LANG_KEY = "chairside.patient.lang";
const RESEND_SECONDS = 30;
const SUPPORTED = Object.keys(STRINGS);

const config = loadConfig();
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
};
state.t = translator(STRINGS, state.lang);

const api = createApi(config.apiBase, { token: () => (currentSession() || {}).token || null });

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

function showHome() {
  let data = null; // {me, appointments} once loaded
  let failure = null;

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
    } else if (data.appointments.length === 0) {
      body.append(emptyState(t));
    } else {
      body.append(appointmentList(t, data.appointments, data.people.length > 1));
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
    show(h("div", { class: "stack" }, heading, body, data && data.appointments.length ? practiceCard(t) : ""), render);
    return title;
  };

  async function load() {
    failure = null;
    data = null;
    render();
    try {
      const [me, list] = await Promise.all([api.get("/patient/me", { auth: true }), api.get("/patient/appointments", { auth: true })]);
      const people = Array.isArray(me && me.patients) ? me.patients : [];
      const appointments = Array.isArray(list && list.appointments) ? list.appointments.slice() : [];
      appointments.sort((a, b) => String(a.start).localeCompare(String(b.start)));
      const lang = (me && me.language) || (people.find((p) => p.relation === "self") || {}).language;
      if (lang && !state.langChosen && SUPPORTED.includes(lang) && lang !== state.lang) {
        state.lang = lang;
        state.t = translator(STRINGS, lang);
      }
      data = { people, appointments };
    } catch (err) {
      if (state.render !== render) return; // signed out (or moved on) while this was loading
      if (err.status === 401) return sessionEnded();
      failure = friendlyError(err, state.t, state.lang);
    }
    if (state.render !== render) return;
    focusHeading(render());
  }

  load();
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

function appointmentList(t, appointments, showPerson) {
  return h(
    "ol",
    { class: "appt-list", aria: { labelledby: "home-title" } },
    appointments.map((appt) => {
      const zone = appt.zone || practiceZone();
      const parts = partsInZone(appt.start, zone, state.lang);
      const status = statusKey(appt.status);
      const what = nameOf(appt, "type") || t("home.visitFallback");
      const provider = nameOf(appt, "provider");
      const person = appt.patient && appt.patient.name ? String(appt.patient.name) : "";
      return h(
        "li",
        { class: `appt appt-${status}`, dataset: { appointmentId: String(appt.id || "") } },
        h(
          "div",
          { class: "appt-date", aria: { hidden: "true" } },
          h("span", { class: "appt-month" }, parts ? parts.monthShort : ""),
          h("span", { class: "appt-day" }, parts ? parts.day : ""),
        ),
        h(
          "div",
          { class: "appt-body" },
          h(
            "p",
            { class: "appt-when" },
            h("time", { datetime: appt.start }, parts ? parts.dateLong : appt.local_label || ""),
          ),
          h("p", { class: "appt-time" }, parts ? `${parts.time} ${parts.zoneShort}` : ""),
          h("p", { class: "appt-what" }, provider ? `${what} · ${t("home.with", { provider })}` : what),
          showPerson && person ? h("p", { class: "appt-person" }, h("span", { class: "visually-hidden" }, t("home.forPerson", { name: "" })), person) : "",
        ),
        h(
          "span",
          { class: `badge badge-${status}` },
          h("span", { class: "visually-hidden" }, t("home.statusLabel", { status: "" })),
          t(`status.${status}`),
        ),
      );
    }),
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
  if (currentSession()) showHome();
  else showContact();
}

boot();
