// What the contact-preferences and privacy sections share: the session's patients (from /patient/me), the
// "whose" picker (plain links to #<section>/<patient id>, so the choice survives a
// reload), the sections' stylesheet, and a guard for answers that arrive after the person moved on.

import { h } from "../common/dom.js";
import { currentSection } from "./sections.js";

/**
 * The session's patients, self first: {patients: [{id, name, relation, is_minor, language}], practice}.
 * Asked each time a section opens (never cached across openings: another person may have signed in since).
 */
export async function loadPeople(api) {
  const me = await api.get("/patient/me", { auth: true });
  const list = Array.isArray(me && me.patients) ? me.patients.slice() : [];
  list.sort((a, b) => (b.relation === "self") - (a.relation === "self"));
  return { patients: list, practice: (me && me.practice) || null };
}

/** The patient the hash argument names, if it is one of the session's; else the first (self, if any). */
export function chosenPatient(patients, argument) {
  return patients.find((p) => p.id === argument) || patients[0] || null;
}

export function firstName(name) {
  return String(name || "").trim().split(/\s+/)[0] || "";
}

/**
 * Links to the same section for each patient, the chosen one marked; nothing for a session of one patient.
 * labels: {legend, you} strings in the page's language.
 */
export function patientPicker(section, patients, chosen, labels) {
  if (patients.length < 2) return "";
  return h(
    "nav",
    { class: "whose", aria: { label: labels.legend } },
    h("p", { class: "whose-label", aria: { hidden: "true" } }, labels.legend),
    h(
      "ul",
      null,
      patients.map((p) =>
        h(
          "li",
          null,
          h(
            "a",
            {
              class: "whose-link",
              href: `#${section}/${encodeURIComponent(p.id)}`,
              aria: { current: chosen && p.id === chosen.id ? "page" : null },
            },
            p.relation === "self" ? `${p.name} (${labels.you})` : p.name,
          ),
        ),
      ),
    ),
  );
}

/** The sections' stylesheet, added once (style-src 'self': a <link> to our own file is allowed). */
export function ensureStyles() {
  const href = new URL("./privacy.css", import.meta.url).href;
  const existing = document.querySelector(`link[rel="stylesheet"][href="${href}"]`);
  if (existing) return Promise.resolve();
  return new Promise((resolve) => {
    const link = h("link", { rel: "stylesheet", href });
    link.addEventListener("load", resolve);
    link.addEventListener("error", resolve); // unstyled is better than nothing
    document.head.append(link);
  });
}

/** True while the address still shows this section (an answer for a view the person left is dropped). */
export function stillOn(section) {
  return currentSection() === section;
}

/** The page's language as the chrome set it (it changes without the section being opened again). */
export function pageLang() {
  return document.documentElement.lang || "en";
}

/** Redraw, then put focus back on the element with the same id (or on the fallback). */
export function keepFocus(draw, fallback) {
  const id = document.activeElement && document.activeElement.id;
  draw();
  const again = id ? document.getElementById(id) : null;
  const target = again || (fallback ? document.getElementById(fallback) : null);
  if (target) {
    if (!target.hasAttribute("tabindex") && /^H\d$/.test(target.tagName)) target.setAttribute("tabindex", "-1");
    target.focus({ preventScroll: Boolean(again) });
  }
}
