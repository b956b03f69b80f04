// What the patient card's action modules share (card-images.js, card-billing.js, card-contact.js): their
// stylesheet, a live status line per card section, money typed as dollars and shown from integer cents
// (strings all the way, never float arithmetic), file sizes, and the words for an API refusal.

import { h } from "../common/dom.js";
import { localeFor } from "../common/format.js";

const MIB = 1024 * 1024;
// "19.99", "$1,234.50", "-5", "- $5.00": digits with optional thousands commas and at most two decimals.
const DOLLARS = /^(-)?\s*\$?\s*(-)?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?$/;

/** The card actions' stylesheet, added once (the dashboard's index.html stays as it is). */
export function ensureStyles() {
  const href = new URL("./card-actions.css", import.meta.url).href;
  if (Array.from(document.querySelectorAll('link[rel="stylesheet"]')).some((l) => l.href === href)) return;
  document.head.append(h("link", { rel: "stylesheet", href }));
}

/**
 * A typed amount as the API reads it ("1234.50"), or null when it is not dollars and cents.
 * The text is only rearranged (no $ or commas, two decimals); it never becomes a number, so nothing rounds.
 */
export function parseDollars(text, { negative = false } = {}) {
  const m = DOLLARS.exec(String(text || "").trim());
  if (!m || (m[1] && m[2])) return null;
  const sign = m[1] || m[2] ? "-" : "";
  if (sign && !negative) return null;
  const whole = m[3].replace(/,/g, "").replace(/^0+(?=\d)/, "");
  return `${sign}${whole}.${(m[4] || "").padEnd(2, "0")}`;
}

/** Integer cents as currency text ("$1,234.50"): the decimal is written from the digits, then formatted. */
export function centsLabel(cents, lang) {
  const n = Number(cents);
  if (!Number.isSafeInteger(n)) return "";
  const digits = String(Math.abs(n)).padStart(3, "0");
  const decimal = `${n < 0 ? "-" : ""}${digits.slice(0, -2)}.${digits.slice(-2)}`;
  return new Intl.NumberFormat(localeFor(lang), { style: "currency", currency: "USD" }).format(decimal);
}

/** A byte count for people ("50 MB", "1.4 MB", "830 kB"). */
export function sizeLabel(bytes, lang) {
  const n = Number(bytes) || 0;
  const [value, unit] = n >= MIB ? [n / MIB, "megabyte"] : [n / 1024, "kilobyte"];
  return new Intl.NumberFormat(localeFor(lang), { style: "unit", unit, maximumFractionDigits: value < 10 ? 1 : 0 }).format(value);
}

/**
 * Words for a refused action: the dashboard's own for a code or status it knows, else the API's message for a
 * 4xx (English, so marked as such), else the generic sentence. Returns {text, lang}.
 */
export function actionError(err, t) {
  const code = err && err.code ? String(err.code) : "";
  const status = err && typeof err.status === "number" ? err.status : 0;
  if (code && t.has(`errors.${code}`)) return { text: t(`errors.${code}`), lang: null };
  if (t.has(`errors.status_${status}`)) return { text: t(`errors.status_${status}`), lang: null };
  if (status >= 400 && status < 500 && err.message) {
    const msg = String(err.message);
    return { text: msg.charAt(0).toUpperCase() + msg.slice(1) + (/[.!?]$/.test(msg) ? "" : "."), lang: t.lang === "en" ? null : "en" };
  }
  return { text: t("errors.generic"), lang: null };
}

/** Put a sentence in a section's live region (role=status); `lang` marks an English API message on a Spanish page. */
export function say(status, text, { error = false, lang = null } = {}) {
  status.classList.toggle("is-error", error);
  if (lang) status.setAttribute("lang", lang);
  else status.removeAttribute("lang");
  status.textContent = text;
}

export function sayError(status, err, t) {
  const { text, lang } = actionError(err, t);
  say(status, text, { error: true, lang });
}

/** PUT with the staff token (the shared API client speaks GET, POST and DELETE). Errors look like ApiError. */
export async function put(ctx, path, body) {
  let response;
  try {
    response = await fetch(ctx.apiBase + path, {
      method: "PUT",
      headers: { "Content-Type": "application/json", Accept: "application/json", Authorization: `Bearer ${ctx.token()}` },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw Object.assign(new Error("network error"), { status: 0, code: "network" });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    const err = Object.assign(new Error(String(error.message || response.statusText || "")), { status: response.status, code: String(error.code || `http_${response.status}`) });
    if (response.status === 401) ctx.onUnauthorized();
    throw err;
  }
  return data;
}

/** A labelled form field: label, control, optional hint (tied by aria-describedby). */
export function field(id, label, control, hint) {
  control.id = id;
  if (hint) control.setAttribute("aria-describedby", `${id}-hint`);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : "");
}

/** Mark a field wrong (or right again). */
export function invalid(control, wrong) {
  if (wrong) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
}

export const sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));
