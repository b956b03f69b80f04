// Message bodies as safe, readable DOM: text nodes and <a> elements only, never parsed HTML.

import { h } from "../common/dom.js";

const URL_RE = /https?:\/\/[^\s<>"']+/g;
export const CODE_RE = /\b(\d{6})\b/;

/** Text with every http(s) URL turned into a link (trailing punctuation stays text). */
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0];
    const trailing = /[.,;:!?)\]]+$/.exec(url);
    if (trailing) url = url.slice(0, -trailing[0].length);
    out.push(text.slice(last, match.index));
    out.push(h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url));
    last = match.index + url.length;
  }
  out.push(text.slice(last));
  return out;
}

/** An HTML email body as readable text: parsed inertly (no scripts, no loads), links kept as "text (url)". */
export function htmlToText(html) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  for (const a of doc.querySelectorAll("a[href]")) {
    const href = a.getAttribute("href") || "";
    if (/^https?:/i.test(href) && a.textContent.trim() !== href) a.append(` (${href})`);
  }
  for (const br of doc.querySelectorAll("br")) br.replaceWith("\n");
  for (const block of doc.querySelectorAll("p, div, li, tr, h1, h2, h3")) block.append("\n");
  for (const junk of doc.querySelectorAll("style, script, head")) junk.remove();
  return (doc.body ? doc.body.textContent : "").replace(/\n{3,}/g, "\n\n").trim();
}

/** The body to show: plain text as is, an HTML body as its text. */
export function bodyText(item) {
  const body = String(item.body || "");
  return /^\s*</.test(body) && /<\/?[a-z][\s\S]*>/i.test(body) ? htmlToText(body) : body.trim();
}
