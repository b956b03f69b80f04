// Refer a friend: the signed-in patient's personal link and code, shared through the Web Share API
// on phones and through SMS, email, Facebook, X and WhatsApp links elsewhere.
//
// It reads the session the patient page keeps in sessionStorage (same key, same shape); it never
// writes it. Without a session it sends the patient to sign in there.

import { createApi, friendlyError, loadConfig, store } from "../common/api.js";
import { focusHeading, h, ICONS, icon } from "../common/dom.js";
import { createChrome } from "../practice/chrome.js";
import { STRINGS } from "./strings.js";

const SESSION_KEY = "chairside.patient.session"; // web/patient/app.js keeps the session here
const config = loadConfig();
const main = document.getElementById("main");
const view = { render: () => {}, referral: null };
const chrome = createChrome(STRINGS, config.lang, () => view.render());
const t = chrome.t;

function session() {
  const s = store.read(SESSION_KEY);
  if (!s || !s.token || s.practiceId !== config.practiceId) return null;
  return s;
}

const api = createApi(config.apiBase, { token: () => (session() || {}).token || null });
const patientPage = () => `../patient/?practice=${encodeURIComponent(config.practiceId)}`;

function shareLinks(referral) {
  const practice = referral.practice.name;
  const text = t("message", { practice, url: referral.url });
  const enc = encodeURIComponent;
  return [
    ["sms", `sms:?&body=${enc(text)}`],
    ["email", `mailto:?subject=${enc(t("subject", { practice }))}&body=${enc(text)}`],
    ["facebook", `https://www.facebook.com/sharer/sharer.php?u=${enc(referral.url)}`],
    ["x", `https://twitter.com/intent/tweet?text=${enc(t("message", { practice, url: "" }).trim())}&url=${enc(referral.url)}`],
    ["whatsapp", `https://wa.me/?text=${enc(text)}`],
  ];
}

function showSignIn() {
  view.render = () => {
    const heading = h("h1", null, t("heading"));
    main.replaceChildren(
      h(
        "section",
        { class: "card stack", dataset: { state: "signed-out" } },
        heading,
        h("p", null, t("signIn")),
        h("a", { class: "btn btn-primary btn-block", href: patientPage() }, t("signInLink")),
      ),
    );
    focusHeading(heading);
  };
  view.render();
}

function showReferral() {
  view.render = () => {
    const r = view.referral;
    const practice = r.practice.name;
    const heading = h("h1", null, t("heading"));
    const status = h("p", { class: "hint", role: "status", aria: { live: "polite" } });
    const link = h("input", { type: "text", id: "referral-link", readonly: true, value: r.url });
    const copy = h(
      "button",
      {
        type: "button",
        class: "btn btn-secondary",
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(r.url);
          } catch {
            link.select(); // clipboard refused: leave the link selected for a manual copy
          }
          status.textContent = t("copied");
        },
      },
      icon(ICONS.copy),
      t("copy"),
    );
    const canShare = typeof navigator.share === "function";
    const share = canShare
      ? h(
          "button",
          {
            type: "button",
            class: "btn btn-primary btn-block",
            id: "share",
            onclick: () => {
              navigator.share({ title: t("subject", { practice }), text: t("message", { practice, url: "" }).trim(), url: r.url }).catch(() => {});
            },
          },
          t("share"),
        )
      : null;
    const links = shareLinks(r).map(([name, href]) =>
      h(
        "li",
        null,
        h(
          "a",
          { class: "btn btn-secondary btn-block", href, target: href.startsWith("http") ? "_blank" : null, rel: "noopener noreferrer", dataset: { via: name } },
          t(`via.${name}`),
        ),
      ),
    );
    main.replaceChildren(
      h(
        "section",
        { class: "card stack", dataset: { state: "referral" } },
        heading,
        h("p", { class: "lede" }, t("lede", { practice })),
        h("div", null, h("p", { class: "muted" }, t("codeLabel")), h("p", { class: "referral-code", id: "referral-code" }, r.code)),
        h("div", { class: "field" }, h("label", { for: "referral-link" }, t("linkLabel")), h("div", { class: "share-link" }, link, copy), status),
        r.rewards && r.rewards.enabled && r.rewards.text ? h("p", { class: "notice" }, t("reward", { text: r.rewards.text })) : null,
        share,
        h("p", { class: "muted" }, t("shareVia")),
        h("ul", { class: "share-list" }, links),
      ),
      h("p", null, h("a", { href: patientPage(), class: "btn btn-quiet" }, t("back"))),
    );
    focusHeading(heading);
  };
  view.render();
}

async function start() {
  chrome.draw();
  if (!session()) {
    main.setAttribute("aria-busy", "false");
    showSignIn();
    return;
  }
  try {
    view.referral = await api.get("/patient/referral", { auth: true });
    chrome.setPracticeName(view.referral.practice.name);
    showReferral();
  } catch (err) {
    if (err.status === 401) {
      showSignIn();
    } else {
      const heading = h("h1", null, friendlyError(err, chrome.state.t, chrome.state.lang));
      main.replaceChildren(h("section", { class: "card" }, heading));
      focusHeading(heading);
    }
  }
  main.setAttribute("aria-busy", "false");
}

start();
