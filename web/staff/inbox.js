// The staff inbox: open items (replies, possible opt-outs, feedback, requests, failed deliveries) and
// booking requests awaiting approval; assign, reply by text or email, close.

import { busyButton, focusHeading, h } from "../common/dom.js";
import { deskT, errorText, localTime, practicePath, sectionNav, statusLine } from "./desk.js";

export function showInbox(ctx) {
  const t = deskT(ctx.lang);
  const title = h("h1", { id: "inbox-title" }, t("inbox.title"));
  const body = h("div", { class: "stack", aria: { busy: "true" } }, h("p", { class: "muted" }, t("actions.loading")));
  const status = statusLine();
  ctx.show(h("div", { class: "stack" }, sectionNav(ctx, "inbox"), title, status, body), () => showInbox(ctx));
  focusHeading(title);

  const reload = async () => {
    try {
      const answer = await ctx.api.get(practicePath(ctx, "/inbox"), { auth: true });
      body.setAttribute("aria-busy", "false");
      draw(answer);
    } catch (err) {
      if (err.status !== 401) body.replaceChildren(h("p", { class: "form-error", role: "alert" }, errorText(err, ctx.lang)));
    }
  };

  const act = async (button, path, payload, done) => {
    ctx.noteActivity();
    const restore = busyButton(button, t("actions.loading"));
    try {
      await ctx.api.post(practicePath(ctx, path), payload, { auth: true });
      status.textContent = done || "";
      await reload();
    } catch (err) {
      restore();
      if (err.status !== 401) status.textContent = errorText(err, ctx.lang);
    }
  };

  const kindLabel = (kind) => (t.has(`inbox.kinds.${kind}`) ? t(`inbox.kinds.${kind}`) : kind);

  function itemCard(item, names) {
    const who = (item.patient_ids || []).map((id) => names[id] || id).join(", ");
    const ref = encodeURIComponent(item.ref);
    const textId = `reply-${item.id}`;
    const channelId = `channel-${item.id}`;
    const text = h("textarea", { id: textId, rows: 2, maxlength: 1000 });
    const channel = h(
      "select",
      { id: channelId },
      h("option", { value: "sms", selected: String(item.address || "").startsWith("+") }, t("inbox.sms")),
      h("option", { value: "email", selected: String(item.address || "").includes("@") }, t("inbox.email")),
    );
    const send = h("button", { class: "btn btn-small btn-primary", type: "button" }, t("inbox.send"));
    send.addEventListener("click", () => {
      if (text.value.trim()) act(send, `/inbox/${ref}/reply`, { channel: channel.value, text: text.value, version: item.version }, t("inbox.sent"));
    });
    const assign = h("button", { class: "btn btn-small btn-secondary", type: "button" }, t("inbox.assignMe"));
    assign.addEventListener("click", () => act(assign, `/inbox/${ref}/assign`, { version: item.version }));
    const close = h("button", { class: "btn btn-small btn-quiet", type: "button" }, t("inbox.close"));
    close.addEventListener("click", () => act(close, `/inbox/${ref}/close`, { version: item.version }));
    return h(
      "li",
      { class: "card inbox-item", dataset: { kind: item.kind, ref: item.ref } },
      h("p", { class: "eyebrow" }, kindLabel(item.kind), " · ", localTime(item.at, ctx.zone, ctx.lang), item.assigned_to ? ` · ${t("inbox.assigned")}` : ""),
      h("p", { class: "inbox-who" }, who || item.address || ""),
      h("blockquote", { class: "inbox-text" }, item.text || ""),
      (item.replies || []).length ? h("ul", { class: "plain-list replies" }, item.replies.map((r) => h("li", null, `${localTime(r.at, ctx.zone, ctx.lang)} · ${r.channel}: ${r.text}`))) : "",
      h(
        "details",
        { class: "reply" },
        h("summary", null, t("inbox.reply")),
        h("label", { for: channelId }, t("inbox.replyBy")),
        channel,
        h("label", { for: textId }, t("inbox.reply")),
        text,
        send,
      ),
      h("div", { class: "row-buttons" }, item.assigned_to ? "" : assign, close),
    );
  }

  function requestCard(r, names) {
    const id = encodeURIComponent(r.appointment_id);
    const approve = h("button", { class: "btn btn-small btn-primary", type: "button" }, t("inbox.approve"));
    approve.addEventListener("click", () => act(approve, `/appointments/${id}/approve`, {}));
    const decline = h("button", { class: "btn btn-small btn-quiet", type: "button" }, t("inbox.decline"));
    decline.addEventListener("click", () => act(decline, `/appointments/${id}/decline`, {}));
    const who = (r.patient_ids || []).map((p) => names[p] || p).join(", ");
    return h(
      "li",
      { class: "card inbox-item", dataset: { kind: "booking_request" } },
      h("p", { class: "eyebrow" }, kindLabel("booking_request")),
      h("p", null, `${who} · ${localTime(r.start, ctx.zone, ctx.lang)}`),
      h("div", { class: "row-buttons" }, approve, decline),
    );
  }

  function draw(answer) {
    const items = Array.isArray(answer.items) ? answer.items : [];
    const requests = Array.isArray(answer.booking_requests) ? answer.booking_requests : [];
    const names = answer.patient_names || {};
    if (!items.length && !requests.length) {
      body.replaceChildren(h("p", { class: "card empty" }, t("inbox.empty")));
      return;
    }
    body.replaceChildren(
      requests.length ? h("section", { aria: { labelledby: "requests-title" } }, h("h2", { id: "requests-title" }, t("inbox.requests")), h("ul", { class: "inbox-list" }, requests.map((r) => requestCard(r, names)))) : "",
      items.length ? h("ul", { class: "inbox-list" }, items.map((i) => itemCard(i, names))) : "",
    );
  }

  reload();
}
