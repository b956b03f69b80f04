// Money as people read it. The API sends integer cents (minor units); nothing here does arithmetic on
// them: the digits are placed around a decimal point as text and Intl.NumberFormat formats that text in
// the practice's currency, so no amount ever passes through a binary fraction.

import { localeFor } from "../common/format.js";

const formats = new Map();

function currencyFormat(currency, lang) {
  const code = String(currency || "usd").toUpperCase();
  const key = `${lang}|${code}`;
  if (!formats.has(key)) {
    let nf;
    try {
      nf = new Intl.NumberFormat(localeFor(lang), { style: "currency", currency: code });
    } catch {
      nf = new Intl.NumberFormat(localeFor(lang), { style: "currency", currency: "USD" });
    }
    formats.set(key, nf);
  }
  return formats.get(key);
}

/** "-1234" with 2 minor digits -> "-12.34" (exact, for any safe integer). */
export function minorUnitsText(cents, digits = 2) {
  if (!Number.isSafeInteger(cents)) return "";
  const negative = cents < 0;
  const text = String(Math.abs(cents)).padStart(digits + 1, "0");
  const whole = digits ? text.slice(0, text.length - digits) : text;
  const fraction = digits ? `.${text.slice(text.length - digits)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

/** 4210 -> "$42.10" in the practice's currency and the reader's language; "" for anything not whole cents. */
export function formatCents(cents, currency, lang) {
  const nf = currencyFormat(currency, lang);
  const text = minorUnitsText(cents, nf.resolvedOptions().maximumFractionDigits);
  if (!text) return "";
  // format() takes the decimal string as written (Intl.NumberFormat v3), not as a float.
  return nf.format(text);
}

/** True for an integer number of cents from the API (never a float, never text). */
export function isCents(value) {
  return Number.isSafeInteger(value);
}
