// DOM helpers and the string table lookup. Text always goes in as text nodes: nothing from the
// API is ever parsed as HTML.

/**
 * h("button", {class: "btn", type: "button", onclick: fn, aria: {live: "polite"}}, "Text", child)
 * Props: class, text, dataset (object), aria (object: aria-*), on* (listeners), hidden, other attributes.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key === "aria") {
        for (const [name, v] of Object.entries(value)) if (v !== null && v !== undefined) el.setAttribute(`aria-${name}`, v);
      } else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else if (value === true) el.setAttribute(key, "");
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** An inline SVG icon from a path list (stroke icons, 24×24, currentColor). Decorative by default. */
export function icon(paths) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("fill", "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", "2");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of paths) {
    const p = document.createElementNS(ns, "path");
    p.setAttribute("d", d);
    svg.appendChild(p);
  }
  return svg;
}

export const ICONS = {
  tooth: [
    "M12 5.5c-1.6-1.3-3.3-2-5-1.6C4.6 4.4 3.5 6.6 4 9.2c.4 2 1.3 3.4 1.7 5.4.4 2.4.6 5.9 2.3 5.9 1.8 0 1.6-4.5 4-4.5s2.2 4.5 4 4.5c1.7 0 1.9-3.5 2.3-5.9.4-2 1.3-3.4 1.7-5.4.5-2.6-.6-4.8-3-5.3-1.7-.4-3.4.3-5 1.6z",
  ],
  calendar: ["M8 2v4", "M16 2v4", "M3 10h18", "M5 4h14a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"],
  phone: [
    "M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1.9.4 1.8.7 2.7a2 2 0 0 1-.5 2.1L8 9.8a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.7.7a2 2 0 0 1 1.7 2z",
  ],
  alert: ["M12 8v5", "M12 16h.01", "M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z"],
  left: ["M15 18l-6-6 6-6"],
  right: ["M9 18l6-6-6-6"],
  pin: ["M12 22s7-6.2 7-12a7 7 0 0 0-14 0c0 5.8 7 12 7 12z", "M12 12.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5z"],
  mail: ["M4 4h16a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z", "M22 6l-10 7L2 6"],
  message: ["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"],
  clock: ["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M12 6v6l4 2"],
  check: ["M20 6 9 17l-5-5"],
  x: ["M18 6 6 18", "M6 6l12 12"],
  move: ["M21 12a9 9 0 1 1-3-6.7L21 8", "M21 3v5h-5"],
  download: ["M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4", "M7 10l5 5 5-5", "M12 15V3"],
  copy: ["M9 9h11a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H9a1 1 0 0 1-1-1V10a1 1 0 0 1 1-1z", "M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1"],
  bell: ["M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9", "M13.7 21a2 2 0 0 1-3.4 0"],
  plus: ["M12 5v14", "M5 12h14"],
};

/**
 * A lookup over {en: {...}, es: {...}}: t("a.b", {name}) with {name} placeholders; falls back to English,
 * then to the key itself so a missing string is visible rather than blank.
 */
export function translator(strings, lang) {
  const chosen = strings[lang] || strings.en;
  const find = (table, key) => key.split(".").reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined), table);
  const t = (key, vars) => {
    let value = find(chosen, key);
    if (value === undefined) value = find(strings.en, key);
    if (typeof value !== "string") return key;
    return vars ? value.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m)) : value;
  };
  t.has = (key) => typeof find(chosen, key) === "string" || typeof find(strings.en, key) === "string";
  t.lang = strings[lang] ? lang : "en";
  return t;
}

/** The first supported language among the candidates (e.g. "es-MX" counts as "es"). */
export function pickLanguage(supported, ...candidates) {
  for (const c of candidates) {
    if (!c) continue;
    const base = String(c).toLowerCase().split(/[-_]/)[0];
    if (supported.includes(base)) return base;
  }
  return supported[0];
}

/** Move focus to a heading (or other element) so keyboard and screen reader users land on the new view. */
export function focusHeading(el) {
  if (!el) return;
  if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
  el.focus({ preventScroll: false });
}

/** Show a button as busy (spinner, disabled, aria-busy) and return a function that restores it. */
export function busyButton(button, busyText) {
  const original = Array.from(button.childNodes);
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.replaceChildren(h("span", { class: "spinner", aria: { hidden: "true" } }), busyText);
  return () => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.replaceChildren(...original);
  };
}
