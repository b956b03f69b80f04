// The top bar of the public feedback pages (survey, refer, practice): brand, names and a language
// toggle. Each page keeps its own words; this only draws what they share.

import { h, ICONS, icon, pickLanguage, translator } from "../common/dom.js";

/**
 * @param {object} strings {en: {...}, es: {...}} with pageTitle, appName, otherLanguage
 * @param {string} requested the ?lang= of the URL, if any
 * @param {() => void} redraw called after the language changes
 */
export function createChrome(strings, requested, redraw) {
  const supported = Object.keys(strings);
  const state = { lang: pickLanguage(supported, requested, navigator.language), t: null, practiceName: "" };
  state.t = translator(strings, state.lang);

  function draw() {
    const t = state.t;
    document.documentElement.lang = state.lang;
    document.title = state.practiceName ? `${t("pageTitle")} · ${state.practiceName}` : t("pageTitle");
    const mark = document.getElementById("brand-mark");
    if (mark && !mark.firstChild) mark.appendChild(icon(ICONS.tooth));
    document.getElementById("practice-name").textContent = state.practiceName || t("appName");
    document.getElementById("app-name").textContent = state.practiceName ? t("appName") : "";
    const other = supported.find((l) => l !== state.lang);
    const actions = document.getElementById("topbar-actions");
    actions.replaceChildren(
      h(
        "button",
        {
          type: "button",
          class: "btn btn-quiet",
          lang: other,
          onclick: () => {
            state.lang = other;
            state.t = translator(strings, other);
            draw();
            redraw();
          },
        },
        t("otherLanguage"),
      ),
    );
  }

  return {
    state,
    t: (key, vars) => state.t(key, vars),
    draw,
    setPracticeName(name) {
      state.practiceName = name || "";
      draw();
    },
  };
}
