// The post-visit survey: 0-10 "would you recommend us" and an optional comment, in a few taps on a
// phone. Every answer is shown the practice's review links, whatever the score.
//
// The link carries a signed single-use token (?t=); nothing about the patient is shown or stored here.

import { createApi, friendlyError, loadConfig } from "../common/api.js";
import { busyButton, focusHeading, h } from "../common/dom.js";
import { displayPhone, telHref } from "../common/format.js";
import { createChrome } from "../practice/chrome.js";
import { STRINGS } from "./strings.js";

const MAX_COMMENT = 1000;
const config = loadConfig();
const token = (new URLSearchParams(window.location.search).get("t") || "").trim();
const api = createApi(config.apiBase);
const main = document.getElementById("main");
const view = { render: () => {}, practice: null, score: null, comment: "" };
const chrome = createChrome(STRINGS, config.lang, () => view.render());
const t = chrome.t;

function done() {
  main.setAttribute("aria-busy", "false");
}

function showError(err) {
  view.render = () => {
    const heading = h("h1", null, friendlyError(err, chrome.state.t, chrome.state.lang));
    const phone = view.practice && view.practice.phone;
    main.replaceChildren(
      h(
        "section",
        { class: "card stack", dataset: { state: err.code || "error" } },
        heading,
        phone ? h("p", null, h("a", { href: telHref(phone), class: "tel-link" }, t("call", { phone: displayPhone(phone) }))) : null,
      ),
    );
    focusHeading(heading);
  };
  view.render();
  done();
}

function showForm() {
  view.render = () => {
    const practiceName = view.practice.name;
    const error = h("div", { class: "form-error", id: "survey-error", role: "alert" });
    const options = [];
    for (let n = 0; n <= 10; n += 1) {
      const id = `score-${n}`;
      const input = h("input", {
        type: "radio",
        name: "score",
        id,
        value: String(n),
        checked: view.score === n,
        onchange: () => {
          view.score = n;
          error.textContent = "";
        },
      });
      options.push(h("div", { class: "score-option" }, input, h("label", { for: id }, String(n))));
    }
    const left = h("span", { class: "hint", id: "comment-hint", aria: { live: "polite" } });
    const comment = h("textarea", {
      id: "comment",
      name: "comment",
      maxlength: String(MAX_COMMENT),
      rows: "4",
      aria: { describedby: "comment-hint" },
    });
    comment.value = view.comment;
    const count = () => {
      view.comment = comment.value;
      left.textContent = t("commentHint", { left: MAX_COMMENT - comment.value.length });
    };
    comment.addEventListener("input", count);
    count();
    const send = h("button", { type: "submit", class: "btn btn-primary btn-block" }, t("send"));
    const form = h(
      "form",
      {
        class: "card",
        novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          if (view.score === null) {
            error.textContent = t("pickScore");
            form.querySelector("input[name=score]").focus();
            return;
          }
          const restore = busyButton(send, t("sending"));
          try {
            const answer = await api.post(`/public/surveys/${encodeURIComponent(token)}`, {
              score: view.score,
              comment: view.comment,
              language: chrome.state.lang,
            });
            showThanks(answer);
          } catch (err) {
            restore();
            if (["link_expired", "already_answered", "link_invalid"].includes(err.code)) showError(err);
            else error.textContent = friendlyError(err, chrome.state.t, chrome.state.lang);
          }
        },
      },
      error,
      h(
        "fieldset",
        { class: "score-grid", aria: { describedby: "score-ends" } },
        h("legend", { id: "question" }, t("question", { practice: practiceName })),
        options,
      ),
      h("p", { class: "score-ends", id: "score-ends" }, h("span", null, t("notLikely")), h("span", null, t("veryLikely"))),
      h("div", { class: "field" }, h("label", { for: "comment" }, t("commentLabel")), comment, left),
      send,
    );
    main.replaceChildren(h("h1", { class: "visually-hidden" }, t("pageTitle")), form);
  };
  view.render();
  done();
}

function showThanks(answer) {
  view.render = () => {
    const heading = h("h1", null, t("thanks"));
    const links = (answer.review_links || []).map((r) =>
      h(
        "li",
        null,
        h(
          "a",
          { class: "btn btn-secondary btn-block", href: r.url, target: "_blank", rel: "noopener noreferrer", dataset: { site: r.site } },
          t("reviewOn", { site: t(`sites.${r.site}`) }),
        ),
      ),
    );
    main.replaceChildren(
      h(
        "section",
        { class: "card stack", dataset: { state: "thanks" } },
        heading,
        answer.follow_up ? h("p", { class: "notice" }, t("followUp")) : null,
        links.length ? h("p", null, t("reviewAsk")) : null,
        links.length ? h("ul", { class: "review-list" }, links) : null,
      ),
    );
    focusHeading(heading);
  };
  view.render();
}

async function start() {
  chrome.draw();
  if (!token) {
    showError({ code: "link_invalid", status: 404 });
    return;
  }
  try {
    const about = await api.get(`/public/surveys/${encodeURIComponent(token)}`);
    view.practice = about.practice;
    chrome.setPracticeName(about.practice.name);
    showForm();
  } catch (err) {
    showError(err);
  }
}

start();
