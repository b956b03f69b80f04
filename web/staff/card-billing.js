// The card's ledger: balance, the newest lines, payment plans with the instalments the API computed, and the
// front desk's actions (post a charge, payment or adjustment; text or email a pay link; make a payment plan),
// plus refunds of card payments for the roles that hold billing.refund.
//
// Amounts are typed as dollars and sent as the text the API parses ("19.99"); everything shown comes back from
// the API as integer cents. Nothing here adds or rounds money except summing instalment cents (integers).

import { busyButton, focusHeading, h } from "../common/dom.js";
import { addDays, dayLabel, todayIn } from "../common/format.js";
import { can, deskT, practicePath, section, statusLine } from "./desk.js";
import { actionError, centsLabel, field, invalid, parseDollars, say, sayError } from "./card-actions.js";

const SHOWN_LINES = 10;
const LINE_KINDS = ["charge", "payment", "adjustment"];
const EVERY = ["month", "2weeks", "week"];
const SHORT_DAY = { month: "short", day: "numeric", year: "numeric" };

export function ledgerSection(ctx, patientId) {
  const t = deskT(ctx.lang);
  if (!can(ctx.role, "billing.post")) {
    return section(t("patients.ledger"), "card-ledger", h("p", { class: "muted" }, t("patients.notAllowed")));
  }
  const pid = encodeURIComponent(patientId);
  const mayRefund = can(ctx.role, "billing.refund");
  const status = statusLine();
  const body = h("div", { class: "card-part", aria: { busy: "true" } }, h("p", { class: "muted" }, t("actions.loading")));
  const money = (cents) => centsLabel(cents, ctx.lang);
  const day = (iso) => (/^\d{4}-\d{2}-\d{2}$/.test(iso || "") ? dayLabel(iso, ctx.lang, SHORT_DAY) : String(iso || ""));
  const kindLabel = (kind) => (t.has(`card.billing.line.kinds.${kind}`) ? t(`card.billing.line.kinds.${kind}`) : kind);
  let account = null;

  async function load() {
    body.setAttribute("aria-busy", "true");
    try {
      const [ledger, plans] = await Promise.all([
        ctx.api.get(practicePath(ctx, `/patients/${pid}/ledger`), { auth: true }),
        ctx.api.get(practicePath(ctx, `/patients/${pid}/payment-plans`), { auth: true }),
      ]);
      account = ledger;
      draw(ledger, Array.isArray(plans.plans) ? plans.plans : []);
    } catch (err) {
      if (err.status !== 401) body.replaceChildren(h("p", { class: "form-error" }, actionError(err, t).text));
    } finally {
      body.setAttribute("aria-busy", "false");
    }
  }

  function draw(ledger, plans) {
    const lines = Array.isArray(ledger.lines) ? ledger.lines : [];
    const refunded = {}; // payment intent -> cents refunded, from the refund lines
    for (const x of lines) if (x.kind === "refund" && x.payment_intent_id) refunded[x.payment_intent_id] = (refunded[x.payment_intent_id] || 0) + x.amount_cents;
    const shown = lines.slice(0, SHOWN_LINES);
    body.replaceChildren(
      h("p", { class: "balance" }, t("patients.balance", { amount: money(ledger.balance ? ledger.balance.total_cents : 0) })),
      ledger.balance && ledger.balance.summary ? h("p", { class: "hint", lang: t.lang === "en" ? null : "en" }, ledger.balance.summary) : "",
      shown.length
        ? h("ul", { class: "ledger-lines" }, shown.map((x, i) => lineItem(x, i, refunded)))
        : h("p", { class: "muted" }, t("patients.none_")),
      lines.length > shown.length ? h("p", { class: "hint" }, t("card.billing.more", { shown: shown.length, count: lines.length })) : "",
      plans.length ? plansList(plans) : "",
    );
  }

  function lineItem(x, index, refunded) {
    const card = x.kind === "payment" && x.payment_intent_id;
    const back = card ? refunded[x.payment_intent_id] || 0 : 0;
    return h(
      "li",
      { class: "ledger-line", dataset: { lineId: x.id, kind: x.kind } },
      h("span", { class: "ledger-date" }, day(x.posted_on)),
      h("span", { class: "ledger-kind" }, kindLabel(x.kind), card ? ` (${t("card.billing.refund.card")})` : ""),
      h("span", { class: "ledger-amount" }, money(x.amount_cents)),
      x.description ? h("span", { class: "ledger-description" }, x.description) : "",
      back ? h("span", { class: "ledger-note" }, t("card.billing.refund.refunded", { amount: money(back) })) : "",
      card && mayRefund && back < x.amount_cents ? refundForm(x, index) : "",
    );
  }

  function plansList(plans) {
    const sorted = plans.slice().sort((a, b) => String(b.created_on).localeCompare(String(a.created_on)));
    return h(
      "div",
      { class: "plans" },
      h("h3", null, t("card.billing.plan.plans")),
      sorted.map((plan) => {
        const instalments = Array.isArray(plan.instalments) ? plan.instalments : [];
        const sum = instalments.reduce((total, i) => total + i.amount_cents, 0); // integer cents
        return h(
          "div",
          { class: "card-table-wrap" },
          h(
            "table",
            { class: "plan-table", dataset: { planId: plan.id } },
            h("caption", null, t("card.billing.plan.caption", { total: money(plan.total_cents), date: day(plan.created_on) })),
            h(
              "thead",
              null,
              h("tr", null, ["number", "due", "amountCol", "state"].map((k) => h("th", { scope: "col" }, t(`card.billing.plan.${k}`)))),
            ),
            h(
              "tbody",
              null,
              instalments.map((i) =>
                h(
                  "tr",
                  null,
                  h("th", { scope: "row" }, String(i.number)),
                  h("td", null, day(i.due_on)),
                  h("td", { class: "num" }, money(i.amount_cents)),
                  h("td", null, i.paid ? t("card.billing.plan.paid") : t("card.billing.plan.open", { amount: money(i.due_cents) })),
                ),
              ),
            ),
            h("tfoot", null, h("tr", null, h("th", { scope: "row", colspan: 2 }, t("card.billing.plan.total")), h("td", { class: "num" }, money(sum)), h("td"))),
          ),
        );
      }),
    );
  }

  /** Run one action: busy button, the API call, then the words and a fresh ledger. */
  async function act(button, call, done) {
    ctx.noteActivity();
    say(status, ""); // the same sentence twice in a row is announced again
    const restore = busyButton(button, t("card.working"));
    try {
      const answer = await call();
      await load();
      say(status, done(answer));
      return true;
    } catch (err) {
      if (err.status !== 401) sayError(status, err, t);
      return false;
    } finally {
      if (button.isConnected) restore();
    }
  }

  function amountFrom(input, { required, negative = false }) {
    const text = input.value.trim();
    if (!text && !required) return { ok: true, value: undefined };
    const value = parseDollars(text, { negative: true });
    const message = value === null ? t("card.billing.badAmount") : value.startsWith("-") && !negative ? t("card.billing.negativeOnlyAdjustment") : "";
    invalid(input, Boolean(message));
    if (message) {
      say(status, message, { error: true });
      input.focus();
      return { ok: false };
    }
    return { ok: true, value };
  }

  function refundForm(line, index) {
    const id = `refund-${index}`;
    const amount = h("input", { type: "text", inputmode: "decimal", autocomplete: "off" });
    const submit = h("button", { class: "btn btn-primary btn-small", type: "submit" }, t("card.billing.refund.submit"));
    const form = h("form", { class: "refund-form", novalidate: true }, field(`${id}-amount`, t("card.billing.optionalAmount"), amount, t("card.billing.refund.amountHint")), submit);
    const label = t("card.billing.refund.label", { amount: money(line.amount_cents), date: day(line.posted_on) });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const typed = amountFrom(amount, { required: false });
      if (!typed.ok) return;
      const path = practicePath(ctx, `/payments/${encodeURIComponent(line.payment_intent_id)}/refunds`);
      const ok = await act(submit, () => ctx.api.post(path, typed.value ? { amount: typed.value } : {}, { auth: true }), (r) =>
        r.status === "succeeded"
          ? t("card.billing.refund.done", { amount: money(r.amount_cents), left: money(r.refundable_cents) })
          : t("card.billing.refund.pending", { amount: money(r.amount_cents) }),
      );
      // The line was drawn again: put the keyboard back on it (or on the section when it is gone).
      const again = ok && body.querySelector(`li[data-line-id="${CSS.escape(line.id)}"] summary`);
      if (ok) focusHeading(again || document.getElementById("card-ledger"));
    });
    return h("details", { class: "refund", id }, h("summary", { aria: { label } }, t("card.billing.refund.summary")), form);
  }

  function lineForm() {
    const kind = h("select", null, LINE_KINDS.map((k) => h("option", { value: k }, kindLabel(k))));
    const amount = h("input", { type: "text", inputmode: "decimal", autocomplete: "off", required: true });
    const date = h("input", { type: "date", max: todayIn(ctx.zone) });
    const description = h("input", { type: "text", maxlength: 200, autocomplete: "off" });
    const submit = h("button", { class: "btn btn-primary", type: "submit" }, t("card.billing.line.submit"));
    const form = h(
      "form",
      { class: "card-form", novalidate: true },
      h("div", { class: "field-row" }, field("line-kind", t("card.billing.line.kind"), kind), field("line-amount", t("card.billing.amount"), amount, t("card.billing.line.amountHint"))),
      h("div", { class: "field-row" }, field("line-date", t("card.billing.line.date"), date, t("card.billing.line.dateHint")), field("line-description", t("card.billing.line.description"), description)),
      h("div", { class: "row-buttons" }, submit),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const typed = amountFrom(amount, { required: true, negative: kind.value === "adjustment" });
      if (!typed.ok) return;
      const payload = { kind: kind.value, amount: typed.value };
      if (date.value) payload.posted_on = date.value;
      if (description.value.trim()) payload.description = description.value.trim();
      const ok = await act(submit, () => ctx.api.post(practicePath(ctx, `/patients/${pid}/ledger`), payload, { auth: true }), (r) =>
        t("card.billing.line.posted", { kind: kindLabel(r.line.kind), amount: money(r.line.amount_cents), balance: money(account && account.balance ? account.balance.total_cents : 0) }),
      );
      if (ok) {
        amount.value = "";
        description.value = "";
      }
    });
    return disclosure("line", t("card.billing.line.title"), form);
  }

  function payLinkForm() {
    const channel = h("select", null, ["sms", "email"].map((c) => h("option", { value: c }, t(`card.billing.payLink.${c}`))));
    const amount = h("input", { type: "text", inputmode: "decimal", autocomplete: "off" });
    const submit = h("button", { class: "btn btn-primary", type: "submit" }, t("card.billing.payLink.submit"));
    const form = h(
      "form",
      { class: "card-form", novalidate: true },
      h("div", { class: "field-row" }, field("paylink-channel", t("card.billing.payLink.channel"), channel), field("paylink-amount", t("card.billing.optionalAmount"), amount, t("card.billing.payLink.amountHint"))),
      h("div", { class: "row-buttons" }, submit),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const typed = amountFrom(amount, { required: false });
      if (!typed.ok) return;
      const payload = { channel: channel.value };
      if (typed.value) payload.amount = typed.value;
      // A pay link changes nothing on the ledger; the words say where it went.
      ctx.noteActivity();
      say(status, "");
      const restore = busyButton(submit, t("card.working"));
      try {
        const r = await ctx.api.post(practicePath(ctx, `/patients/${pid}/pay-links`), payload, { auth: true });
        say(status, t("card.billing.payLink.sent", { amount: money(r.amount_cents), channel: t(`card.billing.payLink.${r.channel}`).toLowerCase(), to: r.sent_to }));
        amount.value = "";
      } catch (err) {
        if (err.status !== 401) sayError(status, err, t);
      } finally {
        restore();
      }
    });
    return disclosure("paylink", t("card.billing.payLink.title"), form);
  }

  function planForm() {
    const today = todayIn(ctx.zone);
    const count = h("input", { type: "number", min: 1, max: 60, step: 1, value: 3, inputmode: "numeric", required: true });
    const first = h("input", { type: "date", min: today, value: addDays(today, 30), required: true });
    const every = h("select", null, EVERY.map((e) => h("option", { value: e }, t(`card.billing.plan.everies.${e}`))));
    const amount = h("input", { type: "text", inputmode: "decimal", autocomplete: "off" });
    const submit = h("button", { class: "btn btn-primary", type: "submit" }, t("card.billing.plan.submit"));
    const form = h(
      "form",
      { class: "card-form", novalidate: true },
      h("div", { class: "field-row" }, field("plan-count", t("card.billing.plan.count"), count), field("plan-every", t("card.billing.plan.every"), every)),
      h("div", { class: "field-row" }, field("plan-first", t("card.billing.plan.firstDue"), first), field("plan-amount", t("card.billing.optionalAmount"), amount, t("card.billing.plan.amountHint"))),
      h("div", { class: "row-buttons" }, submit),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const typed = amountFrom(amount, { required: false });
      if (!typed.ok) return;
      const n = /^\d{1,2}$/.test(count.value.trim()) ? Number(count.value.trim()) : NaN;
      const payload = { instalments: n, first_due: first.value, every: every.value };
      if (typed.value) payload.amount = typed.value;
      const ok = await act(submit, () => ctx.api.post(practicePath(ctx, `/patients/${pid}/payment-plans`), payload, { auth: true }), (r) => {
        const cents = (r.plan.instalments || []).reduce((total, i) => total + i.amount_cents, 0);
        return t("card.billing.plan.made", { count: (r.plan.instalments || []).length, total: money(cents) });
      });
      if (ok) amount.value = "";
    });
    return disclosure("plan", t("card.billing.plan.title"), form);
  }

  function disclosure(name, title, form) {
    return h("details", { class: "card-action", id: `${name}-action` }, h("summary", null, title), form);
  }

  const el = section(t("patients.ledger"), "card-ledger", status, body, h("div", { class: "card-actions" }, lineForm(), payLinkForm(), planForm()));
  load();
  return el;
}
