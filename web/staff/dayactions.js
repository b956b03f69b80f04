// Day-sheet row actions (confirm by phone, arrived, completed, no-show, cancel, reschedule) and the
// row's reminder history, loaded when opened. The day sheet in app.js asks for these per row.

import { busyButton, h } from "../common/dom.js";
import { deskT, errorText, localTime, practicePath, zonedToUtc } from "./desk.js";

const ACTIONS = {
  // status -> actions offered, in order
  requested: [],
  booked: ["confirm", "arrive", "no-show", "cancel", "reschedule"],
  confirmed: ["arrive", "no-show", "cancel", "reschedule"],
  arrived: ["complete", "no-show"],
};
const LABEL = { confirm: "actions.confirm", arrive: "actions.arrive", complete: "actions.complete", "no-show": "actions.noShow", cancel: "actions.cancel", reschedule: "actions.reschedule" };

/** The actions cell for one appointment; onChanged() reloads the sheet after a change. */
export function actionsCell(ctx, appt, onChanged) {
  const t = deskT(ctx.lang);
  const status = h("span", { class: "desk-status", role: "status", aria: { live: "polite" } });
  const offered = ACTIONS[appt.status] || [];
  const id = encodeURIComponent(String(appt.id || ""));
  const post = async (button, action, body) => {
    ctx.noteActivity();
    const restore = busyButton(button, t("actions.loading"));
    try {
      const answer = await ctx.api.post(practicePath(ctx, `/appointments/${id}/${action}`), body, { auth: true });
      status.textContent = t("actions.done", { status: answer && answer.status ? answer.status : action });
      onChanged();
    } catch (err) {
      restore();
      if (err.status !== 401) status.textContent = t("actions.failed", { message: errorText(err, ctx.lang) });
    }
  };
  const name = appt.patient && appt.patient.name ? appt.patient.name : "";
  const buttons = offered.map((action) => {
    if (action === "reschedule") return rescheduleControl(ctx, appt, post, t, name);
    const button = h(
      "button",
      { class: `btn btn-small ${action === "cancel" || action === "no-show" ? "btn-quiet" : "btn-secondary"}`, type: "button", dataset: { action }, aria: { label: name ? `${t(LABEL[action])}: ${name}` : null } },
      t(LABEL[action]),
    );
    button.addEventListener("click", () => post(button, action, action === "confirm" ? { via: "phone" } : {}));
    return button;
  });
  return h("div", { class: "row-actions" }, h("div", { class: "row-buttons" }, buttons), remindersDetails(ctx, appt, t), status);
}

function rescheduleControl(ctx, appt, post, t, name) {
  const wrap = h("details", { class: "reschedule" });
  const zone = appt.zone || ctx.zone || "UTC";
  const inputId = `move-${appt.id}`;
  const input = h("input", { id: inputId, type: "datetime-local", step: 300 });
  const local = appt.local_start ? String(appt.local_start).slice(0, 16) : "";
  input.value = local;
  const move = h("button", { class: "btn btn-small btn-secondary", type: "button" }, t("actions.move"));
  move.addEventListener("click", () => {
    const start = zonedToUtc(input.value, zone);
    if (start) post(move, "reschedule", { start });
  });
  wrap.append(
    h("summary", { class: "btn btn-small btn-quiet", aria: { label: name ? `${t("actions.reschedule")}: ${name}` : null } }, t("actions.reschedule")),
    h("label", { for: inputId }, t("actions.moveTo")),
    input,
    move,
  );
  return wrap;
}

function remindersDetails(ctx, appt, t) {
  const list = h("div", { class: "reminder-list" });
  const details = h("details", { class: "reminders" }, h("summary", null, t("actions.reminders")), list);
  let loaded = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loaded) return;
    loaded = true;
    list.replaceChildren(h("p", { class: "muted" }, t("actions.loading")));
    try {
      const answer = await ctx.api.get(practicePath(ctx, `/appointments/${encodeURIComponent(appt.id)}/reminders`), { auth: true });
      const touches = Array.isArray(answer.touches) ? answer.touches : [];
      list.replaceChildren(
        touches.length
          ? h(
              "ul",
              null,
              touches.map((x) =>
                h(
                  "li",
                  { dataset: { status: String(x.status || "") } },
                  `${localTime(x.sent_at || x.due, ctx.zone, ctx.lang)} · ${x.channel || ""} · ${x.status || ""}${x.reason ? ` (${x.reason})` : ""}${x.blocked ? ` · ${x.blocked}` : ""}`,
                ),
              ),
            )
          : h("p", { class: "muted" }, t("actions.noReminders")),
      );
    } catch (err) {
      loaded = false;
      list.replaceChildren(h("p", { class: "form-error" }, errorText(err, ctx.lang)));
    }
  });
  return details;
}

/** Rows sorted by the chosen key (time, provider or operatory), time within each. */
export function sortRows(rows, key) {
  const name = (a, kind) => String((a[kind] && a[kind].name) || a[`${kind}_name`] || a[`${kind}_id`] || "");
  const copy = rows.slice();
  copy.sort((a, b) => (key === "time" ? 0 : name(a, key).localeCompare(name(b, key))) || String(a.start).localeCompare(String(b.start)));
  return copy;
}

export function sortControl(ctx, current, onChange) {
  const t = deskT(ctx.lang);
  const select = h(
    "select",
    { id: "day-sort" },
    [
      ["time", "actions.byTime"],
      ["provider", "actions.byProvider"],
      ["operatory", "actions.byOperatory"],
    ].map(([value, label]) => h("option", { value, selected: value === current }, t(label))),
  );
  select.addEventListener("change", () => onChange(select.value));
  return h("div", { class: "day-sort" }, h("label", { for: "day-sort" }, t("actions.sortBy")), select);
}
