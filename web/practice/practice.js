// The public practice page: hours, address, phone, review sites and social profiles, and a
// "request an appointment" form for new patients. A referral link (?ref=CODE) opens it with the
// invitation shown and the code sent along with the request. The embed snippet (embed.js) links
// here with #request.

import { createApi, friendlyError, loadConfig } from "../common/api.js";
import { busyButton, focusHeading, h, ICONS, icon } from "../common/dom.js";
import { displayPhone, hoursRows, telHref } from "../common/format.js";
import { createChrome } from "./chrome.js";
import { STRINGS } from "./strings.js";

const config = loadConfig();
const ref = (new URLSearchParams(window.location.search).get("ref") || "").trim().toUpperCase();
const api = createApi(config.apiBase);
const main = document.getElementById("main");
const view = { render: () => {}, profile: null, links: null, invite: "", sent: false, values: {} };
const chrome = createChrome(STRINGS, config.lang, () => view.render());
const t = chrome.t;
const pid = () => encodeURIComponent(config.practiceId);

function field(name, label, type, hint, extra = {}) {
  const id = `req-${name}`;
  const input =
    type === "textarea"
      ? h("textarea", { id, name, rows: "3", ...extra, aria: hint ? { describedby: `${id}-hint` } : null })
      : h("input", { id, name, type, ...extra, aria: hint ? { describedby: `${id}-hint` } : null });
  input.value = view.values[name] || "";
  input.addEventListener("input", () => {
    view.values[name] = input.value;
  });
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null);
}

function requestForm() {
  const heading = h("h2", { id: "request-heading" }, t("requestHeading"));
  if (view.sent) {
    return h("section", { class: "card stack", id: "request", aria: { labelledby: "request-heading" } }, heading, h("p", { class: "notice", role: "status", dataset: { state: "sent" } }, t("sent")));
  }
  const error = h("div", { class: "form-error", role: "alert" });
  const send = h("button", { type: "submit", class: "btn btn-primary btn-block" }, t("send"));
  const form = h(
    "form",
    {
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const v = view.values;
        if (!(v.name || "").trim()) {
          error.textContent = t("needName");
          form.querySelector("#req-name").focus();
          return;
        }
        if (!(v.phone || "").trim() && !(v.email || "").trim()) {
          error.textContent = t("needContact");
          form.querySelector("#req-phone").focus();
          return;
        }
        const body = {
          name: v.name || "",
          phone: v.phone || "",
          email: v.email || "",
          reason: v.reason || "",
          preferred_times: v.preferred_times || "",
          language: chrome.state.lang,
        };
        if (view.invite === "valid") body.referral_code = ref;
        const restore = busyButton(send, t("sending"));
        try {
          await api.post(`/public/practices/${pid()}/new-patient-requests`, body);
          view.sent = true;
          view.render();
          focusHeading(document.getElementById("request-heading"));
        } catch (err) {
          restore();
          error.textContent = friendlyError(err, chrome.state.t, chrome.state.lang);
        }
      },
    },
    error,
    field("name", t("name"), "text", "", { autocomplete: "name", maxlength: "120", required: true }),
    field("phone", t("phone"), "tel", t("contactHint"), { autocomplete: "tel", maxlength: "40", inputmode: "tel" }),
    field("email", t("email"), "email", "", { autocomplete: "email", maxlength: "254" }),
    field("reason", t("reason"), "textarea", t("reasonHint"), { maxlength: "500" }),
    field("preferred_times", t("times"), "text", t("timesHint"), { maxlength: "200" }),
    send,
  );
  return h("section", { class: "card stack", id: "request", aria: { labelledby: "request-heading" } }, heading, h("p", { class: "lede" }, t("requestLede")), form);
}

function about() {
  const p = view.profile;
  const a = p.address || {};
  const street = [a.line, a.line2].filter(Boolean).join(", ");
  const city = [a.city, [a.state, a.postal_code].filter(Boolean).join(" ")].filter(Boolean).join(", ");
  const rows = hoursRows(p.hours, chrome.state.lang);
  const reviews = (view.links && view.links.review_links) || [];
  const social = (view.links && view.links.social) || [];
  const linkItem = (url, label, data) => h("li", null, h("a", { class: "btn btn-secondary btn-block", href: url, target: "_blank", rel: "noopener noreferrer", dataset: data }, label));
  return h(
    "section",
    { class: "card stack", aria: { labelledby: "practice-heading" } },
    h("h1", { id: "practice-heading" }, p.name),
    p.phone ? h("p", null, h("a", { class: "tel-link", href: telHref(p.phone) }, icon(ICONS.phone), t("call", { phone: displayPhone(p.phone) }))) : null,
    street || city ? h("div", null, h("h2", null, t("address")), h("p", null, icon(ICONS.pin), " ", [street, city].filter(Boolean).join(", "))) : null,
    rows.length
      ? h("div", null, h("h2", null, t("hours")), h("dl", { class: "hours-list" }, rows.flatMap((r) => [h("dt", null, r.days), h("dd", null, r.times.map((x) => h("span", { class: "hours-span" }, x, h("br"))))])))
      : null,
    reviews.length ? h("div", null, h("h2", null, t("reviews")), h("ul", { class: "review-list" }, reviews.map((r) => linkItem(r.url, t(`sites.${r.site}`), { site: r.site })))) : null,
    social.length ? h("div", null, h("h2", null, t("follow")), h("ul", { class: "review-list" }, social.map((s) => linkItem(s.url, t(`networks.${s.network}`), { network: s.network })))) : null,
  );
}

function render() {
  const invite =
    view.invite === "valid" ? h("p", { class: "notice", dataset: { state: "invited" } }, t("invited")) : view.invite === "invalid" ? h("p", { class: "notice" }, t("badInvite")) : null;
  // A referred friend came to ask for a visit: the form comes first.
  main.replaceChildren(...(ref ? [invite, requestForm(), about()] : [about(), requestForm()]));
}

async function start() {
  chrome.draw();
  try {
    const [profile, links] = await Promise.all([
      api.get(`/public/practices/${pid()}`),
      api.get(`/public/practices/${pid()}/links`).catch(() => null),
    ]);
    view.profile = profile;
    view.links = links;
    chrome.setPracticeName(profile.name);
    if (ref) {
      try {
        await api.get(`/public/practices/${pid()}/referrals/${encodeURIComponent(ref)}`);
        view.invite = "valid";
      } catch {
        view.invite = "invalid";
      }
    }
    view.render = render;
    render();
    if (window.location.hash === "#request" || ref) {
      const target = document.getElementById("request-heading");
      if (target) focusHeading(target);
    }
  } catch (err) {
    const heading = h("h1", null, friendlyError(err, chrome.state.t, chrome.state.lang));
    main.replaceChildren(h("section", { class: "card" }, heading));
  }
  main.setAttribute("aria-busy", "false");
}

start();
