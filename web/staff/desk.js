// Shared pieces of the desk views: their strings, the section navigation and small formatters.
// app.js owns the session; views get a context {api, lang, practiceId, zone, role, show, noteActivity}.

import { friendlyError } from "../common/api.js";
import { h, translator } from "../common/dom.js";
import { STRINGS } from "./desk-strings.js";

export const SECTIONS = [
  // [hash, string key, permission that shows it (null: every role)]
  ["day", "nav.day", null],
  ["worklists", "nav.worklists", null],
  ["patients", "nav.patients", "patients.view"],
  ["inbox", "nav.inbox", "inbox.work"],
  ["analytics", "nav.analytics", "analytics.view"],
  ["audit", "nav.audit", "audit.view"],
  ["settings", "nav.settings", "settings.view"],
];

// The same grants as chalicelib/platform/permissions.py, used only to hide links the API would refuse.
const GRANTS = {
  "schedule.view": ["owner", "manager", "front_desk", "clinical"],
  "patients.view": ["owner", "manager", "front_desk", "clinical"],
  "analytics.view": ["owner", "manager", "front_desk", "clinical"],
  "analytics.money": ["owner", "manager"],
  "inbox.work": ["owner", "manager", "front_desk"],
  "audit.view": ["owner", "manager"],
  "settings.view": ["owner", "manager"],
  "settings.change": ["owner", "manager"],
  "billing.post": ["owner", "manager", "front_desk"],
  "images.manage": ["owner", "manager", "clinical"],
  "billing.refund": ["owner", "manager"],
  "patients.contact": ["owner", "manager", "front_desk", "clinical"],
};

export function can(role, permission) {
  return !permission || (GRANTS[permission] || []).includes(role);
}

export function deskT(lang) {
  return translator(STRINGS, lang);
}

export function errorText(err, lang) {
  return friendlyError(err, deskT(lang), lang);
}

export function currentSection() {
  const name = (window.location.hash || "").replace(/^#/, "").split("/")[0];
  return SECTIONS.some(([key]) => key === name) ? name : "day";
}

export function sectionNav(ctx, active) {
  const t = deskT(ctx.lang);
  return h(
    "nav",
    { class: "desk-nav", aria: { label: t("nav.label") } },
    h(
      "ul",
      null,
      SECTIONS.filter(([, , permission]) => can(ctx.role, permission)).map(([key, label]) =>
        h("li", null, h("a", { href: `#${key}`, aria: { current: key === active ? "page" : null }, dataset: { section: key } }, t(label))),
      ),
    ),
  );
}

export function practicePath(ctx, rest) {
  return `/practices/${encodeURIComponent(ctx.practiceId)}${rest}`;
}

export function money(cents, lang) {
  const n = Number(cents) || 0;
  return new Intl.NumberFormat(lang === "es" ? "es-US" : "en-US", { style: "currency", currency: "USD" }).format(n / 100);
}

export function localTime(iso, zone, lang) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(lang === "es" ? "es-US" : "en-US", {
    dateStyle: "medium",
    timeStyle: "short",
    timeZone: zone || "UTC",
  }).format(new Date(iso));
}

/** The UTC instant of a wall-clock "YYYY-MM-DDTHH:MM" in an IANA zone (two passes settle DST edges). */
export function zonedToUtc(local, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(local || "");
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  const offset = (at) => {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" })
        .formatToParts(new Date(at))
        .map((p) => [p.type, p.value]),
    );
    return Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute) - at;
  };
  let at = wall - offset(wall);
  at = wall - offset(at);
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A status line that screen readers announce. */
export function statusLine() {
  return h("p", { class: "desk-status", role: "status", aria: { live: "polite" } });
}

export function section(title, id, ...children) {
  return h("section", { class: "card desk-card", aria: { labelledby: id } }, h("h2", { id }, title), ...children);
}
