// The signed-in patient page's sections and the navigation between them.
//
// The address's hash names the section (#billing, #images, ...); "" or #appointments is the home view
// in app.js. Every other section lives in a module of its own, loaded when first opened, exporting
//   showSection(ctx)
// where ctx (built by app.js) is
//   {api, config, practice, lang, t, show(view, render), nav(current), sessionEnded(), navigate(hash)}.
// api calls that need the session pass {auth: true}; a 401 must end in ctx.sessionEnded().
// A section draws with ctx.show(view, render) (render redraws it after a language change) and puts
// ctx.nav("<its hash>") at the top of its view so the person can always move on.

import { h } from "../common/dom.js";

export const HOME = "appointments";

export const SECTIONS = [
  // [hash, nav string key, loader]
  [HOME, "nav.appointments", null],
  ["billing", "nav.billing", () => import("./billing.js")],
  ["images", "nav.images", () => import("./images.js")],
  ["contact", "nav.contact", () => import("./contact.js")],
  ["privacy", "nav.privacy", () => import("./privacy.js")],
];

/** The section the address names, or HOME for an empty or unknown hash. */
export function currentSection() {
  const name = (window.location.hash || "").replace(/^#/, "").split("/")[0];
  return SECTIONS.some(([hash]) => hash === name) ? name : HOME;
}

/** The part of the hash after the section ("#images/IMG-1" gives "IMG-1"), decoded, or "". */
export function sectionArgument() {
  const rest = (window.location.hash || "").replace(/^#/, "").split("/").slice(1).join("/");
  try {
    return decodeURIComponent(rest);
  } catch {
    return "";
  }
}

export function loaderFor(name) {
  const found = SECTIONS.find(([hash]) => hash === name);
  return found ? found[2] : null;
}

/** The section links: plain anchors (so they work with a keyboard and open in a new tab), the current one marked. */
export function sectionNav(t, current) {
  if (SECTIONS.length < 2) return "";
  return h(
    "nav",
    { class: "section-nav", aria: { label: t("nav.label") } },
    h(
      "ul",
      null,
      SECTIONS.map(([hash, key]) =>
        h("li", null, h("a", { href: `#${hash}`, class: "section-link", aria: { current: hash === current ? "page" : null } }, t(key))),
      ),
    ),
  );
}
