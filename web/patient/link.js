// The one-task view a link in a message opens (confirm, cancel, reschedule, take a waitlist offer),
// with no sign-in: the signed token in the address is the permission, for that one thing.
//
//   showLink(ctx) where ctx (built by app.js) is
//   {api, token, lang, show(view, render), signIn(), book()}
//
// The API: GET /a/{token} says what the link does and its state; POST /a/{token} does it (safe to
// repeat: a second answers already_<done>). A reschedule picks from the practice's public open times.
// The token never goes to the console, to storage, or into another address.

import { friendlyError } from "../common/api.js";
import { busyButton, focusHeading, h, ICONS, icon, translator } from "../common/dom.js";
import { addDays, dayLabel, displayPhone, partsInZone, telHref, todayIn, zoneName } from "../common/format.js";
import { STRINGS } from "./link-strings.js";

const WINDOW_DAYS = 14; // local days of open times asked for at once (the API's most)
const WRITE_TIMEOUT_MS = 60000;
const OFFICE_CODES = new Set(["link_expired", "too_late_to_change", "too_many_reschedules", "appointment_changed"]);

export function showLink(ctx) {
  const tr = () => translator(STRINGS, ctx.lang);
  const path = `/a/${encodeURIComponent(ctx.token)}`;
  const s = {
    view: null, // GET /a/{token}'s answer
    loadError: null,
    done: null, // POST's answer
    error: null, // a POST's ApiError
    slots: null, // reschedule: {from, days} or {error}
    from: "",
    day: "", // reschedule: the local day shown
    provider: null, // reschedule: whose times ("" anyone); at first the visit's own provider
    pick: null, // the chosen slot
    reason: "",
  };

  const zone = () => (s.view && s.view.practice && s.view.practice.zone) || "UTC";
  const phone = () => (s.view && s.view.practice && s.view.practice.phone) || "";

  function when(iso) {
    const p = partsInZone(iso, zone(), ctx.lang);
    return p ? `${p.dateLong}, ${p.time} ${p.zoneShort}` : iso;
  }

  function callLink(t, number) {
    return number ? h("a", { class: "btn btn-secondary tel-link", href: telHref(number) }, icon(ICONS.phone), t("call", { phone: displayPhone(number) })) : "";
  }

  function signInButton(t) {
    return h("button", { class: "btn btn-quiet", type: "button", id: "link-sign-in", onclick: () => ctx.signIn() }, t("signIn"));
  }

  function problem(t, err, id) {
    const number = (err.details && err.details.phone) || phone();
    return h(
      "div",
      { class: "form-error", role: "alert", id, tabindex: "-1" },
      icon(ICONS.alert),
      h("span", null, friendlyError(err, t, ctx.lang)),
      OFFICE_CODES.has(err.code) ? callLink(t, number) : "",
    );
  }

  function heading(t) {
    const action = s.view ? s.view.action : "";
    return h("h1", { id: "link-title" }, t.has(`title.${action}`) ? t(`title.${action}`) : t("problemTitle"));
  }

  function summary(t) {
    const v = s.view;
    const item = v.action === "offer" ? v.offer : v.appointment;
    const what = item.type && item.type.name;
    const who = item.provider && item.provider.name;
    return h(
      "div",
      { class: "card link-appt" },
      h("p", { class: "muted" }, t("from", { practice: v.practice.name })),
      what ? h("h2", { class: "appt-what" }, what) : "",
      h("p", { class: "appt-when", id: "link-when" }, icon(ICONS.calendar), h("span", null, when(item.start))),
      who ? h("p", { class: "muted" }, t("with", { name: who })) : "",
      h("p", { class: "hint" }, t("zone", { zone: zoneName(zone(), ctx.lang) })),
    );
  }

  function stateMessage(t) {
    const v = s.view;
    if (v.state === "ready") return "";
    const key = v.state === "done" ? `state.done_${v.action === "cancel" ? "cancel" : "confirm"}` : `state.${v.state}`;
    const calm = v.state === "done" || v.state === "yours";
    return h(
      "div",
      { class: calm ? "flash flash-ok" : "form-error", role: calm ? "status" : "alert", id: "link-state", tabindex: "-1" },
      icon(calm ? ICONS.check : ICONS.alert),
      h("span", null, t.has(key) ? t(key) : t("errors.generic")),
      v.state === "too_late" ? callLink(t, phone()) : "",
    );
  }

  async function act(button, busyText, body) {
    const restore = busyButton(button, busyText);
    s.error = null;
    try {
      s.done = await ctx.api.post(path, body, { timeoutMs: WRITE_TIMEOUT_MS });
    } catch (err) {
      restore();
      s.error = err;
      if (err.code === "slot_taken") loadSlots(s.from);
      render();
      focusHeading(document.getElementById("link-error"));
      return;
    }
    render();
    focusHeading(document.getElementById("link-done"));
  }

  function confirmForm(t) {
    const button = h("button", { class: "btn btn-primary btn-block", type: "submit" }, icon(ICONS.check), t("confirm.button"));
    return h(
      "form",
      { class: "stack", novalidate: true, onsubmit: (e) => (e.preventDefault(), act(button, t("confirm.busy"), {})) },
      button,
    );
  }

  function cancelForm(t) {
    const reason = h("textarea", { id: "link-reason", name: "reason", rows: "2", maxlength: "500", oninput: (e) => (s.reason = e.target.value) });
    reason.value = s.reason;
    const button = h("button", { class: "btn btn-danger btn-block", type: "submit" }, icon(ICONS.x), t("cancel.button"));
    return h(
      "form",
      {
        class: "stack cancel-form",
        novalidate: true,
        aria: { labelledby: "link-question" },
        onsubmit: (e) => {
          e.preventDefault();
          const text = s.reason.trim();
          act(button, t("cancel.busy"), text ? { reason: text } : {});
        },
      },
      h("p", { class: "cancel-question", id: "link-question" }, t("cancel.question")),
      h("div", { class: "field" }, h("label", { for: "link-reason" }, t("cancel.reason")), reason),
      button,
    );
  }

  async function loadSlots(from) {
    const a = s.view.appointment;
    s.from = from;
    s.slots = null;
    s.day = "";
    const query = new URLSearchParams({ date: from, days: String(WINDOW_DAYS), type_id: a.type_id || (a.type && a.type.id) || "" });
    try {
      const answer = await ctx.api.get(`/practices/${encodeURIComponent(s.view.practice.id)}/availability?${query}`);
      if (s.from !== from) return;
      s.slots = { days: (answer.days || []).filter((d) => d.slots && d.slots.length) };
    } catch (err) {
      if (s.from !== from) return;
      s.slots = { error: err };
    }
    render();
  }

  function rescheduleForm(t) {
    const box = h("div", { class: "stack", id: "link-slots", aria: { busy: s.slots ? "false" : "true" } });
    if (!s.slots) {
      box.append(h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), h("span", null, t("reschedule.loading"))));
    } else if (s.slots.error) {
      box.append(
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, t("reschedule.loadFailed"))),
        h("button", { class: "btn btn-secondary", type: "button", onclick: () => loadSlots(s.from) }, t("retry")),
      );
    } else if (!s.slots.days.length) {
      box.append(h("p", { class: "muted" }, t("reschedule.none")));
    } else {
      const current = s.view.appointment.start;
      const names = new Map();
      for (const d of s.slots.days) for (const slot of d.slots) names.set(slot.provider.id, slot.provider.name || slot.provider.id);
      if (s.provider === null) s.provider = names.has(s.view.appointment.provider_id) ? s.view.appointment.provider_id : "";
      if (names.size > 1) {
        const select = h(
          "select",
          { id: "link-provider", onchange: (e) => ((s.provider = e.target.value), (s.pick = null), render(), focusHeading(document.getElementById("link-provider"))) },
          h("option", { value: "" }, t("reschedule.anyone")),
          [...names].map(([id, name]) => h("option", { value: id }, name)),
        );
        select.value = s.provider;
        box.append(h("div", { class: "field" }, h("label", { for: "link-provider" }, t("reschedule.withLabel")), select));
      }
      const days = s.slots.days
        .map((d) => ({ date: d.date, slots: d.slots.filter((slot) => slot.start !== current && (!s.provider || slot.provider.id === s.provider)) }))
        .filter((d) => d.slots.length);
      const day = days.find((d) => d.date === s.day) || days[0];
      if (!day) box.append(h("p", { class: "muted" }, t("reschedule.none")));
      else {
        box.append(
          h(
            "ul",
            { class: "day-grid", aria: { label: t("reschedule.days") } },
            days.map((d) =>
              h(
                "li",
                null,
                h(
                  "button",
                  {
                    class: "day-btn",
                    type: "button",
                    id: `link-day-${d.date}`,
                    aria: { pressed: d === day ? "true" : "false" },
                    onclick: () => {
                      s.day = d.date;
                      render();
                      focusHeading(document.getElementById(`link-day-${d.date}`));
                    },
                  },
                  h("span", { class: "day-week" }, dayLabel(d.date, ctx.lang, { weekday: "short" })),
                  h("span", { class: "day-date" }, dayLabel(d.date, ctx.lang, { month: "short", day: "numeric" })),
                ),
              ),
            ),
          ),
        );
        const choices = day.slots.map((slot) => {
          const id = `slot-${slot.start}-${slot.provider.id}`.replace(/[^A-Za-z0-9-]/g, "");
          const chosen = s.pick && s.pick.start === slot.start && s.pick.provider.id === slot.provider.id;
          const p = partsInZone(slot.start, zone(), ctx.lang);
          return h(
            "label",
            { class: "choice", for: id },
            h("input", { type: "radio", name: "slot", id, value: slot.start, checked: chosen, onchange: () => (s.pick = slot) }),
            h("span", { class: "choice-text" }, p ? p.time : slot.start, !s.provider && slot.provider.name ? h("span", { class: "choice-sub" }, t("with", { name: slot.provider.name })) : ""),
          );
        });
        const legend = `${dayLabel(day.date, ctx.lang)} (${zoneName(zone(), ctx.lang)})`;
        box.append(h("fieldset", { class: "choices" }, h("legend", null, legend), h("div", { class: "link-times" }, choices)));
      }
    }
    const today = todayIn(zone());
    const pager = h(
      "div",
      { class: "button-row" },
      s.from > today ? h("button", { class: "btn btn-secondary btn-small", type: "button", onclick: () => loadSlots(addDays(s.from, -WINDOW_DAYS) < today ? today : addDays(s.from, -WINDOW_DAYS)) }, icon(ICONS.left), t("reschedule.earlier")) : "",
      h("button", { class: "btn btn-secondary btn-small", type: "button", onclick: () => loadSlots(addDays(s.from, WINDOW_DAYS)) }, t("reschedule.later"), icon(ICONS.right)),
    );
    const button = h("button", { class: "btn btn-primary btn-block", type: "submit" }, icon(ICONS.move), t("reschedule.button"));
    return h(
      "form",
      {
        class: "stack",
        novalidate: true,
        aria: { labelledby: "link-pick" },
        onsubmit: (e) => {
          e.preventDefault();
          if (!s.pick) {
            s.error = { code: "choose", message: t("reschedule.choose") };
            render();
            focusHeading(document.getElementById("link-error"));
            return;
          }
          act(button, t("reschedule.busy"), { start: s.pick.start, provider_id: s.pick.provider.id });
        },
      },
      h("h2", { id: "link-pick" }, t("reschedule.pick")),
      box,
      pager,
      button,
    );
  }

  function offerForm(t) {
    const button = h("button", { class: "btn btn-primary btn-block", type: "submit" }, icon(ICONS.check), t("offer.button"));
    return h(
      "form",
      { class: "stack", novalidate: true, onsubmit: (e) => (e.preventDefault(), act(button, t("offer.busy"), {})) },
      h("p", { class: "muted" }, t("offer.lede")),
      s.view.offer.moves_appointment_id ? h("p", null, t("offer.moves")) : "",
      button,
    );
  }

  function errorBox(t) {
    if (!s.error) return "";
    if (s.error.code === "choose") return h("div", { class: "form-error", role: "alert", id: "link-error", tabindex: "-1" }, icon(ICONS.alert), h("span", null, s.error.message));
    return problem(t, s.error, "link-error");
  }

  function doneView(t) {
    const result = String(s.done.result || "");
    const a = s.done.appointment || {};
    const key = t.has(`done.${result}`) ? `done.${result}` : "done.title";
    const cancelled = result === "cancelled" || result === "already_cancelled";
    return h(
      "div",
      { class: "stack" },
      h("h1", { id: "link-title" }, t("done.title")),
      h("div", { class: "flash flash-ok", role: "status", id: "link-done", tabindex: "-1" }, icon(ICONS.check), h("span", null, t(key, { when: when(a.start) }))),
      cancelled ? h("button", { class: "btn btn-primary btn-block", type: "button", id: "link-book", onclick: () => ctx.book() }, icon(ICONS.plus), t("done.bookAgain")) : "",
      signInButton(t),
    );
  }

  function render() {
    const t = tr();
    let view;
    if (s.done) view = doneView(t);
    else if (s.loadError) {
      const expired = s.loadError.status === 410 || s.loadError.status === 404;
      view = h(
        "div",
        { class: "stack" },
        h("h1", { id: "link-title" }, t("problemTitle")),
        problem(t, s.loadError, "link-problem"),
        expired ? "" : h("button", { class: "btn btn-secondary", type: "button", onclick: load }, t("retry")),
        signInButton(t),
      );
    } else if (!s.view) {
      view = h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), h("span", null, t("loading")));
    } else {
      const ready = s.view.state === "ready";
      let form = "";
      if (ready && s.view.action === "confirm") form = confirmForm(t);
      else if (ready && s.view.action === "cancel") form = cancelForm(t);
      else if (ready && s.view.action === "reschedule") form = rescheduleForm(t);
      else if (ready && s.view.action === "offer") form = offerForm(t);
      view = h("div", { class: "stack link-view" }, heading(t), summary(t), stateMessage(t), errorBox(t), form, signInButton(t));
    }
    ctx.show(h("section", { class: "link-task", aria: { labelledby: "link-title" } }, view), render);
  }

  async function load() {
    s.loadError = null;
    s.view = null;
    render();
    try {
      s.view = await ctx.api.get(path);
    } catch (err) {
      s.loadError = err;
    }
    render();
    focusHeading(document.getElementById(s.loadError ? "link-problem" : s.view.state === "ready" ? "link-title" : "link-state"));
    if (s.view && s.view.action === "reschedule" && s.view.state === "ready") loadSlots(todayIn(zone()));
  }

  load();
}
