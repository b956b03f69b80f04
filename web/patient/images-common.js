// What the X-rays & photos section (images.js) and the share page (shared.js) both need: their words,
// how an image is named, when a signed URL counts as spent, and starting a download.
//
// Signed URLs live a few minutes (the API says until when, as expires_at). A URL is never kept for
// longer, never used for another image, and never stored.

import { h, translator } from "../common/dom.js";
import { dayLabel, partsInZone } from "../common/format.js";
import { STRINGS as IMAGE_STRINGS } from "./images-strings.js";
import { STRINGS as PAGE_STRINGS } from "./strings.js";

export const DICOM = "application/dicom";
const TAKEN = { month: "long", day: "numeric", year: "numeric" };
const EARLY_MS = 5000; // a URL this close to its expiry is treated as spent (clocks and latency differ)

/** A lookup over the images strings, then the patient page's (shared errors and words). */
export function imagesTranslator(lang) {
  const mine = translator(IMAGE_STRINGS, lang);
  const page = translator(PAGE_STRINGS, lang);
  const t = (key, vars) => (mine.has(key) ? mine(key, vars) : page(key, vars));
  t.has = (key) => mine.has(key) || page.has(key);
  t.lang = mine.lang;
  return t;
}

export function kindLabel(t, image) {
  const kind = String((image && image.kind) || "other");
  if (t.has(`kinds.${kind}`)) return t(`kinds.${kind}`);
  return String((image && image.kind_label) || t("kinds.other"));
}

/** The day an image was taken: a calendar date (the practice's), shown without any zone shifting. */
export function takenLabel(image, lang) {
  const day = String((image && image.taken_on) || "");
  return /^\d{4}-\d{2}-\d{2}$/.test(day) ? dayLabel(day, lang, TAKEN) : day;
}

/** An instant in the practice's zone, zone named: "Friday, December 18, 2026, 3:00 PM EST". */
export function instantLabel(iso, zone, lang) {
  const parts = partsInZone(iso, zone || "UTC", lang);
  return parts ? `${parts.dateLong}, ${parts.time} ${parts.zoneShort}` : String(iso || "");
}

/** Milliseconds since the epoch of the API's expires_at, or 0 when missing. */
export function expiryMs(iso) {
  const at = Date.parse(String(iso || ""));
  return Number.isNaN(at) ? 0 : at;
}

export function spent(expiresAtMs, now = Date.now()) {
  return !expiresAtMs || now >= expiresAtMs - EARLY_MS;
}

/** Start downloading a signed URL: the bucket answers with Content-Disposition: attachment, so the
 * browser saves the file and this page stays where it is. */
export function startDownload(url) {
  const link = h("a", { href: url, hidden: true, rel: "noopener noreferrer" });
  document.body.append(link);
  link.click();
  link.remove();
}

/** The section's stylesheet, added once; resolves when it has loaded (or failed: the page still works). */
export function ensureStyles() {
  const href = new URL("./images.css", import.meta.url).href;
  const existing = Array.from(document.querySelectorAll('link[rel="stylesheet"]')).find((l) => l.href === href);
  if (existing) return Promise.resolve();
  const link = h("link", { rel: "stylesheet", href });
  const ready = new Promise((resolve) => {
    link.addEventListener("load", resolve);
    link.addEventListener("error", resolve);
    window.setTimeout(resolve, 3000);
  });
  document.head.append(link);
  return ready;
}
