// The audit log for owners and managers: filter by UTC days, action and patient; download CSV.

import { busyButton, focusHeading, h } from "../common/dom.js";
import { deskT, errorText, practicePath, sectionNav, statusLine } from "./desk.js";

function isoDay(d) {
  return d.toISOString().slice(0, 10);
}

export function showAudit(ctx) {
  const t = deskT(ctx.lang);
  const title = h("h1", { id: "audit-title" }, t("audit.title"));
  const today = new Date();
  const fields = {
    from: h("input", { id: "audit-from", type: "date", value: isoDay(new Date(today.getTime() - 29 * 864e5)) }),
    to: h("input", { id: "audit-to", type: "date", value: isoDay(today) }),
    action: h("input", { id: "audit-action", type: "text", maxlength: 120 }),
    patient_id: h("input", { id: "audit-patient", type: "text", maxlength: 120 }),
  };
  const query = () => {
    const q = new URLSearchParams();
    for (const [k, input] of Object.entries(fields)) if (input.value.trim()) q.set(k, input.value.trim());
    return q.toString();
  };
  const status = statusLine();
  const results = h("div", { class: "table-wrap" });
  const show = h("button", { class: "btn btn-primary", type: "submit" }, t("audit.apply"));
  const download = h("button", { class: "btn btn-secondary", type: "button" }, t("audit.export"));
  const label = (key, id) => h("label", { for: id }, t(key));
  const form = h(
    "form",
    { class: "audit-filters", aria: { labelledby: "audit-title" } },
    h("div", { class: "field" }, label("audit.from", "audit-from"), fields.from),
    h("div", { class: "field" }, label("audit.to", "audit-to"), fields.to),
    h("div", { class: "field" }, label("audit.action", "audit-action"), fields.action),
    h("div", { class: "field" }, label("audit.patient", "audit-patient"), fields.patient_id),
    h("div", { class: "row-buttons" }, show, download),
  );
  const load = async () => {
    ctx.noteActivity();
    const restore = busyButton(show, t("audit.apply"));
    try {
      const answer = await ctx.api.get(practicePath(ctx, `/audit/events?${query()}`), { auth: true });
      const events = answer.events || [];
      status.textContent = answer.truncated ? t("audit.truncated", { limit: answer.limit }) : "";
      results.replaceChildren(
        events.length
          ? h(
              "table",
              { class: "sheet audit-table" },
              h("thead", null, h("tr", null, ["audit.when", "audit.who", "audit.what", "audit.patient", "audit.record"].map((k) => h("th", { scope: "col" }, t(k))))),
              h("tbody", null, events.map((e) => h("tr", null, h("td", null, e.at), h("td", null, `${e.actor_type} ${e.actor_id}`), h("td", null, e.action), h("td", null, e.patient_id), h("td", null, e.record)))),
            )
          : h("p", { class: "muted" }, t("audit.empty")),
      );
    } catch (err) {
      if (err.status !== 401) status.textContent = errorText(err, ctx.lang);
    } finally {
      restore();
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  download.addEventListener("click", async () => {
    ctx.noteActivity();
    const restore = busyButton(download, t("audit.export"));
    try {
      const text = await ctx.api.get(practicePath(ctx, `/audit/export?${query()}`), { auth: true, text: true });
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      const a = h("a", { href: url, download: `audit-${fields.from.value}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) {
      if (err.status !== 401) status.textContent = errorText(err, ctx.lang);
    } finally {
      restore();
    }
  });
  ctx.show(h("div", { class: "stack" }, sectionNav(ctx, "audit"), title, h("div", { class: "card desk-card" }, form), status, results), () => showAudit(ctx));
  focusHeading(title);
  load();
}
