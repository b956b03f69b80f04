// The patient page's billing section (#billing): what each account of the session owes now, apart from
// what is waiting on insurance, in plain words; the ledger lines newest first; payment plans; monthly
// statements (#billing/statement/YYYY-MM, printable); and paying by card (card-payment.js).
//
// Amounts arrive as integer cents and are only ever formatted (money.js). Ledger dates are the
// practice's calendar days, shown as they are, never shifted into the browser's zone.

import { focusHeading, h, ICONS, icon, busyButton, translator } from "../common/dom.js";
import { dayLabel, displayPhone, localeFor, telHref } from "../common/format.js";
import { STRINGS } from "./billing-strings.js";
import { balanceWords, createPaymentPanel } from "./card-payment.js";
import { formatCents } from "./money.js";

const SECTION = "billing";
const LINES_SHOWN = 12;
const POLL_MS = 1000;
const POLL_TRIES = 30; // Stripe's webhook pays the ledger, usually within seconds
const LONG_DAY = { month: "long", day: "numeric", year: "numeric" };
const SHORT_DAY = { month: "short", day: "numeric", year: "numeric" };
const MONTH = { month: "long", year: "numeric" };
const MONTH_DAY = { month: "short", day: "numeric" }; // within one month's statement the year is the heading's

export function showSection(ctx) {
  const found = /^statement\/(\d{4}-\d{2})$/.exec(ctx.argument || "");
  if (found) return showStatement(ctx, found[1]);
  return showBilling(ctx);
}

// --- shared -------------------------------------------------------------------------------------

/** The language now shown: app.js sets <html lang> before it asks a section to redraw. */
function currentLang(ctx) {
  const shown = (document.documentElement.lang || "").toLowerCase();
  return Object.prototype.hasOwnProperty.call(STRINGS, shown) ? shown : ctx.lang;
}

function errorText(t, err) {
  const code = err && err.code ? String(err.code) : "";
  const status = err && typeof err.status === "number" ? err.status : -1;
  if (code && t.has(`errors.${code}`)) return t(`errors.${code}`);
  if (t.has(`errors.status_${status}`)) return t(`errors.status_${status}`);
  return t("errors.generic");
}

function problem(t, err, retry) {
  return h(
    "div",
    { class: "stack" },
    h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, errorText(t, err))),
    retry ? h("button", { class: "btn btn-secondary", type: "button", onclick: retry }, t("retry")) : "",
  );
}

function loading(text) {
  return h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), text);
}

function namesList(names, lang) {
  try {
    return new Intl.ListFormat(localeFor(lang), { type: "conjunction" }).format(names);
  } catch {
    return names.join(", ");
  }
}

function phoneLine(t, practice) {
  const phone = practice && practice.phone;
  if (!phone) return "";
  return h(
    "p",
    { class: "billing-questions no-print" },
    icon(ICONS.phone),
    h("span", null, t("questions"), " ", h("a", { href: telHref(phone), class: "tel-inline" }, t("call", { phone: displayPhone(phone) }))),
  );
}

/** Draw a view without losing the person's place: focus returns to the element with the same id. */
function showKeepingFocus(ctx, view, render, focusId) {
  const active = document.activeElement;
  const keep = focusId || (active && active !== document.body && active.id) || "";
  ctx.show(view, render);
  const target = keep ? document.getElementById(keep) : null;
  if (!target) return;
  if (/^(INPUT|SELECT|BUTTON|TEXTAREA|A)$/.test(target.tagName)) target.focus();
  else focusHeading(target);
}

function setTitle(t, ctx) {
  document.title = ctx.practice ? `${t("pageTitle")} · ${ctx.practice.name}` : t("pageTitle");
}

/** A ledger line's amount as it affects what is owed: payments show as minus; estimates change nothing. */
function lineAmount(line, currency, lang) {
  const cents = line.kind === "insurance_estimate" ? line.amount_cents : line.effect_cents;
  return formatCents(cents, currency, lang);
}

function lineLabel(t, line) {
  return t.has(`kinds.${line.kind}`) ? t(`kinds.${line.kind}`) : String(line.kind || "");
}

const sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));

// --- the overview ------------------------------------------------------------------------------------

function showBilling(ctx) {
  const { api } = ctx;
  let overview = null;
  let failure = null;
  const ledgers = new Map(); // patient id -> {lines} | {error}
  const expanded = new Set();
  let panel = null;
  let panelLang = "";
  let status = "";
  let root = null;

  const alive = () => root !== null && root.isConnected;

  const render = (focusId) => {
    const lang = currentLang(ctx);
    const t = translator(STRINGS, lang);
    const title = h("h1", { id: "billing-title", tabindex: "-1" }, t("title"));
    const body = h("div", { class: "stack billing", id: "billing", aria: { busy: overview || failure ? "false" : "true" } });
    if (failure) body.append(problem(t, failure, load));
    else if (!overview) body.append(loading(t("loading")), h("div", { class: "skeleton", aria: { hidden: "true" } }));
    else body.append(...overviewParts(t, lang));
    const names = overview ? overview.patients.map((p) => p.name).filter(Boolean) : [];
    root = h(
      "div",
      { class: "stack" },
      ctx.nav(SECTION),
      h("div", { class: "billing-head" }, title, names.length > 1 ? h("p", { class: "muted" }, t("forPeople", { names: namesList(names, lang) })) : ""),
      body,
    );
    if (panel && panelLang !== lang) {
      panelLang = lang;
      panel.setLanguage(lang);
    }
    showKeepingFocus(ctx, root, () => render(), focusId);
    setTitle(t, ctx);
  };

  function overviewParts(t, lang) {
    const currency = overview.currency;
    const family = overview.family || {};
    const words = balanceWords(family, currency, lang);
    const owed = Number.isSafeInteger(family.owed_now_cents) ? family.owed_now_cents : 0;
    const canPay = owed > 0 && Boolean(overview.publishable_key);
    const summary = h(
      "section",
      { class: "card balance-card", aria: { labelledby: "balance-title" } },
      h("h2", { id: "balance-title" }, t("balance.title")),
      h("p", { class: "balance-words", id: "balance-words" }, words.text),
      words.hint ? h("p", { class: "hint" }, words.hint) : "",
      balanceList(t, family, currency, lang),
      h("p", { class: "billing-status", id: "billing-status", role: "status" }, status),
      owed <= 0 ? h("p", { class: "muted" }, t("balance.paidUp")) : "",
      owed > 0 && !canPay ? h("p", { class: "muted" }, t("balance.noCards")) : "",
      canPay && !panel
        ? h("button", { class: "btn btn-primary btn-block no-print", type: "button", id: "billing-pay-open", onclick: openPanel }, t("balance.payNow"))
        : "",
    );
    const parts = [summary];
    if (panel) parts.push(panel.root);
    for (const p of overview.patients) parts.push(accountCard(t, lang, p, overview.patients.length > 1));
    const plans = plansCard(t, lang);
    if (plans) parts.push(plans);
    parts.push(statementsCard(t, lang), phoneLine(t, ctx.practice));
    return parts;
  }

  function balanceList(t, b, currency, lang) {
    const rows = [[t("balance.owedNow"), b.owed_now_cents, "balance-owed"]];
    if (b.pending_insurance_cents > 0) rows.push([t("balance.pending"), b.pending_insurance_cents, "balance-pending"]);
    if (b.credit_cents > 0) rows.push([t("balance.credit"), b.credit_cents, "balance-credit"]);
    return h(
      "dl",
      { class: "money-list" },
      rows.map(([label, cents, cls]) => h("div", { class: cls }, h("dt", null, label), h("dd", null, formatCents(cents || 0, currency, lang)))),
    );
  }

  function accountCard(t, lang, account, several) {
    const id = account.patient_id;
    const ledger = ledgers.get(id);
    const headingId = `account-${id}`;
    const section = h("section", { class: "card account", aria: { labelledby: headingId }, dataset: { patientId: id } });
    section.append(h("h2", { id: headingId }, account.name));
    if (several) {
      section.append(h("p", { class: "account-words" }, balanceWords(account.balance, overview.currency, lang, account.name).text));
    }
    section.append(h("h3", { class: "account-activity" }, t("account.activity")));
    if (!ledger) section.append(loading(t("loading")));
    else if (ledger.error) section.append(problem(t, ledger.error, load));
    else if (!ledger.lines.length) section.append(h("p", { class: "muted" }, t("account.empty")));
    else {
      const all = expanded.has(id);
      const shown = all ? ledger.lines : ledger.lines.slice(0, LINES_SHOWN);
      section.append(
        h(
          "ul",
          { class: "ledger" },
          shown.map((line) => ledgerLine(t, lang, line)),
        ),
      );
      if (!all && ledger.lines.length > LINES_SHOWN) {
        section.append(
          h(
            "button",
            {
              class: "btn btn-quiet no-print",
              type: "button",
              id: `more-${id}`,
              onclick: () => {
                expanded.add(id);
                render();
              },
            },
            t("account.showAll", { n: ledger.lines.length }),
          ),
        );
      }
    }
    return section;
  }

  function ledgerLine(t, lang, line) {
    const kind = lineLabel(t, line);
    const described = line.description && line.description !== kind;
    const pending = line.kind === "insurance_estimate";
    const credit = line.effect_cents < 0;
    const tag = [described ? kind : "", pending ? t("account.pendingTag") : ""].filter(Boolean).join(" · ");
    return h(
      "li",
      { class: `ledger-line ledger-${line.kind}`, dataset: { kind: line.kind } },
      h("span", { class: "ledger-date" }, dayLabel(line.posted_on, lang, SHORT_DAY)),
      h(
        "span",
        { class: "ledger-what" },
        h("span", { class: "ledger-desc" }, described ? line.description : kind),
        tag ? h("span", { class: "ledger-kind" }, tag) : "",
      ),
      h("span", { class: `ledger-amount${credit ? " is-credit" : ""}${pending ? " is-pending" : ""}` }, lineAmount(line, overview.currency, lang)),
    );
  }

  function plansCard(t, lang) {
    const plans = Array.isArray(overview.plans) ? overview.plans : [];
    const open = plans.filter((p) => Array.isArray(p.instalments) && p.instalments.some((i) => !i.paid));
    if (!open.length) return null;
    return h(
      "section",
      { class: "card plans", aria: { labelledby: "plans-title" } },
      h("h2", { id: "plans-title" }, t("plans.title")),
      open.map((plan) =>
        h(
          "ul",
          { class: "plain-list plan" },
          plan.instalments.map((i) =>
            h(
              "li",
              { class: "plan-row" },
              h("span", null, t("plans.instalment", { n: i.number, of: plan.instalments.length, date: dayLabel(i.due_on, lang, LONG_DAY) })),
              h("span", { class: "plan-state" }, i.paid ? t("plans.paid") : t("plans.toPay", { amount: formatCents(i.due_cents, overview.currency, lang) })),
            ),
          ),
        ),
      ),
    );
  }

  function statementsCard(t, lang) {
    const months = Array.isArray(overview.statements) ? overview.statements.filter((m) => /^\d{4}-\d{2}$/.test(m)) : [];
    return h(
      "section",
      { class: "card statements no-print", aria: { labelledby: "statements-title" } },
      h("h2", { id: "statements-title" }, t("statements.title")),
      months.length
        ? [
            h("p", { class: "muted" }, t("statements.lede")),
            h(
              "ul",
              { class: "statement-months" },
              months.map((m) =>
                h("li", null, h("a", { class: "btn btn-secondary btn-small statement-link", href: `#${SECTION}/statement/${m}` }, dayLabel(`${m}-01`, lang, MONTH))),
              ),
            ),
          ]
        : h("p", { class: "muted" }, t("statements.empty")),
    );
  }

  // --- paying ---

  function openPanel() {
    const lang = currentLang(ctx);
    const family = overview.family;
    panel = createPaymentPanel({
      lang,
      currency: overview.currency,
      practiceName: (overview.practice && overview.practice.name) || (ctx.practice && ctx.practice.name) || "",
      phone: (overview.practice && overview.practice.phone) || (ctx.practice && ctx.practice.phone) || "",
      publishableKey: overview.publishable_key,
      api,
      totalCents: family.owed_now_cents,
      accounts: overview.patients.map((p) => ({ id: p.patient_id, name: p.name, owedCents: p.balance.owed_now_cents })),
      start: (amount, patientIds) => api.post("/patient/payments", { amount, patient_ids: patientIds }, { auth: true }),
      onPaid: () => waitForBalance(family),
      onClose: () => {
        panel = null;
        render("billing-pay-open");
        if (!document.getElementById("billing-pay-open")) focusHeading(document.getElementById("balance-title"));
      },
      onUnauthorized: () => {
        ctx.sessionEnded();
        return true;
      },
    });
    panelLang = lang;
    render();
    panel.focus();
  }

  /** After a card payment: ask again until Stripe's webhook has paid the ledger (the balance moved). */
  async function waitForBalance(before) {
    for (let n = 0; n < POLL_TRIES; n += 1) {
      await sleep(POLL_MS);
      if (!alive()) return null;
      let fresh;
      try {
        fresh = await api.get("/patient/billing", { auth: true });
      } catch (err) {
        if (err.status === 401) {
          ctx.sessionEnded();
          return null;
        }
        continue;
      }
      const now = fresh && fresh.family;
      if (now && (now.owed_now_cents < before.owed_now_cents || now.total_cents < before.total_cents)) {
        overview = fresh;
        await loadLedgers();
        if (!alive()) return null;
        status = translator(STRINGS, currentLang(ctx))("balance.updated");
        render();
        return (lang) => balanceWords(now, fresh.currency, lang).text;
      }
    }
    return null;
  }

  // --- loading ---

  async function loadLedgers() {
    const answers = await Promise.all(
      overview.patients.map((p) =>
        api.get(`/patients/${encodeURIComponent(p.patient_id)}/ledger`, { auth: true }).then(
          (answer) => ({ lines: Array.isArray(answer && answer.lines) ? answer.lines : [] }),
          (err) => ({ error: err }),
        ),
      ),
    );
    overview.patients.forEach((p, i) => ledgers.set(p.patient_id, answers[i]));
    if (answers.some((a) => a.error && a.error.status === 401)) ctx.sessionEnded();
  }

  async function load() {
    failure = null;
    overview = null;
    ledgers.clear();
    render();
    try {
      const answer = await api.get("/patient/billing", { auth: true });
      if (!alive()) return;
      overview = {
        ...answer,
        patients: Array.isArray(answer && answer.patients) ? answer.patients : [],
        currency: (answer && answer.currency) || "usd",
      };
      render();
      await loadLedgers();
    } catch (err) {
      if (err.status === 401) return ctx.sessionEnded();
      failure = err;
    }
    if (alive()) render();
  }

  render("billing-title");
  load();
}

// --- one month's statement ------------------------------------------------------------------------------

function showStatement(ctx, month) {
  const { api } = ctx;
  let statement = null;
  let failure = null;
  let root = null;

  const render = (focus) => {
    const lang = currentLang(ctx);
    const t = translator(STRINGS, lang);
    const monthLabel = dayLabel(`${month}-01`, lang, MONTH);
    const title = h("h1", { id: "statement-title", tabindex: "-1" }, t("statement.title", { month: monthLabel }));
    const body = h("div", { class: "stack", id: "statement", aria: { busy: statement || failure ? "false" : "true" } });
    if (failure) body.append(problem(t, failure, load));
    else if (!statement) body.append(loading(t("statement.loading")));
    else body.append(...statementParts(t, lang));
    root = h(
      "div",
      { class: "stack" },
      ctx.nav(SECTION),
      h("a", { class: "btn btn-quiet back-link no-print", href: `#${SECTION}` }, icon(ICONS.left), t("statement.back")),
      h("article", { class: "card statement", aria: { labelledby: "statement-title" } }, title, body),
    );
    showKeepingFocus(ctx, root, () => render(), focus ? "statement-title" : "");
    setTitle(t, ctx);
  };

  function statementParts(t, lang) {
    const s = statement;
    const currency = s.currency || "usd";
    const money = (cents) => formatCents(cents, currency, lang);
    const names = (s.patients || []).map((p) => p.name).filter(Boolean);
    const several = names.length > 1;
    const nameOf = new Map((s.patients || []).map((p) => [p.id, p.name]));
    const rows = [
      [t("statement.opening"), s.opening_balance_cents],
      [t("statement.charges"), s.charges_cents],
      [t("statement.payments"), s.payments_cents ? -s.payments_cents : 0],
      [t("statement.adjustments"), s.adjustments_cents],
      [t("statement.refunds"), s.refunds_cents],
      [t("statement.closing"), s.closing_balance_cents],
    ];
    if (s.pending_insurance_cents > 0) rows.push([t("statement.pending"), s.pending_insurance_cents]);
    const lines = Array.isArray(s.lines) ? s.lines : [];
    return [
      h(
        "div",
        { class: "statement-head" },
        s.practice && s.practice.name ? h("p", { class: "statement-practice" }, s.practice.name) : "",
        h("p", null, t("statement.period", { from: dayLabel(s.period_start, lang, LONG_DAY), to: dayLabel(s.period_end, lang, LONG_DAY) })),
        s.guarantor_name ? h("p", null, t("statement.holder", { name: s.guarantor_name })) : "",
        several ? h("p", null, t("statement.forPeople", { names: namesList(names, lang) })) : "",
      ),
      h(
        "section",
        { aria: { labelledby: "statement-summary" } },
        h("h2", { id: "statement-summary" }, t("statement.summaryLabel")),
        h(
          "dl",
          { class: "money-list statement-totals" },
          rows.map(([label, cents]) => h("div", null, h("dt", null, label), h("dd", null, money(cents || 0)))),
          h("div", { class: "statement-due" }, h("dt", null, t("statement.due")), h("dd", { id: "statement-due" }, money(s.amount_due_cents || 0))),
        ),
      ),
      h(
        "section",
        { aria: { labelledby: "statement-activity" } },
        h("h2", { id: "statement-activity" }, t("statement.activity")),
        lines.length
          ? h(
              "table",
              { class: "statement-lines" },
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  h("th", { scope: "col" }, t("statement.date")),
                  h("th", { scope: "col" }, t("statement.description")),
                  h("th", { scope: "col", class: "amount" }, t("statement.amount")),
                ),
              ),
              h(
                "tbody",
                null,
                lines.map((line) => {
                  const kind = lineLabel(t, line);
                  const what = line.description && line.description !== kind ? `${line.description} (${kind})` : kind;
                  return h(
                    "tr",
                    null,
                    h("td", { class: "date" }, dayLabel(line.posted_on, lang, MONTH_DAY)),
                    h("td", null, what, several && nameOf.get(line.patient_id) ? h("span", { class: "statement-who" }, nameOf.get(line.patient_id)) : ""),
                    h("td", { class: "amount" }, lineAmount(line, currency, lang)),
                  );
                }),
              ),
            )
          : h("p", { class: "muted" }, t("statement.none")),
      ),
      h(
        "div",
        { class: "button-row no-print" },
        h("button", { class: "btn btn-primary", type: "button", id: "statement-print", onclick: () => window.print() }, t("statement.print")),
        h("button", { class: "btn btn-secondary", type: "button", id: "statement-download", onclick: (e) => download(e.currentTarget, t) }, icon(ICONS.download), t("statement.download")),
      ),
      h("div", { class: "form-error no-print", id: "statement-download-error", role: "alert" }),
      phoneLine(t, ctx.practice),
    ];
  }

  /** The API's printable page, saved as a file (it is self-contained, with its own print styles). */
  async function download(button, t) {
    const restore = busyButton(button, t("statement.preparing"));
    try {
      const html = await api.get(`/patient/statements/${encodeURIComponent(month)}/print`, { auth: true, text: true });
      const url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
      const link = h("a", { href: url, download: `statement-${month}.html`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      if (err.status === 401) return ctx.sessionEnded();
      const box = document.getElementById("statement-download-error");
      if (box) box.replaceChildren(icon(ICONS.alert), h("span", null, errorText(t, err)));
    }
    restore();
  }

  async function load() {
    failure = null;
    statement = null;
    render();
    try {
      statement = await api.get(`/patient/statements/${encodeURIComponent(month)}`, { auth: true });
    } catch (err) {
      if (err.status === 401) return ctx.sessionEnded();
      failure = err;
    }
    if (root && root.isConnected) render();
  }

  render(true);
  load();
}
