// The local-only outbox: every email and SMS the local stack "sent", newest first, refreshed every
// few seconds from /outbox.json on this origin. A developer reads sign-in codes and reminder links here.

import { h, ICONS, icon, translator } from "../common/dom.js";
import { bodyText, CODE_RE, linkify } from "./text.js";

const STRINGS = {
  en: {
    title: "Local outbox",
    subtitle: "Email and SMS the local stack sent",
    heading: "Sent messages",
    lede: "Nothing here left this computer. Newest first; refreshes every {seconds} seconds.",
    filter: "Filter by recipient or text",
    count: "{count} messages",
    countOne: "1 message",
    showing: "{shown} of {count} messages",
    live: "Live",
    paused: "Paused",
    pause: "Pause",
    resume: "Resume",
    refreshNow: "Refresh now",
    newMessages: "{count} new messages",
    newMessage: "1 new message",
    email: "Email",
    sms: "SMS",
    to: "To",
    from: "From",
    subject: "Subject",
    noSubject: "(no subject)",
    id: "Message id",
    code: "Code",
    copy: "Copy code",
    copied: "Copied",
    emptyTitle: "Nothing sent yet",
    emptyBody: "Ask for a sign-in code on the patient page and it shows up here within a few seconds.",
    openPatient: "Open the patient page",
    noMatch: "No messages match the filter.",
    unreachable: "Can't read /outbox.json. Is the local stack running? Retrying…",
    notLocal: "The outbox exists only on the local stack (make run). Nothing is listed here in production.",
    justNow: "just now",
    replyHeading: "Text the practice as a patient",
    replyHint:
      "Goes to the inbound-SMS handler as a patient's reply would: try C to confirm, STOP or CANCEL to opt out, START to opt back in, HELP, or anything else for the staff inbox.",
    replyFrom: "Patient's phone",
    replyText: "Message",
    replySend: "Send text",
    replySending: "Sending…",
    replyTo: "Reply",
    replyToLabel: "Reply to {to} as the patient",
    replyDone: "Handled as: {outcome}",
    replyFailed: "Not sent: {message}",
  },
};

const REFRESH_MS = 3000;
const t = translator(STRINGS, "en");
const config = window.CHAIRSIDE_CONFIG || {};
const main = document.getElementById("main");

const state = {
  items: [],
  ids: "",
  seen: new Set(),
  fresh: new Set(),
  filter: "",
  paused: false,
  failed: false,
  loaded: false,
  timer: 0,
};

const status = h("p", { class: "visually-hidden", role: "status" });
const listEl = h("ol", { class: "messages", aria: { labelledby: "outbox-heading" } });
const countEl = h("p", { class: "count muted" });
const errorEl = h("div", { class: "form-error", role: "alert" });
const filterInput = h("input", {
  id: "filter",
  type: "search",
  autocomplete: "off",
  spellcheck: "false",
  oninput: () => {
    state.filter = filterInput.value.trim().toLowerCase();
    renderList();
  },
});

function chrome() {
  document.getElementById("brand-mark").replaceChildren(icon(ICONS.mail));
  document.getElementById("title").textContent = t("title");
  document.getElementById("subtitle").textContent = t("subtitle");
  renderLive();
}

function renderLive() {
  const button = h(
    "button",
    {
      class: "btn btn-secondary btn-small",
      type: "button",
      aria: { pressed: state.paused ? "true" : "false" },
      onclick: () => {
        state.paused = !state.paused;
        renderLive();
        if (!state.paused) poll();
      },
    },
    state.paused ? t("resume") : t("pause"),
  );
  document.getElementById("live").replaceChildren(
    h(
      "div",
      { class: "live" },
      h("span", { class: `live-dot ${state.paused ? "is-paused" : ""}`, aria: { hidden: "true" } }),
      h("span", { class: "live-label" }, state.paused ? t("paused") : t("live")),
      button,
    ),
  );
}

// --- texting the practice (the local stand-in for a patient's phone) --------------------------------

const replyFrom = h("input", { id: "reply-from", type: "tel", autocomplete: "off", list: "reply-numbers", required: true });
const replyNumbers = h("datalist", { id: "reply-numbers" });
const replyText = h("input", { id: "reply-text", type: "text", autocomplete: "off", maxlength: "1600", required: true });
const replyResult = h("p", { class: "reply-result", role: "status" });
const replySend = h("button", { class: "btn btn-primary", type: "submit" }, t("replySend"));

async function sendReply(event) {
  event.preventDefault();
  if (!replyFrom.value.trim() || !replyText.value.trim()) {
    (replyFrom.value.trim() ? replyText : replyFrom).focus();
    return;
  }
  replySend.disabled = true;
  replySend.textContent = t("replySending");
  try {
    const response = await fetch("/outbox/reply", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ from: replyFrom.value.trim(), text: replyText.value }),
    });
    const data = await response.json();
    replyResult.textContent = response.ok
      ? t("replyDone", { outcome: String(data.outcome || "") })
      : t("replyFailed", { message: String((data.error && data.error.message) || response.status) });
    if (response.ok) replyText.value = "";
    poll();
  } catch (error) {
    replyResult.textContent = t("replyFailed", { message: String(error.message || error) });
  } finally {
    replySend.disabled = false;
    replySend.textContent = t("replySend");
  }
}

function replyPanel() {
  return h(
    "form",
    { class: "card reply", aria: { labelledby: "reply-heading" }, onsubmit: sendReply, novalidate: true },
    h("h2", { id: "reply-heading" }, t("replyHeading")),
    h("p", { class: "muted" }, t("replyHint")),
    h(
      "div",
      { class: "reply-fields" },
      h("div", { class: "field" }, h("label", { for: "reply-from" }, t("replyFrom")), replyFrom, replyNumbers),
      h("div", { class: "field" }, h("label", { for: "reply-text" }, t("replyText")), replyText),
      replySend,
    ),
    replyResult,
  );
}

function replyTo(number) {
  replyFrom.value = number;
  replyText.focus();
  replyFrom.closest("form").scrollIntoView({ block: "nearest" });
}

// --- messages ------------------------------------------------------------------------------------

function timeLabel(item) {
  const raw = item.sent_at || item.seen_at || item.at || item.timestamp;
  if (!raw) return "";
  const d = new Date(raw);
  if (Number.isNaN(d.getTime())) return "";
  if (Date.now() - d.getTime() < 10000) return t("justNow");
  return new Intl.DateTimeFormat("en-US", { hour: "numeric", minute: "2-digit", second: "2-digit" }).format(d);
}

function copyButton(code) {
  const button = h("button", { class: "btn btn-quiet btn-small copy", type: "button" }, t("copy"));
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(code);
      button.textContent = t("copied");
      status.textContent = t("copied");
      window.setTimeout(() => {
        button.textContent = t("copy");
      }, 1500);
    } catch {
      const sel = window.getSelection();
      const range = document.createRange();
      range.selectNodeContents(button.previousElementSibling);
      sel.removeAllRanges();
      sel.addRange(range);
    }
  });
  return button;
}

function messageItem(item) {
  const channel = item.channel === "sms" ? "sms" : "email";
  const text = bodyText(item);
  const code = CODE_RE.exec(text);
  return h(
    "li",
    { class: `message message-${channel} ${state.fresh.has(item.id) ? "is-new" : ""}`, dataset: { id: String(item.id || ""), channel } },
    h(
      "div",
      { class: "message-head" },
      h("span", { class: `channel channel-${channel}` }, icon(channel === "sms" ? ICONS.message : ICONS.mail), t(channel)),
      h("span", { class: "message-to" }, h("span", { class: "visually-hidden" }, `${t("to")}: `), String(item.to || "")),
      h("time", { class: "message-time", datetime: item.sent_at || item.seen_at || "" }, timeLabel(item)),
    ),
    channel === "email" ? h("p", { class: "message-subject" }, item.subject ? String(item.subject) : t("noSubject")) : "",
    code
      ? h("p", { class: "message-code" }, h("span", { class: "muted" }, `${t("code")}: `), h("strong", { class: "code-value" }, code[1]), copyButton(code[1]))
      : "",
    h("div", { class: "message-body" }, linkify(text)),
    h(
      "p",
      { class: "message-id" },
      h("span", null, `${t("id")}: `),
      h("code", null, String(item.id || "")),
      channel === "sms"
        ? h(
            "button",
            {
              class: "btn btn-quiet btn-small reply-to",
              type: "button",
              aria: { label: t("replyToLabel", { to: String(item.to || "") }) },
              onclick: () => replyTo(String(item.to || "")),
            },
            t("replyTo"),
          )
        : "",
    ),
  );
}

// --- list and polling ------------------------------------------------------------------------------

function matches(item) {
  if (!state.filter) return true;
  return [item.to, item.subject, item.body, item.channel].some((v) => String(v || "").toLowerCase().includes(state.filter));
}

function renderList() {
  const shown = state.items.filter(matches);
  const total = state.items.length;
  countEl.textContent = state.filter
    ? t("showing", { shown: shown.length, count: total })
    : total === 1
      ? t("countOne")
      : t("count", { count: total });
  if (total === 0) {
    listEl.replaceChildren(
      h(
        "li",
        { class: "card empty" },
        h("div", { class: "empty-icon", aria: { hidden: "true" } }, icon(ICONS.mail)),
        h("h2", null, t("emptyTitle")),
        h("p", { class: "muted" }, t("emptyBody")),
        h("a", { class: "btn btn-secondary", href: "/patient/" }, t("openPatient")),
      ),
    );
    return;
  }
  if (!shown.length) {
    listEl.replaceChildren(h("li", { class: "card empty" }, h("p", { class: "muted" }, t("noMatch"))));
    return;
  }
  listEl.replaceChildren(...shown.map(messageItem));
}

function newestFirst(items) {
  const stamp = (i) => String(i.sent_at || i.seen_at || i.at || i.timestamp || "");
  // Stable: the server's order stands wherever the stamps tie or are missing.
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => (stamp(a.item) === stamp(b.item) ? a.index - b.index : stamp(a.item) < stamp(b.item) ? 1 : -1))
    .map((x) => x.item);
}

async function poll() {
  window.clearTimeout(state.timer);
  try {
    const response = await fetch("/outbox.json", { cache: "no-store", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(String(response.status));
    const data = await response.json();
    const raw = Array.isArray(data) ? data : Array.isArray(data.messages) ? data.messages : [];
    const items = newestFirst(raw.filter((m) => m && typeof m === "object"));
    const ids = items.map((m) => m.id).join("|");
    const first = !state.loaded;
    state.failed = false;
    errorEl.replaceChildren();
    if (ids !== state.ids || first) {
      state.fresh = new Set(first ? [] : items.filter((m) => !state.seen.has(m.id)).map((m) => m.id));
      for (const m of items) state.seen.add(m.id);
      state.items = items;
      state.ids = ids;
      state.loaded = true;
      const numbers = [...new Set(items.filter((m) => m.channel === "sms").map((m) => String(m.to || "")))];
      replyNumbers.replaceChildren(...numbers.slice(0, 20).map((n) => h("option", { value: n })));
      renderList();
      if (state.fresh.size) status.textContent = state.fresh.size === 1 ? t("newMessage") : t("newMessages", { count: state.fresh.size });
    } else {
      // Same messages: only the "just now" labels age.
      for (const node of listEl.querySelectorAll(".message")) {
        const item = items.find((m) => String(m.id) === node.dataset.id);
        const time = node.querySelector(".message-time");
        if (item && time) time.textContent = timeLabel(item);
      }
    }
  } catch {
    if (!state.failed) errorEl.replaceChildren(icon(ICONS.alert), h("span", null, t("unreachable")));
    state.failed = true;
  }
  if (!state.paused) state.timer = window.setTimeout(poll, REFRESH_MS);
}

function start() {
  chrome();
  if (config.local !== true) {
    main.replaceChildren(h("div", { class: "card" }, h("h1", null, t("title")), h("p", { class: "notice" }, t("notLocal"))));
    document.getElementById("live").replaceChildren();
    return;
  }
  main.replaceChildren(
    h(
      "div",
      { class: "outbox-head" },
      h("div", null, h("h1", { id: "outbox-heading" }, t("heading")), h("p", { class: "lede" }, t("lede", { seconds: REFRESH_MS / 1000 }))),
      h("div", { class: "field filter" }, h("label", { for: "filter" }, t("filter")), filterInput),
    ),
    replyPanel(),
    countEl,
    errorEl,
    listEl,
    status,
  );
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !state.paused) poll();
  });
  poll();
}

start();
