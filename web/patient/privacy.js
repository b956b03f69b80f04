// Privacy (#privacy, #privacy/<patient id>): for each patient of the session, the access log (who looked at
// or changed the record: staff by name and role, you, automatic messages and links; when, in the practice's
// zone; what, in words) newest first with "show more"; and a download of the record's data as a FHIR Bundle
// or as CSV files in a zip.
//
// The API is /patient/patients/{id}/access-log?cursor=&only_others= and /patient/patients/{id}/export?format=.
// The log's words come from privacy-strings.js, keyed by the phrase and actor kinds the API names.

import { friendlyError } from "../common/api.js";
import { busyButton, focusHeading, h, icon, ICONS, translator } from "../common/dom.js";
import { partsInZone, todayIn, zoneName } from "../common/format.js";
import { chosenPatient, ensureStyles, firstName, keepFocus, loadPeople, pageLang, patientPicker, stillOn } from "./people.js";
import { STRINGS } from "./privacy-strings.js";

const SECTION = "privacy";
const FORMATS = {
  fhir: { accept: "application/fhir+json", type: "application/fhir+json", ext: "fhir.json" },
  csv: { accept: "application/zip", type: "application/zip", ext: "csv.zip" },
};
let opened = 0; // each opening of the section; answers for an earlier one are dropped

export async function showSection(ctx) {
  const mine = ++opened;
  const alive = () => mine === opened && stillOn(SECTION);
  const s = {
    people: null,
    patient: null,
    zone: (ctx.practice && ctx.practice.zone) || "UTC",
    entries: null, // the log so far
    cursor: null, // the next page's cursor, null at the end
    onlyOthers: false,
    loading: false,
    logError: null,
    peopleError: null,
    downloads: {}, // format -> {done: file name} | {error}
  };
  const tr = () => translator(STRINGS, pageLang());

  function isSelf() {
    return s.patient && s.patient.relation === "self";
  }

  function your(t) {
    return isSelf() || !s.patient ? t("yours") : t("theirs", { name: firstName(s.patient.name) });
  }

  // --- words for one entry -------------------------------------------------------------------

  function whoText(t, who) {
    const kind = who && who.kind;
    if (kind === "you") return t("who.you");
    if (kind === "patient") return t("who.patient", { name: s.patient ? firstName(s.patient.name) : "" });
    if (kind === "guardian" || kind === "someone_else") return t(`who.${kind}`);
    if (kind === "staff") {
      const role = who.role && t.has(`roles.${who.role}`) ? t(`roles.${who.role}`) : "";
      if (who.name && role) return t("who.staffNamed", { name: who.name, role });
      if (who.name) return t("who.staffNamedOnly", { name: who.name });
      if (role) return t("who.staffRole", { role });
      return t("who.staff");
    }
    if (kind === "job") return t(t.has(`jobs.${who.job}`) ? `jobs.${who.job}` : "jobs.other");
    if (kind === "link") return t(t.has(`links.${who.link}`) ? `links.${who.link}` : "links.message");
    return t("who.unknown");
  }

  function whatText(t, what) {
    const key = t.has(`what.${what}`) ? `what.${what}` : "what.changed_something";
    return t(key, { your: your(t) });
  }

  function whenText(t, at) {
    const parts = partsInZone(at, s.zone, pageLang());
    return parts ? t("log.when", { date: parts.dateLong, time: parts.time, zone: parts.zoneShort }) : at;
  }

  // --- drawing ---------------------------------------------------------------------------------

  function render() {
    const t = tr();
    const title = h("h1", { id: "privacy-title" }, t("title"));
    const parts = [ctx.nav(SECTION), title];
    if (s.people) parts.push(patientPicker(SECTION, s.people, s.patient, { legend: t("whose"), you: t("you") }));
    parts.push(h("p", { class: "lede" }, t("lede")));
    if (s.peopleError) {
      parts.push(
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, friendlyError(s.peopleError, t, pageLang()))),
        h("button", { class: "btn btn-secondary", type: "button", id: "privacy-retry", onclick: start }, t("retry")),
      );
    } else if (!s.patient) {
      parts.push(h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), t("loading")));
    } else {
      parts.push(logCard(t), downloadCard(t));
    }
    ctx.show(h("div", { class: "stack privacy-page", id: "privacy" }, parts), render);
  }

  function logCard(t) {
    const toggle = h("input", {
      type: "checkbox",
      id: "log-only-others",
      checked: s.onlyOthers,
      onchange: (e) => {
        s.onlyOthers = e.currentTarget.checked;
        loadLog(false);
      },
    });
    const list = h("ol", { class: "access-list", id: "access-list", aria: { busy: s.loading ? "true" : "false", labelledby: "log-title" } });
    for (const [i, e] of (s.entries || []).entries()) {
      list.append(
        h(
          "li",
          { class: `access-entry access-${e.who && e.who.kind}`, id: `access-${i}`, tabindex: "-1" },
          h("p", { class: "access-what" }, h("strong", null, whoText(t, e.who)), " ", whatText(t, e.what)),
          h("p", { class: "access-when" }, icon(ICONS.clock), h("time", { datetime: e.at }, whenText(t, e.at))),
        ),
      );
    }
    const status = h("p", { class: "hint log-status", id: "log-status", role: "status" });
    const body = [list, status];
    if (s.logError) {
      body.unshift(h("div", { class: "form-error", role: "alert", id: "log-error" }, icon(ICONS.alert), h("span", null, friendlyError(s.logError, t, pageLang()))));
      body.push(h("button", { class: "btn btn-secondary", type: "button", id: "log-retry", onclick: () => loadLog(Boolean(s.entries && s.entries.length)) }, t("retry")));
    } else if (s.entries === null || (s.loading && !s.entries.length)) {
      status.append(h("span", { class: "spinner", aria: { hidden: "true" } }), " ", t("loading"));
    } else if (!s.entries.length) {
      status.textContent = s.onlyOthers ? t("log.emptyOthers") : t("log.empty");
    } else {
      status.textContent = `${t("log.shown", { n: s.entries.length })}${s.cursor ? "" : ` ${t("log.end")}`}`;
      if (s.cursor) {
        body.push(
          h(
            "button",
            { class: "btn btn-secondary btn-block", type: "button", id: "log-more", disabled: s.loading, onclick: (e) => loadMore(e.currentTarget) },
            s.loading ? t("log.loadingMore") : t("log.more"),
          ),
        );
      }
    }
    return h(
      "section",
      { class: "card access-card", aria: { labelledby: "log-title" } },
      h("h2", { id: "log-title" }, t("log.title", { your: your(t) })),
      h("p", { class: "hint" }, t("log.lede", { zone: zoneName(s.zone, pageLang()) })),
      h("label", { class: "choice log-filter", for: "log-only-others" }, toggle, h("span", { class: "choice-text" }, t("log.onlyOthers"))),
      body,
    );
  }

  function downloadCard(t) {
    const buttons = Object.keys(FORMATS).map((fmt) => {
      const state = s.downloads[fmt] || {};
      const id = `download-${fmt}`;
      return h(
        "div",
        { class: "download" },
        h("button", { class: "btn btn-secondary btn-block", type: "button", id, aria: { describedby: `${id}-hint` }, onclick: (e) => download(fmt, e.currentTarget) }, icon(ICONS.download), t(`download.${fmt}`)),
        h("p", { class: "hint", id: `${id}-hint` }, t(`download.${fmt}Hint`)),
        state.error ? h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, friendlyError(state.error, t, pageLang()))) : "",
      );
    });
    const done = Object.values(s.downloads).find((x) => x.done);
    return h(
      "section",
      { class: "card download-card", aria: { labelledby: "download-title" } },
      h("h2", { id: "download-title" }, t("download.title", { your: your(t) })),
      h("p", { class: "hint" }, t("download.lede")),
      buttons,
      h("p", { class: "flash flash-ok", id: "download-status", role: "status" }, done ? [icon(ICONS.check), h("span", null, t("download.done", { file: done.done }))] : ""),
      h("p", { class: "hint" }, t("download.note")),
    );
  }

  // --- actions ---------------------------------------------------------------------------------

  async function fetchPage(cursor) {
    const query = new URLSearchParams();
    if (cursor) query.set("cursor", cursor);
    if (s.onlyOthers) query.set("only_others", "true");
    const suffix = query.toString() ? `?${query}` : "";
    return ctx.api.get(`/patient/patients/${encodeURIComponent(s.patient.id)}/access-log${suffix}`, { auth: true });
  }

  /** The log from its newest entry (more: false), or its next page (more: true). */
  async function loadLog(more) {
    const patient = s.patient;
    const before = more && s.entries ? s.entries.length : 0;
    s.loading = true;
    s.logError = null;
    if (!more) {
      s.entries = null;
      s.cursor = null;
    }
    keepFocus(render, "log-title");
    try {
      const page = await fetchPage(more ? s.cursor : null);
      if (!alive() || s.patient !== patient) return;
      s.zone = page.zone || s.zone;
      s.entries = [...(more ? s.entries || [] : []), ...(Array.isArray(page.entries) ? page.entries : [])];
      s.cursor = page.cursor || null;
    } catch (err) {
      if (err.status === 401) return ctx.sessionEnded();
      if (!alive()) return;
      s.logError = err;
    }
    s.loading = false;
    if (more && !s.logError && s.entries.length > before) {
      render();
      focusHeading(document.getElementById(`access-${before}`)); // the first new entry, for keyboard users
    } else {
      keepFocus(render, "log-title");
    }
  }

  function loadMore(button) {
    busyButton(button, tr()("log.loadingMore"));
    loadLog(true);
  }

  async function download(fmt, button) {
    const t = tr();
    const f = FORMATS[fmt];
    const patient = s.patient;
    const restore = busyButton(button, t("download.preparing"));
    s.downloads = {};
    try {
      const blob = await ctx.api.get(`/patient/patients/${encodeURIComponent(patient.id)}/export?format=${fmt}`, {
        auth: true,
        blob: true,
        accept: f.accept,
        timeoutMs: 60000,
      });
      const file = `chairside-${patient.id.replace(/[^A-Za-z0-9._-]/g, "-")}-${todayIn(s.zone)}.${f.ext}`;
      const url = URL.createObjectURL(new Blob([blob], { type: f.type }));
      const link = h("a", { href: url, download: file, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 60000);
      if (!alive()) return;
      s.downloads = { [fmt]: { done: file } };
    } catch (err) {
      if (err.status === 401) return ctx.sessionEnded();
      restore();
      if (!alive()) return;
      s.downloads = { [fmt]: { error: err } };
    }
    keepFocus(render, `download-${fmt}`);
  }

  async function start() {
    s.peopleError = null;
    render();
    try {
      const found = await loadPeople(ctx.api);
      if (!alive()) return;
      s.people = found.patients;
      s.patient = chosenPatient(s.people, ctx.argument);
      if (!s.patient) throw Object.assign(new Error("no patients"), { status: 404, code: "status_404" });
    } catch (err) {
      if (err.status === 401) return ctx.sessionEnded();
      if (!alive()) return;
      s.peopleError = err;
      keepFocus(render, "privacy-title");
      return;
    }
    loadLog(false);
  }

  await ensureStyles();
  if (!alive()) return;
  render();
  focusHeading(document.getElementById("privacy-title"));
  start();
}
