// The card's contacts: each address with its state said plainly (texted STOP, blocked by the carrier, email
// suppressed or unsubscribed) and the patient's contact preferences (channels per message type, sending hours,
// language), changed through the staff preferences route. An SMS opt-out is the patient's alone to undo
// (START from their phone): nothing here can turn texts back on for an opted-out number.

import { busyButton, h } from "../common/dom.js";
import { displayPhone } from "../common/format.js";
import { can, deskT, practicePath, section, statusLine } from "./desk.js";
import { actionError, field, put, say, sayError } from "./card-actions.js";

const TYPES = ["appointment_reminders", "recall", "billing", "feedback"];
const CHANNELS = ["email", "sms"];
const DEFAULT_HOURS = { start: "08:00", end: "21:00" };

export function contactSection(ctx, patientId, card) {
  const t = deskT(ctx.lang);
  const pid = encodeURIComponent(patientId);
  const status = statusLine();
  const addresses = h("div", { class: "card-part", aria: { busy: "true" } }, h("p", { class: "muted" }, t("actions.loading")));
  const editable = can(ctx.role, "patients.contact");
  const typeLabel = (type) => (t.has(`card.contact.types.${type}`) ? t(`card.contact.types.${type}`) : type);
  let prefs = null; // the form, built once the record is known

  async function load() {
    try {
      draw(await ctx.api.get(practicePath(ctx, `/patients/${pid}/contact`), { auth: true }));
    } catch (err) {
      if (err.status !== 401) addresses.replaceChildren(h("p", { class: "form-error" }, actionError(err, t).text));
    } finally {
      addresses.setAttribute("aria-busy", "false");
    }
  }

  /** The API's suppression code ("complaint", "bounce_permanent_5.1.1", "bounce_5.7.1", "soft_bounces") in words,
   * keeping the SMTP status for whoever calls the patient's mail provider. */
  function reasonLabel(code) {
    const status = (/(\d\.\d{1,3}\.\d{1,3})$/.exec(code) || [])[1];
    const withStatus = (key) => (status ? `${t(key)}, ${status}` : t(key));
    if (code === "complaint") return t("card.contact.reasons.complaint");
    if (code === "soft_bounces") return t("card.contact.reasons.softBounces");
    if (code.startsWith("bounce_permanent")) return withStatus("card.contact.reasons.bouncePermanent");
    if (/^bounce_5\./.test(code)) return withStatus("card.contact.reasons.refused");
    return code;
  }

  function stateLines(a) {
    const out = [];
    const apiWords = (text) => h("p", { class: "hint", lang: t.lang === "en" ? null : "en" }, text);
    if (a.channel === "sms") {
      if (a.status === "opted_out") out.push(h("p", { class: "contact-state state-off" }, t("card.contact.optedOut")), a.opt_in_help ? apiWords(a.opt_in_help) : "");
      else if (a.status === "sms_blocked_opted_out") out.push(h("p", { class: "contact-state state-off" }, t("card.contact.blocked")));
      else out.push(h("p", { class: "contact-state state-on" }, t("card.contact.active")));
    } else {
      if (a.email_suppressed) {
        out.push(
          h("p", { class: "contact-state state-off" }, a.suppressed_reason ? t("card.contact.suppressed", { reason: reasonLabel(String(a.suppressed_reason)) }) : t("card.contact.suppressedNoReason")),
        );
      } else out.push(h("p", { class: "contact-state state-on" }, t("card.contact.active")));
      if ((a.unsubscribed || []).length) out.push(h("p", { class: "contact-state state-partial" }, t("card.contact.unsubscribed", { types: a.unsubscribed.map(typeLabel).join(", ") })));
      if (a.soft_bounces) out.push(h("p", { class: "hint" }, t("card.contact.softBounces", { count: a.soft_bounces })));
    }
    return out;
  }

  function draw(record) {
    const list = Array.isArray(record.addresses) ? record.addresses : [];
    addresses.replaceChildren(
      h("h3", null, t("card.contact.addresses")),
      list.length
        ? h(
            "ul",
            { class: "contact-list" },
            list.map((a) =>
              h(
                "li",
                { class: "contact-address", dataset: { channel: a.channel, status: a.status } },
                h(
                  "p",
                  { class: "contact-line" },
                  h("span", { class: "contact-address-text" }, a.channel === "sms" ? displayPhone(a.address) : a.address),
                  ` · ${t(`card.contact.${a.channel === "sms" ? "sms" : "email"}`)} · ${t(`card.contact.${a.relation === "self" ? "self" : "guardian"}`)}`,
                ),
                stateLines(a),
              ),
            ),
          )
        : h("p", { class: "muted" }, t("patients.none_")),
    );
    if (editable) {
      if (!prefs) {
        prefs = preferencesForm();
        addresses.after(prefs.form);
      }
      prefs.fill(record.preferences || {}, unsubscribedTypes(list));
    }
  }

  /** Types the patient's own address unsubscribed from by link: their Email box shows off, as mail is. */
  function unsubscribedTypes(list) {
    return new Set(list.filter((a) => a.channel === "email" && a.relation === "self").flatMap((a) => a.unsubscribed || []));
  }

  function preferencesForm() {
    const boxes = {};
    let shown = {}; // each box as last drawn: only the boxes staff change are sent
    const rows = TYPES.map((type) =>
      h(
        "tr",
        null,
        h("th", { scope: "row" }, typeLabel(type)),
        CHANNELS.map((channel) => {
          const box = h("input", { type: "checkbox", id: `pref-${type}-${channel}`, aria: { label: t("card.contact.channelFor", { type: typeLabel(type), channel: t(`card.contact.${channel}`) }) } });
          boxes[`${type}.${channel}`] = box;
          return h("td", { class: "check-cell" }, box);
        }),
      ),
    );
    const practiceHours = h("input", { type: "checkbox", id: "pref-practice-hours" });
    const start = h("input", { type: "time", step: 60 });
    const end = h("input", { type: "time", step: 60 });
    const language = h("select", null, ["default", "en", "es"].map((l) => h("option", { value: l === "default" ? "" : l }, t(`card.contact.languages.${l}`))));
    const submit = h("button", { class: "btn btn-primary", type: "submit" }, t("card.contact.save"));
    const syncHours = () => {
      start.disabled = practiceHours.checked;
      end.disabled = practiceHours.checked;
    };
    practiceHours.addEventListener("change", syncHours);
    const form = h(
      "form",
      { class: "card-form prefs-form", novalidate: true, aria: { labelledby: "prefs-title" } },
      h("h3", { id: "prefs-title" }, t("card.contact.prefsTitle")),
      h(
        "div",
        { class: "card-table-wrap" },
        h(
          "table",
          { class: "prefs-table" },
          h("thead", null, h("tr", null, h("th", { scope: "col" }, t("card.contact.type")), CHANNELS.map((c) => h("th", { scope: "col" }, t(`card.contact.${c}`))))),
          h("tbody", null, rows),
        ),
      ),
      h("p", { class: "hint", id: "prefs-sms-note" }, t("card.contact.smsNote")),
      h(
        "fieldset",
        { class: "hours-fieldset" },
        h("legend", null, t("card.contact.hours")),
        h("div", { class: "check" }, practiceHours, h("label", { for: "pref-practice-hours" }, t("card.contact.practiceHours"))),
        h("div", { class: "field-row" }, field("pref-start", t("card.contact.start"), start), field("pref-end", t("card.contact.end"), end)),
      ),
      field("pref-language", t("card.contact.language"), language),
      h("div", { class: "row-buttons" }, submit),
    );

    const fill = (p, unsubscribed) => {
      shown = {};
      for (const type of TYPES) {
        for (const channel of CHANNELS) {
          const key = `${type}.${channel}`;
          const on = ((p.channels || {})[type] || {})[channel] !== false && !(channel === "email" && unsubscribed.has(type));
          boxes[key].checked = on;
          shown[key] = on;
        }
      }
      practiceHours.checked = !p.sending_hours;
      start.value = (p.sending_hours || DEFAULT_HOURS).start;
      end.value = (p.sending_hours || DEFAULT_HOURS).end;
      language.value = p.language || "";
      syncHours();
    };

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      ctx.noteActivity();
      // Only what changed: an untouched Email box never sends true, which would lift an unsubscribe nobody asked to lift.
      const channels = {};
      for (const type of TYPES) {
        for (const c of CHANNELS) {
          const key = `${type}.${c}`;
          if (boxes[key].checked !== shown[key]) channels[type] = { ...(channels[type] || {}), [c]: boxes[key].checked };
        }
      }
      const body = { channels, sending_hours: practiceHours.checked ? null : { start: start.value, end: end.value }, language: language.value };
      say(status, ""); // the same sentence twice in a row is announced again
      const restore = busyButton(submit, t("card.working"));
      try {
        draw(await put(ctx, practicePath(ctx, `/patients/${pid}/preferences`), body));
        say(status, t("card.contact.saved"));
      } catch (err) {
        if (err.status !== 401) sayError(status, err, t);
      } finally {
        restore();
      }
    });
    return { form, fill };
  }

  const summary = h(
    "p",
    null,
    [card.birth_date ? t("patients.born", { date: card.birth_date }) : "", card.phone ? displayPhone(card.phone) : "", card.email, (card.language || "").toUpperCase()].filter(Boolean).join(" · "),
  );
  const el = section(t("patients.contacts"), "card-contacts", summary, status, addresses);
  load();
  return el;
}
