// Settings for owners and managers: hours, quiet hours, review links, payments (versioned: the page sends
// the version it read, a 409 asks to reload), plus providers, rooms, visit types, the reminder policy,
// template previews for a demo patient and the change history.

import { busyButton, focusHeading, h } from "../common/dom.js";
import { can, deskT, errorText, practicePath, section, sectionNav, statusLine } from "./desk.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES = {
  en: { mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday", sat: "Saturday", sun: "Sunday" },
  es: { mon: "Lunes", tue: "Martes", wed: "Miércoles", thu: "Jueves", fri: "Viernes", sat: "Sábado", sun: "Domingo" },
};

async function put(ctx, path, body) {
  const response = await fetch(ctx.apiBase + practicePath(ctx, path), {
    method: "PUT",
    headers: { "Content-Type": "application/json", Accept: "application/json", Authorization: `Bearer ${ctx.token()}` },
    body: JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    const err = Object.assign(new Error(String(error.message || response.statusText)), { status: response.status, code: String(error.code || `http_${response.status}`) });
    if (response.status === 401) ctx.onUnauthorized();
    throw err;
  }
  return data;
}

export async function showSettings(ctx) {
  const t = deskT(ctx.lang);
  const title = h("h1", { id: "settings-title" }, t("settings.title"));
  const body = h("div", { class: "stack", aria: { busy: "true" } }, h("p", { class: "muted" }, t("actions.loading")));
  ctx.show(h("div", { class: "stack" }, sectionNav(ctx, "settings"), title, body), () => showSettings(ctx));
  focusHeading(title);
  const get = (path) => ctx.api.get(practicePath(ctx, path), { auth: true });
  let settings;
  let previews;
  let versions;
  try {
    [settings, previews, versions] = await Promise.all([get("/settings"), get("/settings/template-previews"), get("/settings/versions")]);
  } catch (err) {
    if (err.status !== 401) body.replaceChildren(h("p", { class: "form-error", role: "alert" }, errorText(err, ctx.lang)));
    return;
  }
  body.setAttribute("aria-busy", "false");
  const editable = can(ctx.role, "settings.change");
  const names = DAY_NAMES[ctx.lang] || DAY_NAMES.en;

  const hourRows = DAYS.map((day) => {
    const span = (settings.hours[day] || [])[0] || ["08:00", "17:00"];
    const open = Boolean((settings.hours[day] || []).length);
    const start = h("input", { id: `h-${day}-start`, type: "time", value: span[0], aria: { label: `${names[day]} ${t("settings.start")}` } });
    const end = h("input", { id: `h-${day}-end`, type: "time", value: span[1], aria: { label: `${names[day]} ${t("settings.end")}` } });
    const closed = h("input", { id: `h-${day}-closed`, type: "checkbox", checked: !open });
    return { day, start, end, closed, row: h("tr", null, h("th", { scope: "row" }, names[day]), h("td", null, start), h("td", null, end), h("td", null, closed, h("label", { for: `h-${day}-closed` }, t("settings.closed")))) };
  });
  const quietStart = h("input", { id: "quiet-start", type: "time", value: settings.quiet_hours.start, aria: { label: `${t("settings.quiet")} ${t("settings.start")}` } });
  const quietEnd = h("input", { id: "quiet-end", type: "time", value: settings.quiet_hours.end, aria: { label: `${t("settings.quiet")} ${t("settings.end")}` } });
  const links = [0, 1, 2].map((i) => {
    const link = settings.review_links[i] || { label: "", url: "" };
    return {
      label: h("input", { id: `review-label-${i}`, type: "text", maxlength: 60, value: link.label, aria: { label: `${t("settings.label")} ${i + 1}` } }),
      url: h("input", { id: `review-url-${i}`, type: "url", maxlength: 500, value: link.url, aria: { label: `${t("settings.url")} ${i + 1}` } }),
    };
  });
  const pay = settings.payments || {};
  const card = h("input", { id: "pay-card", type: "checkbox", checked: pay.card_payments !== false });
  const text = h("input", { id: "pay-text", type: "checkbox", checked: pay.text_to_pay !== false });
  const days = h("input", { id: "pay-days", type: "number", min: 1, max: 60, value: pay.pay_link_days || 14 });
  const status = statusLine();
  const save = h("button", { class: "btn btn-primary", type: "submit", disabled: !editable }, t("settings.save"));
  const form = h(
    "form",
    { class: "settings-form", aria: { labelledby: "settings-title" } },
    section(t("settings.hours"), "set-hours", h("table", { class: "sheet hours-table" }, h("tbody", null, hourRows.map((r) => r.row)))),
    section(t("settings.quiet"), "set-quiet", h("div", { class: "row-buttons" }, quietStart, quietEnd)),
    section(t("settings.reviews"), "set-reviews", links.map((l) => h("div", { class: "row-buttons" }, l.label, l.url))),
    section(
      t("settings.payments"),
      "set-payments",
      h("div", { class: "check" }, card, h("label", { for: "pay-card" }, t("settings.cardPayments"))),
      h("div", { class: "check" }, text, h("label", { for: "pay-text" }, t("settings.textToPay"))),
      h("div", { class: "field" }, h("label", { for: "pay-days" }, t("settings.payLinkDays")), days),
    ),
    h("p", { class: "hint" }, t("settings.version", { version: settings.version })),
    status,
    save,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ctx.noteActivity();
    const hours = {};
    for (const r of hourRows) if (!r.closed.checked) hours[r.day] = [[r.start.value, r.end.value]];
    const payload = {
      version: settings.version,
      hours,
      quiet_hours: { start: quietStart.value, end: quietEnd.value },
      review_links: links.filter((l) => l.label.value.trim() || l.url.value.trim()).map((l) => ({ label: l.label.value.trim(), url: l.url.value.trim() })),
      payments: { card_payments: card.checked, text_to_pay: text.checked, pay_link_days: Number(days.value) },
    };
    const restore = busyButton(save, t("settings.save"));
    try {
      const answer = await put(ctx, "/settings", payload);
      restore();
      status.textContent = t("settings.saved", { version: answer.version });
      settings = answer;
    } catch (err) {
      restore();
      if (err.status !== 401) status.textContent = errorText(err, ctx.lang);
    }
  });
  const policy = settings.reminder_policy || {};
  body.replaceChildren(
    form,
    section(t("settings.providers"), "set-providers", h("ul", { class: "plain-list" }, (settings.providers || []).map((p) => h("li", null, `${p.name} · ${p.kind}`)))),
    section(t("settings.operatories"), "set-ops", h("ul", { class: "plain-list" }, (settings.operatories || []).map((o) => h("li", null, o.name)))),
    section(t("settings.types"), "set-types", h("ul", { class: "plain-list" }, (settings.appointment_types || []).map((x) => h("li", null, `${x.name} · ${x.minutes} min`)))),
    section(
      t("settings.policy", { version: policy.version ?? "" }),
      "set-policy",
      h("ul", { class: "plain-list" }, (policy.touches || []).map((x) => h("li", null, `${x.offset} ${x.unit} · ${x.channel}`))),
    ),
    section(
      t("settings.previews"),
      "set-previews",
      (previews.previews || []).map((p) =>
        h("details", { class: "preview", dataset: { kind: p.kind, lang: p.language } }, h("summary", null, `${p.kind} · ${p.language.toUpperCase()}`), h("p", { class: "preview-sms" }, p.sms), h("p", null, h("strong", null, p.email_subject)), h("pre", { class: "preview-email" }, p.email)),
      ),
    ),
    section(
      t("settings.history"),
      "set-history",
      h("ul", { class: "plain-list" }, (versions.versions || []).map((v) => h("li", null, `${t("settings.version", { version: v.version })} · ${v.changed_at} · ${(v.sections || []).join(", ")}`))),
    ),
  );
}
