// Worklists: the next best action, each row linking to where staff act. Tomorrow's unconfirmed visits
// (to the day sheet), patients overdue for recall with nothing booked and open balances past 30 days
// (to the patient card), unanswered inbox items (to the inbox). Lists page with "Show more".

import { busyButton, focusHeading, h, translator } from "../common/dom.js";
import { dayLabel, partsInZone } from "../common/format.js";
import { STRINGS } from "./analytics-strings.js";
import { can, errorText, money, practicePath, sectionNav, statusLine } from "./desk.js";
import { STRINGS as DESK } from "./desk-strings.js";

const LISTS = [
  // [key, API path, permission]
  ["unconfirmed", "/worklists/unconfirmed", "schedule.view"],
  ["recall", "/worklists/recall", "patients.view"],
  ["balances", "/worklists/balances", "billing.post"],
  ["inbox", "/worklists/inbox", "inbox.work"],
];

function link(href, text, label) {
  return h("a", { class: "btn btn-secondary btn-small", href, aria: { label } }, text);
}

function rowsFor(key, t, desk, ctx, answer) {
  const lang = ctx.lang;
  const zone = answer.zone || ctx.zone;
  if (key === "unconfirmed") {
    return answer.rows.map((r) => {
      const when = partsInZone(r.start, zone, lang);
      return h(
        "tr",
        { dataset: { appointmentId: r.appointment_id } },
        h("td", null, when ? `${when.time} ${when.zoneShort}` : r.start),
        h("td", null, r.name || r.patient_id),
        h("td", null, r.phone ? h("a", { href: `tel:${r.phone}` }, r.phone) : ""),
        h("td", null, link(r.link, t("worklists.unconfirmed.open"), t("worklists.unconfirmed.openFor", { name: r.name || r.patient_id }))),
      );
    });
  }
  if (key === "recall") {
    return answer.rows.map((r) =>
      h(
        "tr",
        null,
        h("td", null, r.name || r.patient_id),
        h("td", null, dayLabel(r.due, lang, { month: "short", day: "numeric", year: "numeric" })),
        h("td", null, r.phone ? h("a", { href: `tel:${r.phone}` }, r.phone) : ""),
        h("td", null, link(r.link, t("worklists.recall.open"), t("worklists.recall.openFor", { name: r.name || r.patient_id }))),
      ),
    );
  }
  if (key === "balances") {
    return answer.rows.map((r) =>
      h(
        "tr",
        null,
        h("td", null, r.name || r.patient_id),
        h("td", null, money(r.balance_cents, lang)),
        h("td", null, r.bucket ? t("worklists.balances.bucket", { bucket: r.bucket }) : t("worklists.balances.age", { days: r.days })),
        h("td", null, link(r.link, t("worklists.balances.open"), t("worklists.balances.openFor", { name: r.name || r.patient_id }))),
      ),
    );
  }
  const kinds = (desk[lang] || desk.en).inbox.kinds;
  return answer.rows.map((r) => {
    const when = partsInZone(r.at, ctx.zone, lang);
    const who = r.name || t("worklists.inbox.nobody");
    return h(
      "tr",
      null,
      h("td", null, kinds[r.kind] || r.kind),
      h("td", null, when ? `${when.monthShort} ${when.day}, ${when.time}` : r.at),
      h("td", null, who),
      h("td", null, link(r.link, t("worklists.inbox.open"), t("worklists.inbox.openFor", { name: who }))),
    );
  });
}

const COLUMNS = {
  unconfirmed: ["time", "patient", "phone", "action"],
  recall: ["patient", "due", "phone", "action"],
  balances: ["patient", "balance", "age", "action"],
  inbox: ["kind", "received", "patient", "action"],
};

function listCard(ctx, t, key, path) {
  const id = `worklist-${key}`;
  const tbody = h("tbody");
  const hint = h("p", { class: "hint" });
  const empty = h("p", { class: "muted", hidden: true }, t("worklists.empty"));
  const status = statusLine();
  const more = h("button", { class: "btn btn-secondary", type: "button", hidden: true }, t("worklists.more"));
  const table = h(
    "table",
    { class: "sheet worklist-table", hidden: true },
    h("thead", null, h("tr", null, COLUMNS[key].map((c) => h("th", { scope: "col" }, t(`worklists.columns.${c}`))))),
    tbody,
  );
  let cursor = "";
  const fetchPage = async () => {
    ctx.noteActivity();
    const query = new URLSearchParams();
    if (cursor) query.set("cursor", cursor);
    const restore = more.hidden ? () => {} : busyButton(more, t("worklists.more"));
    try {
      const answer = await ctx.api.get(practicePath(ctx, `${path}${query.toString() ? `?${query}` : ""}`), { auth: true });
      tbody.append(...rowsFor(key, t, DESK, ctx, answer));
      if (key === "unconfirmed") hint.textContent = t("worklists.unconfirmed.hint", { date: dayLabel(answer.date, ctx.lang) });
      cursor = answer.next_cursor || "";
      table.hidden = !tbody.children.length;
      empty.hidden = Boolean(tbody.children.length) || Boolean(cursor);
      more.hidden = !cursor;
    } catch (err) {
      if (err.status !== 401) status.textContent = errorText(err, ctx.lang);
    } finally {
      restore();
    }
  };
  more.addEventListener("click", fetchPage);
  const card = h(
    "section",
    { class: "card desk-card worklist", id, aria: { labelledby: `${id}-title` } },
    h("h2", { id: `${id}-title` }, t(`worklists.${key}.title`)),
    hint,
    h("div", { class: "table-wrap" }, table),
    empty,
    status,
    more,
  );
  return { card, load: fetchPage };
}

export function showWorklists(ctx) {
  const t = translator(STRINGS, ctx.lang);
  const title = h("h1", { id: "worklists-title" }, t("worklists.title"));
  const lists = LISTS.filter(([, , permission]) => can(ctx.role, permission)).map(([key, path]) => listCard(ctx, t, key, path));
  ctx.show(
    h("div", { class: "stack" }, sectionNav(ctx, "worklists"), title, h("p", { class: "hint" }, t("worklists.intro")), lists.map((l) => l.card)),
    () => showWorklists(ctx),
  );
  focusHeading(title);
  for (const l of lists) l.load();
}
