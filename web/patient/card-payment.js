// Paying by card, for the billing section and the text-to-pay page: how much (the balance or a chosen
// amount), then Stripe's Card Element, then the receipt note and the new balance.
//
// Card data never touches our servers: Stripe.js turns the Card Element into a token in the browser
// (stripe.createToken, which both Stripe.js and localstripe's stand-in implement), and the page confirms
// the PaymentIntent with that token and the intent's client secret through POST /payments/{id}/confirm.
// A bank that wants 3-D Secure answers requires_action, finished with stripe.confirmCardPayment.
// The ledger itself is paid by Stripe's signed webhook, so the page waits for the balance to move.
//
// Stripe.js comes from window.CHAIRSIDE_CONFIG.stripeJs (localstripe's stand-in locally), else from
// https://js.stripe.com/v3/ as Stripe requires; the pages' CSP lets exactly that origin in.

import { busyButton, focusHeading, h, ICONS, icon, translator } from "../common/dom.js";
import { displayPhone, telHref } from "../common/format.js";
import { STRINGS } from "./card-strings.js";
import { formatCents } from "./money.js";

const STRIPE_JS = "https://js.stripe.com/v3/";
const CONFIRM_TIMEOUT_MS = 45000;
const MIN_CHOSEN_CENTS = 100; // the API's rule, repeated in the hint only: the API decides
const MIN_CARD_CENTS = 50; // Stripe's smallest card charge, for the words of the API's below_card_minimum
const STRIPE_MESSAGE_TYPES = new Set(["validation_error", "card_error"]); // Stripe's words are for people

/** A card problem found in the browser (Stripe.js), shaped like an ApiError so one function words both. */
export class CardProblem extends Error {
  constructor(code, stripeError) {
    super((stripeError && stripeError.message) || code);
    this.name = "CardProblem";
    this.code = code;
    this.status = 0;
    this.stripeMessage = stripeError && STRIPE_MESSAGE_TYPES.has(stripeError.type) ? String(stripeError.message || "") : "";
  }
}

function stripeConfig() {
  const raw = window.CHAIRSIDE_CONFIG && typeof window.CHAIRSIDE_CONFIG === "object" ? window.CHAIRSIDE_CONFIG : {};
  return { src: String(raw.stripeJs || STRIPE_JS), key: String(raw.stripePublishableKey || "") };
}

let stripeScript = null;
const stripeInstances = new Map();

/** Stripe.js, loaded once, and one Stripe object per key and language. */
export function loadStripe(publishableKey, lang) {
  const config = stripeConfig();
  const key = publishableKey || config.key;
  if (!key) return Promise.reject(new CardProblem("payments_off"));
  if (!stripeScript) {
    stripeScript = new Promise((resolve, reject) => {
      if (typeof window.Stripe === "function") {
        resolve(window.Stripe);
        return;
      }
      const script = document.createElement("script");
      script.src = config.src;
      script.async = true;
      script.addEventListener("load", () => {
        if (typeof window.Stripe === "function") resolve(window.Stripe);
        else reject(new CardProblem("stripe_unavailable"));
      });
      script.addEventListener("error", () => {
        script.remove();
        reject(new CardProblem("stripe_unavailable"));
      });
      document.head.append(script);
    });
    stripeScript.catch(() => {
      stripeScript = null; // try again next time
    });
  }
  return stripeScript.then((Stripe) => {
    const id = `${key}|${lang}`;
    if (!stripeInstances.has(id)) stripeInstances.set(id, Stripe(key, { locale: lang }));
    return stripeInstances.get(id);
  });
}

/** The Card Element in ``host``; ``onChange(message)`` gets Stripe's live validation message or "". */
export function mountCard(stripe, host, onChange) {
  const elements = stripe.elements();
  const card = elements.create("card", {
    style: { base: { fontSize: "17px", color: "#17212b", fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" } },
  });
  card.mount(host);
  card.on("change", (event) => onChange(event && event.error ? String(event.error.message || "") : ""));
  return card;
}

/**
 * Pay a started PaymentIntent ({payment_intent_id, client_secret}) with the card in ``card``.
 * Resolves {status} (succeeded or processing); rejects with a CardProblem or the API's ApiError.
 */
export async function payWithCard(api, stripe, card, start) {
  const made = await stripe.createToken(card);
  if (!made || made.error || !made.token) throw new CardProblem("card_invalid", made && made.error);
  const answer = await api.post(
    `/payments/${encodeURIComponent(start.payment_intent_id)}/confirm`,
    { client_secret: start.client_secret, card_token: made.token.id },
    { timeoutMs: CONFIRM_TIMEOUT_MS },
  );
  let status = answer && answer.status;
  if (answer && answer.requires_action) {
    const result = await stripe.confirmCardPayment(start.client_secret);
    if (!result || result.error) throw new CardProblem("authentication_failed", result && result.error);
    status = result.paymentIntent && result.paymentIntent.status;
  }
  if (status !== "succeeded" && status !== "processing") throw new CardProblem("not_completed");
  return { status };
}

/**
 * A balance ({owed_now_cents, pending_insurance_cents, credit_cents}) in plain words: {text: "You owe $42.10 now.
 * $120.00 is waiting on your insurance.", hint} (the hint when insurance is pending); with ``name``, about that
 * person ("Sam Rivera owes $95.00 now.").
 */
export function balanceWords(balance, currency, lang, name = "") {
  const t = translator(STRINGS, lang);
  const money = (cents) => formatCents(cents, currency, lang);
  const b = balance && typeof balance === "object" ? balance : {};
  const owed = Number.isSafeInteger(b.owed_now_cents) ? b.owed_now_cents : 0;
  const pending = Number.isSafeInteger(b.pending_insurance_cents) ? b.pending_insurance_cents : 0;
  const credit = Number.isSafeInteger(b.credit_cents) ? b.credit_cents : 0;
  const sentences = [];
  if (owed > 0) sentences.push(t(name ? "summary.owes" : "summary.owe", { name, amount: money(owed) }));
  else if (credit > 0) sentences.push(t(name ? "summary.hasCredit" : "summary.credit", { name, amount: money(credit) }));
  else sentences.push(t(name ? "summary.owesNothing" : "summary.nothing", { name }));
  if (pending > 0) sentences.push(t("summary.pending", { amount: money(pending) }));
  return { text: sentences.join(" "), hint: pending > 0 ? t("summary.pendingHint") : "" };
}

/**
 * The payment panel. Options:
 *   lang, currency, practiceName, phone, publishableKey, api (for the confirm call)
 *   totalCents      what is owed now in all (the "full balance" choice), or what a pay link asks for
 *   asked           true when totalCents is what a pay link asks for, less than the balance: the choice then
 *                   reads "The amount asked", not "The full balance"
 *   accounts        [{id, name, owedCents}] of those who owe; more than one offers "pay for"
 *   start(amount, patientIds)   -> the API's payment start answer (amount is the typed text, or undefined)
 *   onPaid({amountCents, paymentIntentId}) -> a promise of the new balance in words (text, or lang => text),
 *                   or null if it has not moved yet
 *   onClose()       the person is done (or cancelled)
 *   onUnauthorized(err) -> true if the page handled a 401 itself
 *   headingLevel    "h2" by default; idPrefix "pay"
 * Returns {root, setLanguage(lang), focus()}. ``root`` keeps its identity across redraws, so a page may
 * re-insert it whenever it redraws itself (the Card Element stays mounted).
 */
export function createPaymentPanel(options) {
  const o = { headingLevel: "h2", idPrefix: "pay", accounts: [], ...options };
  const p = o.idPrefix;
  const root = h("section", { class: "card pay-panel", aria: { labelledby: `${p}-title` } });
  const host = h("div", { class: "card-host", id: `${p}-card`, role: "group", aria: { labelledby: `${p}-card-label` } });
  const after = h("p", { class: "pay-after", id: `${p}-after`, role: "status" });
  const s = {
    lang: o.lang,
    step: "amount", // amount | card | paid
    choice: "all", // all | other
    who: "all",
    otherText: "",
    error: null,
    start: null,
    stripe: null,
    card: null,
    cardMessage: "",
    cardReady: false,
    paid: null,
  };
  let t = translator(STRINGS, s.lang);

  const money = (cents) => formatCents(cents, o.currency, s.lang);
  const words = (summary) => (typeof summary === "function" ? summary(s.lang) : String(summary));
  const owing = () => o.accounts.filter((a) => Number.isSafeInteger(a.owedCents) && a.owedCents > 0);
  const capCents = () => {
    const one = owing().find((a) => a.id === s.who);
    return one ? one.owedCents : o.totalCents;
  };

  function errorText(err) {
    const code = err && err.code ? String(err.code) : "";
    const status = err && typeof err.status === "number" ? err.status : -1;
    const vars = { min: money(MIN_CHOSEN_CENTS), max: money(capCents()), card: money(MIN_CARD_CENTS) };
    if (err instanceof CardProblem && err.stripeMessage) return err.stripeMessage;
    if (code && t.has(`errors.${code}`)) return t(`errors.${code}`, vars);
    if (t.has(`errors.status_${status}`)) return t(`errors.status_${status}`, vars);
    if (t.lang === "en" && (status === 400 || status === 422) && err.message) {
      const msg = String(err.message);
      return msg.charAt(0).toUpperCase() + msg.slice(1) + (/[.!?]$/.test(msg) ? "" : ".");
    }
    return t("errors.generic");
  }

  function errorBox(id) {
    const box = h("div", { class: "form-error", id, role: "alert", tabindex: "-1" });
    const text = s.error ? errorText(s.error) : s.step === "card" ? s.cardMessage : "";
    if (text) {
      box.append(icon(ICONS.alert), h("span", null, text));
      if (s.error && o.phone && s.step === "card") {
        box.append(" ", h("a", { class: "tel-inline", href: telHref(o.phone) }, t("card.callUs", { phone: displayPhone(o.phone) })));
      }
    }
    return box;
  }

  function heading(key, vars) {
    return h(o.headingLevel, { id: `${p}-title`, tabindex: "-1" }, t(key, vars));
  }

  function amountStep() {
    const people = owing();
    const other = h("input", {
      id: `${p}-other`,
      name: "amount",
      type: "text",
      inputmode: "decimal",
      autocomplete: "off",
      aria: { describedby: `${p}-other-hint ${p}-error`, invalid: s.error && s.choice === "other" ? "true" : null },
      oninput: (e) => {
        s.otherText = e.currentTarget.value;
      },
    });
    other.value = s.otherText;
    const pick = (value) => {
      s.choice = value;
      s.error = null;
      draw(value === "other" ? `${p}-other` : `${p}-choice-${value}`);
    };
    const submit = h("button", { class: "btn btn-primary btn-block", type: "submit", id: `${p}-continue` }, t("card.continue"));
    const form = h(
      "form",
      { class: "pay-form", novalidate: true, aria: { labelledby: `${p}-title` } },
      people.length > 1
        ? h(
            "div",
            { class: "field" },
            h("label", { for: `${p}-who` }, t("card.forLabel")),
            h(
              "select",
              {
                id: `${p}-who`,
                onchange: (e) => {
                  s.who = e.currentTarget.value;
                  s.error = null;
                  draw(`${p}-who`);
                },
              },
              h("option", { value: "all", selected: s.who === "all" }, t("card.everyone", { amount: money(o.totalCents) })),
              people.map((a) => h("option", { value: a.id, selected: s.who === a.id }, t("card.person", { name: a.name, amount: money(a.owedCents) }))),
            ),
          )
        : "",
      h(
        "fieldset",
        { class: "choices" },
        h("legend", null, t("card.howMuch")),
        h(
          "label",
          { class: "choice" },
          h("input", { type: "radio", name: `${p}-choice`, id: `${p}-choice-all`, value: "all", checked: s.choice === "all", onchange: () => pick("all") }),
          h("span", null, t(o.asked && s.who === "all" ? "card.asked" : "card.full", { amount: money(capCents()) })),
        ),
        // A balance of a dollar or less is paid whole: a part of it would be under the smallest part payment.
        capCents() > MIN_CHOSEN_CENTS
          ? h(
              "label",
              { class: "choice" },
              h("input", { type: "radio", name: `${p}-choice`, id: `${p}-choice-other`, value: "other", checked: s.choice === "other", onchange: () => pick("other") }),
              h("span", null, t("card.other")),
            )
          : "",
      ),
      s.choice === "other" && capCents() > MIN_CHOSEN_CENTS
        ? h(
            "div",
            { class: "field pay-other" },
            h("label", { for: `${p}-other` }, t("card.otherLabel")),
            h("p", { class: "hint", id: `${p}-other-hint` }, t("card.otherHint", { min: money(MIN_CHOSEN_CENTS), max: money(capCents()) })),
            other,
          )
        : "",
      errorBox(`${p}-error`),
      h(
        "div",
        { class: "button-row" },
        submit,
        o.onClose ? h("button", { class: "btn btn-quiet", type: "button", onclick: () => o.onClose() }, t("card.cancel")) : "",
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (capCents() <= MIN_CHOSEN_CENTS) s.choice = "all";
      const typed = s.otherText.trim();
      if (s.choice === "other" && !typed) {
        s.error = null;
        showMessage(t("card.emptyAmount"));
        return;
      }
      const restore = busyButton(submit, t("card.starting"));
      try {
        const started = await o.start(s.choice === "other" ? typed : undefined, s.who === "all" ? undefined : [s.who]);
        s.start = started;
        s.error = null;
        s.step = "card";
        draw(`${p}-title`);
        prepareCard();
      } catch (err) {
        restore();
        if (err && err.status === 401 && o.onUnauthorized && o.onUnauthorized(err)) return;
        s.error = err;
        draw(s.choice === "other" ? `${p}-other` : `${p}-error`);
      }
    });
    return [heading("card.title"), form];
  }

  /** An amount-step message that is not an API error (the field is empty). */
  function showMessage(text) {
    const box = document.getElementById(`${p}-error`);
    const input = document.getElementById(`${p}-other`);
    if (box) box.replaceChildren(icon(ICONS.alert), h("span", null, text));
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  async function prepareCard() {
    try {
      const stripe = await loadStripe((s.start && s.start.publishable_key) || o.publishableKey, s.lang);
      if (s.step !== "card") return;
      if (!s.card) {
        s.stripe = stripe;
        s.card = mountCard(stripe, host, (message) => {
          s.cardMessage = message;
          const box = document.getElementById(`${p}-card-error`);
          if (box && !s.error) box.replaceChildren(...(message ? [icon(ICONS.alert), h("span", null, message)] : []));
        });
      }
      s.cardReady = true;
      // No redraw: the person may already be in the card form. Just let them pay.
      const loadingLine = document.getElementById(`${p}-card-loading`);
      if (loadingLine) loadingLine.remove();
      const pay = document.getElementById(`${p}-submit`);
      if (pay) pay.disabled = false;
    } catch (err) {
      s.error = err;
      draw(`${p}-card-error`);
    }
  }

  function dropCard() {
    if (s.card) {
      try {
        s.card.destroy();
      } catch {
        // already gone
      }
    }
    s.card = null;
    s.cardReady = false;
    s.cardMessage = "";
    host.replaceChildren();
  }

  function cardStep() {
    const amount = money(s.start.amount_cents);
    const pay = h("button", { class: "btn btn-primary btn-block", type: "submit", id: `${p}-submit`, disabled: !s.cardReady }, t("card.pay", { amount }));
    const back = h(
      "button",
      {
        class: "btn btn-quiet",
        type: "button",
        id: `${p}-back`,
        onclick: () => {
          dropCard();
          s.start = null;
          s.error = null;
          s.step = "amount";
          draw(`${p}-title`);
        },
      },
      t("card.back"),
    );
    const form = h(
      "form",
      { class: "pay-form", novalidate: true, aria: { labelledby: `${p}-title` } },
      h("p", { class: "pay-amount" }, t("card.paying", { amount, practice: o.practiceName })),
      h(
        "div",
        { class: "field" },
        h("span", { class: "field-label", id: `${p}-card-label` }, t("card.cardLabel")),
        s.cardReady
          ? ""
          : h("p", { class: "loading", id: `${p}-card-loading`, role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), t("card.loadingCard")),
        host,
      ),
      h("p", { class: "hint card-note" }, t("card.cardNote", { practice: o.practiceName })),
      errorBox(`${p}-card-error`),
      h("div", { class: "button-row" }, pay, back),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!s.card) return;
      const restore = busyButton(pay, t("card.payingNow"));
      back.disabled = true;
      try {
        await payWithCard(o.api, s.stripe, s.card, s.start);
        s.paid = { amountCents: s.start.amount_cents, paymentIntentId: s.start.payment_intent_id };
        s.error = null;
        s.step = "paid";
        dropCard();
        after.textContent = t("card.updating");
        draw(`${p}-title`);
        let summary = null;
        try {
          summary = await o.onPaid(s.paid);
        } catch {
          summary = null;
        }
        s.paid.summary = summary || "";
        after.textContent = summary ? t("card.newBalance", { summary: words(summary) }) : t("card.slow");
      } catch (err) {
        restore();
        back.disabled = false;
        if (err && err.status === 401 && o.onUnauthorized && o.onUnauthorized(err)) return;
        s.error = err;
        draw(`${p}-card-error`);
      }
    });
    return [heading("card.cardTitle"), form];
  }

  function paidStep() {
    const reference = String(s.paid.paymentIntentId || "").slice(-10);
    if (s.paid.summary === undefined) after.textContent = t("card.updating");
    else after.textContent = s.paid.summary ? t("card.newBalance", { summary: words(s.paid.summary) }) : t("card.slow");
    return [
      heading("card.paidTitle"),
      h(
        "div",
        { class: "flash flash-ok pay-done" },
        icon(ICONS.check),
        h("div", null, h("p", { id: `${p}-paid` }, t("card.paid", { amount: money(s.paid.amountCents) })), h("p", null, t("card.receipt"))),
      ),
      after,
      reference ? h("p", { class: "hint" }, t("card.reference", { reference })) : "",
      o.onClose ? h("button", { class: "btn btn-secondary", type: "button", id: `${p}-done`, onclick: () => o.onClose() }, t("card.done")) : "",
    ];
  }

  /** Redraw the current step; focus goes to ``focusId``, else back to the element that had it (by id). */
  function draw(focusId) {
    const active = document.activeElement;
    const keep = focusId || (active && root.contains(active) && !host.contains(active) ? active.id : "");
    const parts = s.step === "amount" ? amountStep() : s.step === "card" ? cardStep() : paidStep();
    root.replaceChildren(...parts);
    root.dataset.step = s.step;
    if (keep) {
      const target = document.getElementById(keep);
      if (target && /^(INPUT|SELECT|BUTTON|TEXTAREA)$/.test(target.tagName)) target.focus();
      else if (target) focusHeading(target);
    }
  }

  draw();
  return {
    root,
    setLanguage(lang) {
      s.lang = lang;
      t = translator(STRINGS, lang);
      draw();
    },
    focus() {
      focusHeading(document.getElementById(`${p}-title`));
    },
  };
}
