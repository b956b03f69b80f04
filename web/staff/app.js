// The staff dashboard: sign in, then the day sheet for the practice the account belongs to.
//
// The ID token lives in sessionStorage and is dropped after 15 minutes without activity (a shared
// front-desk screen must not stay signed in), when it expires, or when the API answers 401.

import { createApi, friendlyError, loadConfig, store } from "../common/api.js";
import { busyButton, focusHeading, h, ICONS, icon, pickLanguage, translator } from "../common/dom.js";
import { addDays, dayLabel, isIsoDay, partsInZone, todayIn, zoneName } from "../common/format.js";
import { STRINGS } from "./strings.js";
import { actionsCell, sortControl, sortRows } from "./dayactions.js";
import { currentSection, deskT, sectionNav } from "./desk.js";
import { showAnalytics } from "./analytics.js";
import { showAudit } from "./audit.js";
import { showInbox } from "./inbox.js";
import { showPatients } from "./patients.js";
import { showSettings } from "./settings.js";
import { showWorklists } from "./worklists.js";

const SESSION_KEY = "chairside.staff.session";
const ACTIVITY_KEY = "chairside.staff.lastActive";
const LANG_KEY = "chairside.staff.lang";
const IDLE_MS = 15 * 60 * 1000;
const IDLE_CHECK_MS = 10 * 1000;
const REFRESH_MS = 60 * 1000;
const SUPPORTED = Object.keys(STRINGS);
const CONFIRMED = new Set(["confirmed", "arrived", "completed"]);
const UNCONFIRMED = new Set(["requested", "booked"]);
const CANCELLED = new Set(["cancelled", "no_show"]);

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
  lang: pickLanguage(SUPPORTED, config.lang, savedLang, "en"),
  t: null,
  me: null,
  practice: null, // {id, name, zone} from the day sheet
  date: initialDate(),
  render: null,
  refreshTimer: 0,
  lastActive: Number(store.read(ACTIVITY_KEY)) || 0,
  lastWrite: 0,
  sort: "time", // day sheet order: time | provider | operatory
};
state.t = translator(STRINGS, state.lang);

const api = createApi(config.apiBase, {
  token: () => (currentSession() || {}).token || null,
  onUnauthorized: () => endSession("expired"),
});

// --- session and idle sign-out -------------------------------------------------------------------

function currentSession() {
  const s = store.read(SESSION_KEY);
  return s && s.token ? s : null;
}

function endSession(reason) {
  store.remove(SESSION_KEY);
  store.remove(ACTIVITY_KEY);
  state.me = null;
  stopRefresh();
  const notice = { idle: "signIn.idle", expired: "signIn.expired", signedOut: "signIn.signedOut" }[reason];
  showSignIn(notice ? state.t(notice) : "");
}

function noteActivity() {
  const now = Date.now();
  state.lastActive = now;
  if (now - state.lastWrite > 5000) {
    state.lastWrite = now;
    store.write(ACTIVITY_KEY, now);
  }
}

function checkSession() {
  const s = currentSession();
  if (!s) return;
  if (Date.now() - state.lastActive >= IDLE_MS) endSession("idle");
  else if (s.expiresAt && Date.now() >= s.expiresAt) endSession("expired");
}

for (const type of ["pointerdown", "keydown", "wheel", "touchstart", "focusin"]) {
  window.addEventListener(type, noteActivity, { passive: true, capture: true });
}
window.setInterval(checkSession, IDLE_CHECK_MS);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") checkSession();
});

// --- chrome ------------------------------------------------------------------------------------

function initialDate() {
  const value = new URLSearchParams(window.location.search).get("date");
  return isIsoDay(value) ? value : null;
}

function rememberDate(date) {
  const url = new URL(window.location.href);
  if (date) url.searchParams.set("date", date);
  else url.searchParams.delete("date");
  window.history.replaceState(null, "", url);
}

function setLanguage(lang) {
  state.lang = pickLanguage(SUPPORTED, lang);
  state.t = translator(STRINGS, state.lang);
  store.write(LANG_KEY, state.lang);
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
  const s = currentSession();
  if (s) {
    // What the person typed to sign in; /staff/me identifies them by an opaque id only.
    const name = s.username || (state.me && (state.me.name || state.me.email)) || "";
    const role = (state.me && state.me.role) || s.role || "";
    el.actions.replaceChildren(
      h(
        "div",
        { class: "account" },
        h(
          "span",
          { class: "account-who" },
          h("span", { class: "account-name" }, h("span", { class: "visually-hidden" }, t("account.signedInAs", { name: "" })), name),
          role ? h("span", { class: "account-role" }, t.has(`roles.${role}`) ? t(`roles.${role}`) : role) : "",
        ),
        h("button", { class: "btn btn-secondary btn-small", type: "button", onclick: () => endSession("signedOut") }, t("account.signOut")),
      ),
    );
  } else {
    el.actions.replaceChildren();
  }
  const other = t("language.otherCode");
  el.footer.replaceChildren(
    h(
      "button",
      { class: "btn btn-quiet", type: "button", lang: other, aria: { label: `${t("language.label")}: ${t("language.other")}` }, onclick: () => setLanguage(other) },
      t("language.other"),
    ),
    h("span", null, t("footer")),
  );
}

function show(view, render) {
  state.render = render;
  el.main.setAttribute("aria-busy", "false");
  el.main.replaceChildren(view);
  renderChrome();
}

function stopRefresh() {
  if (state.refreshTimer) window.clearInterval(state.refreshTimer);
  state.refreshTimer = 0;
}

// --- sign-in -----------------------------------------------------------------------------------

function showSignIn(notice = "") {
  const values = { username: "" };
  const render = () => {
    const t = state.t;
    const title = h("h1", { id: "signin-title" }, t("signIn.title"));
    const error = h("div", { class: "form-error", id: "signin-error", role: "alert" });
    const clear = () => {
      error.replaceChildren();
      username.removeAttribute("aria-invalid");
      password.removeAttribute("aria-invalid");
    };
    const username = h("input", {
      id: "username",
      name: "username",
      type: "email",
      autocomplete: "username",
      autocapitalize: "off",
      spellcheck: "false",
      required: true,
      aria: { describedby: "signin-error" },
      oninput: clear,
    });
    username.value = values.username;
    const password = h("input", {
      id: "password",
      name: "password",
      type: "password",
      autocomplete: "current-password",
      required: true,
      aria: { describedby: "signin-error" },
      oninput: clear,
    });
    const reveal = h("input", {
      id: "show-password",
      type: "checkbox",
      onchange: () => {
        password.type = reveal.checked ? "text" : "password";
      },
    });
    const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, t("signIn.submit"));
    const fail = (message, field) => {
      error.replaceChildren(icon(ICONS.alert), h("span", null, message));
      field.setAttribute("aria-invalid", "true");
      field.focus();
    };
    const form = h(
      "form",
      { novalidate: true, aria: { labelledby: "signin-title" } },
      error,
      h("div", { class: "field" }, h("label", { for: "username" }, t("signIn.username")), username),
      h("div", { class: "field" }, h("label", { for: "password" }, t("signIn.password")), password),
      h("div", { class: "check" }, reveal, h("label", { for: "show-password" }, t("signIn.showPassword"))),
      submit,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      values.username = username.value.trim();
      if (!values.username) return fail(t("signIn.empty"), username);
      if (!password.value) return fail(t("signIn.empty"), password);
      const restore = busyButton(submit, t("signIn.checking"));
      try {
        const answer = await api.post("/staff/sign-in", { username: values.username, password: password.value });
        const expiresIn = Number(answer.expires_in) || 3600;
        store.write(SESSION_KEY, {
          token: answer.id_token,
          practiceId: answer.practice_id,
          role: answer.role,
          username: values.username,
          expiresAt: Date.now() + expiresIn * 1000,
        });
        state.lastWrite = 0;
        noteActivity();
        route();
      } catch (err) {
        restore();
        password.value = "";
        const message = err.status === 401 && !t.has(`errors.${err.code}`) ? t("signIn.wrong") : friendlyError(err, t, state.lang);
        fail(message, err.status === 401 ? password : username);
      }
    });
    show(
      h(
        "section",
        { class: "card auth-card", aria: { labelledby: "signin-title" } },
        title,
        h("p", { class: "lede" }, t("signIn.lede")),
        h("div", { class: "notice", role: "status" }, notice),
        form,
      ),
      render,
    );
    if (notice) focusHeading(title);
    else username.focus();
  };
  render();
}

// --- the day sheet -------------------------------------------------------------------------------

/** A resource's name from the row ({kind: {name}} or {kind}_name); null when the API gave only an id. */
function nameOf(appt, kind) {
  const value = appt[kind];
  if (value && typeof value === "object" && value.name) return String(value.name);
  if (typeof value === "string" && value) return value;
  return appt[`${kind}_name`] ? String(appt[`${kind}_name`]) : null;
}

/** The name, or the bare id shown as an identifier (muted, one line) so the row still says which one. */
function resourceCell(appt, kind) {
  const name = nameOf(appt, kind);
  if (name) return name;
  const id = appt[`${kind}_id`] ? String(appt[`${kind}_id`]) : "";
  return id ? h("span", { class: "raw-id", title: id }, id) : "—";
}

function statusKey(status) {
  return status && Object.prototype.hasOwnProperty.call(STRINGS.en.status, status) ? status : "unknown";
}

function showDay() {
  let sheet = null; // the API's answer for state.date
  let failure = "";
  let loadedAt = null;
  let loading = false;

  let bodyEl = null;
  let updatedEl = null;

  // Only the summary and table are redrawn by a background refresh, so focus and the date field stay put.
  const fillBody = () => {
    const t = state.t;
    const zone = (state.practice && state.practice.zone) || "UTC";
    bodyEl.setAttribute("aria-busy", loading ? "true" : "false");
    if (failure) {
      bodyEl.replaceChildren(
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, failure)),
        h("button", { class: "btn btn-secondary", type: "button", onclick: () => load("title") }, t("day.retry")),
      );
    } else if (!sheet) {
      bodyEl.replaceChildren(
        h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), t("day.loading")),
        h("div", { class: "skeleton", aria: { hidden: "true" } }),
      );
    } else {
      bodyEl.replaceChildren(summary(t, sheet.appointments), sheetTable(t, { ...sheet, appointments: sortRows(sheet.appointments, state.sort) }, zone, () => load(false, true)));
    }
    updatedEl.textContent = loadedAt && sheet ? ` · ${t("day.updated", { time: loadedAt })}` : "";
  };

  // focus: "title" (a new view), the id of a toolbar control (keep the keyboard where it was), or nothing.
  const render = (focus) => {
    const t = state.t;
    const zone = (state.practice && state.practice.zone) || "UTC";
    const day = state.date || (sheet && sheet.date) || todayIn(zone);
    const isToday = day === todayIn(zone);
    const title = h("h1", { id: "day-title" }, dayLabel(day, state.lang));
    const dateInput = h("input", {
      id: "day-date",
      type: "date",
      value: day,
      onchange: () => {
        if (isIsoDay(dateInput.value)) go(dateInput.value, "day-date");
      },
    });
    const toolbar = h(
      "div",
      { class: "day-toolbar", role: "group", aria: { label: t("day.chooseDay") } },
      h("button", { id: "day-prev", class: "btn btn-secondary icon-btn", type: "button", aria: { label: t("day.previous") }, title: t("day.previous"), onclick: () => go(addDays(day, -1), "day-prev") }, icon(ICONS.left)),
      h("label", { class: "visually-hidden", for: "day-date" }, t("day.pickDate")),
      dateInput,
      h("button", { id: "day-next", class: "btn btn-secondary icon-btn", type: "button", aria: { label: t("day.next") }, title: t("day.next"), onclick: () => go(addDays(day, 1), "day-next") }, icon(ICONS.right)),
      h("button", { id: "day-today", class: "btn btn-quiet", type: "button", aria: { disabled: isToday ? "true" : null }, onclick: () => go(todayIn(zone), "title") }, t("day.today")),
    );
    bodyEl = h("div", { class: "day-body" });
    updatedEl = h("span", { class: "updated" });
    fillBody();

    const abbr = partsInZone(`${day}T12:00:00Z`, zone, state.lang);
    show(
      h(
        "div",
        { class: "stack" },
        sectionNav(deskContext(), "day"),
        h(
          "div",
          { class: "day-head" },
          h(
            "div",
            { class: "day-heading" },
            h("p", { class: "eyebrow" }, t("day.title"), isToday ? h("span", { class: "today-pill" }, t("day.today")) : ""),
            title,
            h(
              "p",
              { class: "hint zone-line" },
              icon(ICONS.clock),
              h("span", null, t("day.zone", { zone: zoneName(zone, state.lang), abbr: abbr ? abbr.zoneShort : zone }), updatedEl),
            ),
          ),
          toolbar,
        ),
        sortControl(deskContext(), state.sort, (key) => {
          state.sort = key;
          fillBody();
        }),
        bodyEl,
      ),
      render,
    );
    if (focus === "title") focusHeading(title);
    else if (focus) document.getElementById(focus)?.focus();
  };

  function go(date, focus) {
    noteActivity();
    state.date = date;
    rememberDate(date);
    sheet = null;
    load(focus);
  }

  let latest = 0; // only the newest request may draw (days can be clicked faster than they load)

  async function load(focus, quiet = false) {
    const s = currentSession();
    if (!s) return;
    const mine = ++latest;
    loading = true;
    failure = "";
    if (!quiet) render(focus === "title" ? "" : focus);
    try {
      const practiceId = s.practiceId || config.practiceId;
      const query = state.date ? `?date=${encodeURIComponent(state.date)}` : "";
      const [answer, me] = await Promise.all([
        api.get(`/practices/${encodeURIComponent(practiceId)}/day${query}`, { auth: true }),
        state.me ? Promise.resolve(state.me) : api.get("/staff/me", { auth: true }).catch((err) => (err.status === 401 ? Promise.reject(err) : null)),
      ]);
      if (mine !== latest) return;
      state.me = me || state.me;
      const appointments = Array.isArray(answer.appointments) ? answer.appointments.slice() : [];
      appointments.sort((a, b) => String(a.start).localeCompare(String(b.start)));
      sheet = { ...answer, appointments };
      state.practice = answer.practice || state.practice;
      loadedAt = new Intl.DateTimeFormat(state.lang === "es" ? "es-US" : "en-US", { hour: "numeric", minute: "2-digit" }).format(new Date());
    } catch (err) {
      if (err.status === 401 || mine !== latest) return; // 401: endSession already showed the sign-in form
      failure = friendlyError(err, state.t, state.lang);
    }
    if (mine !== latest || !currentSession() || state.render !== render) return;
    loading = false;
    if (quiet && bodyEl && bodyEl.isConnected) fillBody();
    else render(focus);
  }

  stopRefresh();
  state.refreshTimer = window.setInterval(() => {
    if (document.visibilityState === "visible" && currentSession() && sheet) load(false, true);
  }, REFRESH_MS);
  load("title");
}

function summary(t, appointments) {
  const count = (set) => appointments.filter((a) => set.has(a.status)).length;
  const tiles = [
    ["total", appointments.length, "tile-total"],
    ["confirmed", count(CONFIRMED), "tile-confirmed"],
    ["unconfirmed", count(UNCONFIRMED), "tile-unconfirmed"],
    ["cancelled", count(CANCELLED), "tile-cancelled"],
  ];
  return h(
    "dl",
    { class: "summary" },
    tiles.map(([key, value, cls]) => h("div", { class: `tile ${cls}`, dataset: { count: key } }, h("dt", null, t(`day.${key}`)), h("dd", null, String(value)))),
  );
}

function sheetTable(t, sheet, zone, reload) {
  if (!sheet.appointments.length) {
    return h(
      "section",
      { class: "card empty", aria: { labelledby: "empty-title" } },
      h("div", { class: "empty-icon", aria: { hidden: "true" } }, icon(ICONS.calendar)),
      h("h2", { id: "empty-title" }, t("day.emptyTitle")),
      h("p", { class: "muted" }, t("day.emptyBody")),
    );
  }
  const cols = ["time", "patient", "provider", "operatory", "status"];
  // Explicit roles keep the table a table for screen readers when narrow screens restyle rows as cards.
  return h(
    "div",
    { class: "table-wrap card" },
    h(
      "table",
      { class: "sheet", role: "table" },
      h("caption", { class: "visually-hidden" }, t("day.caption", { date: dayLabel(sheet.date, state.lang) })),
      h(
        "thead",
        { role: "rowgroup" },
        h(
          "tr",
          { role: "row" },
          cols.map((c) => h("th", { scope: "col", role: "columnheader", class: `col-${c}` }, t(`day.${c}`))),
          h("th", { scope: "col", role: "columnheader", class: "col-actions" }, deskT(state.lang)("actions.label")),
        ),
      ),
      h(
        "tbody",
        { role: "rowgroup" },
        sheet.appointments.map((a) => {
          const parts = partsInZone(a.start, a.zone || zone, state.lang);
          const minutes = Math.round((new Date(a.end) - new Date(a.start)) / 60000);
          const status = statusKey(a.status);
          return h(
            "tr",
            { role: "row", class: `row-${status}`, dataset: { appointmentId: String(a.id || "") } },
            h(
              "td",
              { role: "cell", class: "col-time" },
              h("time", { datetime: a.start }, parts ? parts.time : ""),
              minutes > 0 ? h("span", { class: "duration" }, t("day.minutes", { minutes })) : "",
            ),
            h(
              "td",
              { role: "cell", class: "col-patient" },
              h("span", { class: "patient-name" }, a.patient && a.patient.name ? a.patient.name : t("day.unknownPatient")),
              nameOf(a, "type") ? h("span", { class: "visit-type" }, nameOf(a, "type")) : "",
            ),
            h("td", { role: "cell", class: "col-provider", dataset: { label: t("day.provider") } }, resourceCell(a, "provider")),
            h("td", { role: "cell", class: "col-operatory", dataset: { label: t("day.operatory") } }, resourceCell(a, "operatory")),
            h("td", { role: "cell", class: "col-status" }, h("span", { class: `badge badge-${status}` }, t(`status.${status}`))),
            h("td", { role: "cell", class: "col-actions" }, actionsCell(deskContext(), a, reload)),
          );
        }),
      ),
    ),
  );
}

// --- start -------------------------------------------------------------------------------------

async function loadPracticeName() {
  if (!config.practiceId || state.practice) return;
  try {
    const p = await api.get(`/public/practices/${encodeURIComponent(config.practiceId)}`);
    if (!state.practice && p && p.name) {
      state.practice = { id: p.id, name: p.name, zone: p.zone };
      renderChrome();
    }
  } catch {
    // The sign-in form works without the practice's name.
  }
}

function boot() {
  renderChrome();
  loadPracticeName();
  const s = currentSession();
  if (!s) return showSignIn();
  if (!state.lastActive || Date.now() - state.lastActive >= IDLE_MS) return endSession("idle");
  if (s.expiresAt && Date.now() >= s.expiresAt) return endSession("expired");
  route();
}

// --- desk sections (desk.js and one module per section) ---------------------------------------------

function deskContext() {
  const s = currentSession() || {};
  return {
    api,
    apiBase: config.apiBase,
    token: () => (currentSession() || {}).token || null,
    onUnauthorized: () => endSession("expired"),
    // Read when a view draws, so a view drawn again after a language change speaks the new language.
    get lang() {
      return state.lang;
    },
    practiceId: s.practiceId || config.practiceId,
    zone: (state.practice && state.practice.zone) || "UTC",
    role: (state.me && state.me.role) || s.role || "",
    noteActivity,
    show: (view, render) => {
      stopRefresh();
      show(view, render);
    },
  };
}

function route() {
  if (!currentSession()) return showSignIn();
  noteActivity();
  const [name, arg] = (window.location.hash || "").replace(/^#/, "").split("/");
  const section = currentSection();
  if (section === "patients") return showPatients(deskContext(), arg ? decodeURIComponent(arg) : "");
  if (section === "inbox") return showInbox(deskContext());
  if (section === "audit") return showAudit(deskContext());
  if (section === "settings") return showSettings(deskContext());
  if (section === "analytics") return showAnalytics(deskContext());
  if (section === "worklists") return showWorklists(deskContext());
  if (name === "day" && isIsoDay(arg)) {
    state.date = arg; // a worklist row's "#day/<date>" opens that day's sheet
    rememberDate(arg);
    window.history.replaceState(null, "", `${window.location.search}#day`);
  } else if (name && name !== "day") window.history.replaceState(null, "", "#day");
  return showDay();
}

window.addEventListener("hashchange", route);

boot();
