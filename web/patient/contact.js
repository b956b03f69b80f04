// Contact preferences (#contact, #contact/<patient id>): for each patient of the session, which channels
// each kind of message may use, the hours messages may arrive, and the language; with the state of every
// address on file. An SMS opt-out (the person texted STOP) or a carrier block is shown with how to opt back
// in, and the text choices stay off while it lasts: only the person's START turns texts back on, never this
// page. A suppressed email (bounces, a complaint) is shown with what to do.
//
// The API is /patient/patients/{id}/preferences (GET, PUT); it takes the patient from the path, never the body.

import { friendlyError } from "../common/api.js";
import { busyButton, focusHeading, h, icon, ICONS, translator } from "../common/dom.js";
import { displayPhone, telHref, zoneName } from "../common/format.js";
import { STRINGS } from "./contact-strings.js";
import { chosenPatient, ensureStyles, firstName, keepFocus, loadPeople, pageLang, patientPicker, stillOn } from "./people.js";

const SECTION = "contact";
const CHANNELS = ["email", "sms"];
let opened = 0; // each opening of the section; answers for an earlier one are dropped

export async function showSection(ctx) {
  const mine = ++opened;
  const alive = () => mine === opened && stillOn(SECTION);
  const s = {
    people: null, // [{id, name, relation}]
    patient: null, // the one shown
    record: null, // the API's contact record
    draft: null, // {channels: {type: {email, sms}}, start, end, language}: the form as the person left it
    loadError: null,
    saveError: null,
    flash: "",
  };
  const tr = () => translator(STRINGS, pageLang());

  function practicePhone() {
    return (ctx.practice && ctx.practice.phone) || "";
  }

  function isSelf() {
    return s.patient && s.patient.relation === "self";
  }

  // --- the state of the addresses ---------------------------------------------------------------

  function addressesOf(channel) {
    return ((s.record && s.record.addresses) || []).filter((a) => a.channel === channel);
  }

  /** "none" (no address), "off" (every address blocked: opted out, carrier-blocked, suppressed) or "on". */
  function channelState(channel) {
    const list = addressesOf(channel);
    if (!list.length) return "none";
    return list.some((a) => a.status === "active") ? "on" : "off";
  }

  function ownUnsubscribed() {
    const own = addressesOf("email").find((a) => a.relation === "self");
    return new Set((own && Array.isArray(own.unsubscribed) && own.unsubscribed) || []);
  }

  function draftFrom(record) {
    const prefs = (record && record.preferences) || {};
    const chosen = prefs.channels || {};
    const unsubscribed = ownUnsubscribed();
    const channels = {};
    for (const type of record.message_types || []) {
      const c = chosen[type] || {};
      channels[type] = { email: c.email !== false && !unsubscribed.has(type), sms: c.sms !== false };
    }
    const hours = record.sending_hours || { start: "08:00", end: "21:00" };
    return { channels, start: hours.start, end: hours.end, language: record.language || "en" };
  }

  // --- drawing ---------------------------------------------------------------------------------

  function render() {
    const t = tr();
    const name = s.patient ? firstName(s.patient.name) : "";
    const title = h("h1", { id: "contact-title" }, s.patient && !isSelf() ? t("titleFor", { name }) : t("title"));
    const parts = [ctx.nav(SECTION), title];
    if (s.people) {
      parts.push(patientPicker(SECTION, s.people, s.patient, { legend: t("whose"), you: t("you") }));
    }
    parts.push(h("p", { class: "lede" }, s.patient && !isSelf() ? t("ledeFor", { name }) : t("lede")));
    parts.push(
      h(
        "div",
        { class: "flash flash-ok", id: "contact-flash", role: "status", tabindex: "-1" },
        s.flash ? [icon(ICONS.check), h("span", null, s.flash)] : "",
      ),
    );
    if (s.loadError) {
      parts.push(
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, friendlyError(s.loadError, t, pageLang()))),
        h("button", { class: "btn btn-secondary", type: "button", id: "contact-retry", onclick: load }, t("retry")),
      );
    } else if (!s.record) {
      parts.push(h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), t("loading")));
    } else {
      parts.push(whereCard(t), preferencesForm(t));
    }
    ctx.show(h("div", { class: "stack privacy-page", id: "contact", aria: { busy: s.record || s.loadError ? "false" : "true" } }, parts), render);
  }

  function whereCard(t) {
    const addresses = s.record.addresses || [];
    const number = s.record.sms_number || displayPhone(practicePhone());
    const phone = practicePhone();
    const items = addresses.map((a) => {
      const label = a.channel === "sms" ? t("where.phone", { number: displayPhone(a.address) }) : t("where.email", { address: a.address });
      const lines = [];
      let tone = "ok";
      if (a.status === "opted_out" || a.status === "sms_blocked_opted_out") {
        tone = "warn";
        lines.push(h("p", { class: "address-state" }, t(a.status === "opted_out" ? "where.optedOut" : "where.blocked")));
        lines.push(h("p", { class: "address-help" }, t("where.startHelp", { number })));
      } else if (a.status === "suppressed") {
        tone = "warn";
        lines.push(h("p", { class: "address-state" }, t("where.suppressed")));
        lines.push(
          h(
            "p",
            { class: "address-help" },
            phone ? [t("where.suppressedHelp", { phone: displayPhone(phone) }), " ", h("a", { href: telHref(phone), class: "tel-inline" }, displayPhone(phone))] : t("where.suppressedHelpNoPhone"),
          ),
        );
      } else {
        lines.push(h("p", { class: "address-state" }, t("where.active")));
      }
      const unsubscribed = a.channel === "email" && Array.isArray(a.unsubscribed) ? a.unsubscribed : [];
      if (unsubscribed.length && a.status !== "suppressed") {
        lines.push(h("p", { class: "address-help" }, t("where.unsubscribed", { types: unsubscribed.map((x) => t(`types.${x}`)).join(", ") })));
      }
      return h(
        "li",
        { class: `address address-${tone}` },
        h("span", { class: "address-icon", aria: { hidden: "true" } }, icon(a.channel === "sms" ? ICONS.message : ICONS.mail)),
        h(
          "div",
          { class: "address-body" },
          h("p", { class: "address-name" }, h("strong", null, label), " ", h("span", { class: "address-owner" }, a.relation === "self" ? t("where.mine") : t("where.guardian"))),
          lines,
        ),
      );
    });
    return h(
      "section",
      { class: "card", aria: { labelledby: "where-title" } },
      h("h2", { id: "where-title" }, t("where.title")),
      items.length ? h("ul", { class: "address-list" }, items) : h("p", { class: "muted" }, phone ? t("where.none", { phone: displayPhone(phone) }) : t("where.noneNoPhone")),
    );
  }

  function channelBox(t, type, channel) {
    const state = channelState(channel);
    const id = `pref-${type}-${channel}`;
    const hintId = `${id}-hint`;
    const usable = state === "on";
    const input = h("input", {
      type: "checkbox",
      id,
      name: id,
      checked: usable && s.draft.channels[type][channel],
      disabled: !usable,
      aria: { describedby: usable ? null : hintId },
      onchange: (e) => {
        s.draft.channels[type][channel] = e.currentTarget.checked;
        s.flash = "";
        const none = document.getElementById(`pref-${type}-none`);
        if (none) none.textContent = nothingChosen(type) ? t("types.none") : "";
      },
    });
    const hint = usable ? "" : h("span", { class: "choice-sub", id: hintId }, t(state === "none" ? (channel === "sms" ? "channels.noSms" : "channels.noEmail") : channel === "sms" ? "channels.smsOff" : "channels.emailOff"));
    return h("label", { class: `choice channel${usable ? "" : " channel-off"}`, for: id }, input, h("span", { class: "choice-text" }, h("span", null, t(`channels.${channel}`)), hint));
  }

  function nothingChosen(type) {
    return CHANNELS.every((c) => channelState(c) !== "on" || !s.draft.channels[type][c]);
  }

  function preferencesForm(t) {
    const zone = s.record.zone || (ctx.practice && ctx.practice.zone) || "";
    const zoneText = zoneName(zone, pageLang());
    const error = h("div", { class: "form-error", id: "contact-error", role: "alert", tabindex: "-1" });
    if (s.saveError) error.append(icon(ICONS.alert), h("span", null, saveMessage(t, s.saveError)));
    const types = (s.record.message_types || []).map((type) =>
      h(
        "fieldset",
        { class: "choices pref-type", aria: { describedby: `pref-${type}-none` } },
        h("legend", null, t(`types.${type}`)),
        h("div", { class: "channel-row" }, CHANNELS.map((c) => channelBox(t, type, c))),
        h("p", { class: "hint pref-none", id: `pref-${type}-none`, aria: { live: "polite" } }, nothingChosen(type) ? t("types.none") : ""),
      ),
    );
    const start = h("input", { type: "time", id: "hours-start", name: "start", value: s.draft.start, required: true, step: "900", aria: { describedby: "hours-hint" } });
    const end = h("input", { type: "time", id: "hours-end", name: "end", value: s.draft.end, required: true, step: "900", aria: { describedby: "hours-hint" } });
    start.addEventListener("input", () => (s.draft.start = start.value));
    end.addEventListener("input", () => (s.draft.end = end.value));
    const fromPatient = s.record.sending_hours_source === "patient";
    const hours = h(
      "fieldset",
      { class: "choices pref-hours" },
      h("legend", null, t("hours.legend")),
      h(
        "div",
        { class: "hours-row" },
        h("div", { class: "field" }, h("label", { for: "hours-start" }, t("hours.from")), start),
        h("div", { class: "field" }, h("label", { for: "hours-end" }, t("hours.until")), end),
      ),
      h("p", { class: "hint", id: "hours-hint" }, t("hours.hint", { zone: zoneText }), " ", fromPatient ? t("hours.yours") : t("hours.practice")),
      fromPatient ? h("button", { class: "btn btn-quiet", type: "button", id: "hours-reset", onclick: (e) => save(e.currentTarget, { sending_hours: null }) }, t("hours.usePractice")) : "",
    );
    const language = h(
      "fieldset",
      { class: "choices pref-language" },
      h("legend", null, t("language.legend")),
      ["en", "es"].map((code) =>
        h(
          "label",
          { class: "choice" },
          h("input", {
            type: "radio",
            name: "language",
            value: code,
            checked: s.draft.language === code,
            onchange: () => (s.draft.language = code),
          }),
          h("span", { class: "choice-text" }, t(`language.${code}`)),
        ),
      ),
    );
    const zoneNote = h(
      "div",
      { class: "pref-zone" },
      h("h3", null, t("zone.label")),
      h("p", { class: "hint" }, icon(ICONS.clock), h("span", null, s.record.zone_is_patients ? t("zone.yours", { zone: zoneText }) : t("zone.practice", { zone: zoneText }))),
    );
    const submit = h("button", { class: "btn btn-primary btn-block", type: "submit", id: "contact-save" }, t("save"));
    const form = h(
      "form",
      { class: "card pref-form", novalidate: true, aria: { labelledby: "prefs-title" } },
      h("h2", { id: "prefs-title" }, t("choices")),
      h("p", { class: "hint" }, t("types.legendHint")),
      error,
      types,
      hours,
      language,
      zoneNote,
      submit,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!s.draft.start || !s.draft.end) {
        s.saveError = { code: "empty_time" };
        render();
        focusHeading(document.getElementById("contact-error"));
        return;
      }
      save(submit, changes());
    });
    return form;
  }

  /** What the person changed, as the API takes it (a channel the page cannot use is left as it is). */
  function changes() {
    const body = { channels: {} };
    for (const [type, choice] of Object.entries(s.draft.channels)) {
      const one = {};
      for (const c of CHANNELS) if (channelState(c) === "on") one[c] = choice[c];
      if (Object.keys(one).length) body.channels[type] = one;
    }
    const hours = s.record.sending_hours || {};
    if (s.draft.start !== hours.start || s.draft.end !== hours.end) body.sending_hours = { start: s.draft.start, end: s.draft.end };
    if (s.draft.language !== s.record.language) body.language = s.draft.language;
    return body;
  }

  function saveMessage(t, err) {
    if (err.code === "empty_time") return t("errors.emptyTime");
    if (err.code === "invalid_preferences" && err.message) {
      const msg = String(err.message);
      return t("errors.invalid_preferences", { message: msg.charAt(0).toUpperCase() + msg.slice(1) + (/[.!?]$/.test(msg) ? "" : ".") });
    }
    return friendlyError(err, t, pageLang());
  }

  async function save(button, body) {
    const t = tr();
    const restore = busyButton(button, t("saving"));
    const patient = s.patient;
    try {
      const record = await ctx.api.put(`/patient/patients/${encodeURIComponent(patient.id)}/preferences`, body, { auth: true });
      if (!alive() || s.patient !== patient) return;
      s.record = record;
      s.draft = draftFrom(record);
      s.saveError = null;
      s.flash = isSelf() ? t("savedSelf") : t("saved", { name: firstName(patient.name) });
      render();
      focusHeading(document.getElementById("contact-flash"));
    } catch (err) {
      if (err.status === 401) return ctx.sessionEnded();
      restore();
      if (!alive()) return;
      s.saveError = err;
      s.flash = "";
      render();
      focusHeading(document.getElementById("contact-error"));
    }
  }

  // --- loading ---------------------------------------------------------------------------------

  async function load() {
    s.loadError = null;
    s.record = null;
    keepFocus(render, "contact-title");
    try {
      if (!s.people) {
        const found = await loadPeople(ctx.api);
        s.people = found.patients;
        s.patient = chosenPatient(s.people, ctx.argument);
      }
      if (!s.patient) throw Object.assign(new Error("no patients"), { status: 404, code: "status_404" });
      const record = await ctx.api.get(`/patient/patients/${encodeURIComponent(s.patient.id)}/preferences`, { auth: true });
      if (!alive()) return;
      s.record = record;
      s.draft = draftFrom(record);
    } catch (err) {
      if (err.status === 401) return ctx.sessionEnded();
      if (!alive()) return;
      s.loadError = err;
    }
    keepFocus(render, "contact-title");
  }

  await ensureStyles();
  if (!alive()) return;
  render();
  focusHeading(document.getElementById("contact-title"));
  load();
}
