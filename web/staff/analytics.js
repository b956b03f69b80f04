// Analytics: the last 12 months from the roll-ups (GET .../analytics/summary), each number with its
// definition, trend charts (Chart.js, vendored, drawn on canvas) each with a table of the same numbers,
// and for owners and managers the money figures and the ROI with its method and inputs.

import { focusHeading, h, translator } from "../common/dom.js";
import { localeFor } from "../common/format.js";
import { STRINGS } from "./analytics-strings.js";
import { errorText, money, practicePath, sectionNav, statusLine } from "./desk.js";

const CHART_JS = "../vendor/chartjs/chart.umd.js";
let chartLibrary = null;

/** Chart.js, loaded once on first use (its UMD build sets window.Chart). */
async function loadChart() {
  if (!chartLibrary) chartLibrary = import(CHART_JS).then(() => window.Chart);
  return chartLibrary;
}

function monthLabel(month, lang) {
  const [y, m] = month.split("-").map(Number);
  return new Intl.DateTimeFormat(localeFor(lang), { month: "short", year: "numeric", timeZone: "UTC" }).format(new Date(Date.UTC(y, m - 1, 1)));
}

function pct(ratio) {
  return ratio && ratio.percent !== null && ratio.percent !== undefined ? Number(ratio.percent) : null;
}

function pctText(ratio, t, lang) {
  const value = pct(ratio);
  if (value === null) return t("analytics.noData");
  return `${new Intl.NumberFormat(localeFor(lang), { maximumFractionDigits: 1 }).format(value)} %`;
}

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

function tile(label, value, detail, definition) {
  return h(
    "div",
    { class: "tile analytics-tile" },
    h("dt", null, label),
    h("dd", null, value),
    // More <dd>s of the same term, not <p>s: a <dl>'s groups may hold only <dt> and <dd>.
    detail ? h("dd", { class: "tile-detail" }, detail) : null,
    h("dd", { class: "definition" }, definition),
  );
}

/** One chart: a heading, a canvas with a text summary as its name, and the numbers as a table. */
function chartCard(t, lang, id, title, months, series, kind, format) {
  const canvas = h("canvas", { id: `${id}-canvas`, role: "img" });
  const labels = months.map((m) => monthLabel(m, lang));
  const last = series[0].values[series[0].values.length - 1];
  const known = series[0].values.filter((v) => v !== null && v !== undefined);
  const summary = known.length
    ? `${t("analytics.latest", { value: format(last) })}; ${t("analytics.range", { low: format(Math.min(...known)), high: format(Math.max(...known)) })}`
    : t("analytics.noData");
  canvas.setAttribute("aria-label", t("analytics.chartSummary", { title, summary }));
  const table = h(
    "table",
    { class: "sheet chart-table" },
    h("caption", { class: "visually-hidden" }, title),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, t("analytics.month")), series.map((s) => h("th", { scope: "col" }, s.label)))),
    h(
      "tbody",
      null,
      months.map((m, i) => h("tr", null, h("th", { scope: "row" }, labels[i]), series.map((s) => h("td", null, format(s.values[i]))))),
    ),
  );
  const card = h(
    "section",
    { class: "card desk-card chart-card", aria: { labelledby: `${id}-title` } },
    h("h2", { id: `${id}-title` }, title),
    h("div", { class: "chart-box" }, canvas),
    h("details", { class: "chart-numbers" }, h("summary", null, t("analytics.showNumbers")), h("div", { class: "table-wrap" }, table)),
  );
  return { card, draw: (Chart) => drawChart(Chart, canvas, labels, series, kind, lang) };
}

function drawChart(Chart, canvas, labels, series, kind, lang) {
  const palette = [cssVar("--brand", "#0f766e"), cssVar("--warn", "#93370d"), cssVar("--info", "#1849a9"), cssVar("--neutral", "#475467")];
  return new Chart(canvas, {
    type: kind,
    data: {
      labels,
      datasets: series.map((s, i) => ({
        label: s.label,
        data: s.values,
        type: s.type || kind,
        borderColor: palette[i % palette.length],
        backgroundColor: palette[i % palette.length],
        spanGaps: true,
      })),
    },
    options: {
      locale: localeFor(lang),
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: series.length > 1 } },
      scales: { y: { beginAtZero: true } },
    },
  });
}

function definitionsCard(t, answer) {
  const keys = Object.keys(answer.definitions || {});
  return h(
    "section",
    { class: "card desk-card", aria: { labelledby: "analytics-definitions" } },
    h("h2", { id: "analytics-definitions" }, t("analytics.definitions.title")),
    h("ul", { class: "plain-list definitions" }, keys.map((k) => h("li", null, t(`analytics.definitions.${k}`)))),
  );
}

function messagesCard(t, period) {
  const m = period.messages || {};
  const outcomes = [
    ["sent", "analytics.messages.sent"],
    ["failed", "analytics.messages.failed"],
    ["bounced", "analytics.messages.bounced"],
    ["opted_out", "analytics.messages.optedOut"],
  ];
  return h(
    "section",
    { class: "card desk-card", aria: { labelledby: "analytics-messages" } },
    h("h2", { id: "analytics-messages" }, t("analytics.charts.messages")),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "sheet messages-table" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, t("analytics.messages.channel")), outcomes.map(([, key]) => h("th", { scope: "col" }, t(key))))),
        h(
          "tbody",
          null,
          ["sms", "email"].map((channel) =>
            h("tr", null, h("th", { scope: "row" }, t(`analytics.messages.${channel}`)), outcomes.map(([name]) => h("td", null, String((m[channel] || {})[name] || 0)))),
          ),
        ),
      ),
    ),
    h("p", { class: "definition" }, t("analytics.definitions.messages")),
  );
}

function moneyCard(t, lang, answer) {
  const period = answer.period;
  const outstanding = answer.outstanding || {};
  return h(
    "section",
    { class: "card desk-card", aria: { labelledby: "analytics-money" } },
    h("h2", { id: "analytics-money" }, t("analytics.money.title")),
    h(
      "dl",
      { class: "summary analytics-summary" },
      tile(t("analytics.money.collected"), money(period.collections_cents, lang), "", t("analytics.definitions.collections")),
      tile(t("analytics.money.online"), money(period.online_collections_cents, lang), "", t("analytics.definitions.online_collections")),
      tile(t("analytics.money.owed"), money(outstanding.owed_cents, lang), "", t("analytics.definitions.outstanding")),
      tile(t("analytics.money.credit"), money(outstanding.credit_cents, lang), "", t("analytics.definitions.outstanding")),
    ),
  );
}

function roiCard(t, lang, roi) {
  const i = roi.inputs;
  const number = (v) => new Intl.NumberFormat(localeFor(lang), { maximumFractionDigits: 1 }).format(Number(v));
  let baseline = t("analytics.roi.baselineNone");
  if (i.baseline_no_show_percent !== null) {
    baseline =
      i.baseline_source === "setting"
        ? t("analytics.roi.baselineSetting", { rate: number(i.baseline_no_show_percent) })
        : t("analytics.roi.baselineMeasured", { rate: number(i.baseline_no_show_percent), months: (i.baseline_months || []).map((m) => monthLabel(m, lang)).join(", ") });
  }
  const row = (label, value) => [h("dt", null, label), h("dd", null, value)];
  const hours = number(roi.staff_minutes_saved / 60);
  return h(
    "section",
    { class: "card desk-card roi", aria: { labelledby: "analytics-roi" } },
    h("h2", { id: "analytics-roi" }, t("analytics.roi.title")),
    h("p", { class: "roi-net" }, h("span", null, t("analytics.roi.net")), " ", h("strong", { id: "roi-net" }, money(roi.net_cents, lang))),
    h(
      "dl",
      { class: "roi-lines" },
      row(t("analytics.roi.recoveredVisits"), number(roi.recovered_visits)),
      row(t("analytics.roi.recoveredProduction"), money(roi.recovered_production_cents, lang)),
      row(t("analytics.roi.online"), money(roi.online_collections_cents, lang)),
      row(t("analytics.roi.staffTime"), t("analytics.roi.staffHours", { hours, calls: roi.confirmations_without_call })),
      row(t("analytics.roi.staffValue"), money(roi.staff_time_value_cents, lang)),
      row(t("analytics.roi.messageCost"), `− ${money(roi.message_cost_cents, lang)}`),
    ),
    h("h3", null, t("analytics.roi.method")),
    h("ol", { class: "roi-method" }, ["recovered", "production", "cost", "staff", "net"].map((k) => h("li", null, t(`analytics.roi.steps.${k}`)))),
    h("h3", null, t("analytics.roi.inputs")),
    h(
      "dl",
      { class: "roi-lines roi-inputs" },
      row(t("analytics.roi.baseline"), baseline),
      row(t("analytics.roi.current"), i.current_no_show_percent === null ? t("analytics.noData") : `${number(i.current_no_show_percent)} %`),
      row(t("analytics.roi.visits"), String(i.visits)),
      row(t("analytics.roi.production"), money(i.production_per_visit_cents, lang)),
      row(t("analytics.roi.minutes"), String(i.minutes_per_call)),
      row(t("analytics.roi.hourCost"), i.staff_hour_cents ? money(i.staff_hour_cents, lang) : t("analytics.roi.hourCostNone")),
      row(t("analytics.roi.messages"), t("analytics.roi.messagesCount", { emails: i.emails_sent, parts: i.sms_parts_sent, received: i.sms_received })),
      row(
        t("analytics.roi.prices"),
        t("analytics.roi.pricesLine", { email: i.prices_usd.ses_email, part: i.prices_usd.sms_outbound_part, fee: i.prices_usd.sms_carrier_fee_part, inbound: i.prices_usd.sms_inbound_part }),
      ),
    ),
    h("p", { class: "hint" }, h("a", { href: "#settings" }, t("analytics.roi.change"))),
  );
}

export function showAnalytics(ctx) {
  const t = translator(STRINGS, ctx.lang);
  const title = h("h1", { id: "analytics-title" }, t("analytics.title"));
  const status = statusLine();
  const body = h("div", { class: "stack analytics-body", aria: { busy: "true" } }, h("p", { class: "loading" }, h("span", { class: "spinner", aria: { hidden: "true" } }), t("analytics.loading")));
  ctx.show(h("div", { class: "stack" }, sectionNav(ctx, "analytics"), title, h("p", { class: "hint" }, t("analytics.intro")), status, body), () => showAnalytics(ctx));
  focusHeading(title);
  load(ctx, t, status, body);
}

async function load(ctx, t, status, body) {
  const lang = ctx.lang;
  let answer;
  try {
    [answer] = await Promise.all([ctx.api.get(practicePath(ctx, "/analytics/summary"), { auth: true }), loadChart()]);
  } catch (err) {
    body.setAttribute("aria-busy", "false");
    body.replaceChildren();
    if (err.status !== 401) status.textContent = errorText(err, lang);
    return;
  }
  if (!body.isConnected) return;
  const Chart = await loadChart();
  const months = answer.months;
  const trend = answer.trend;
  const p = answer.period;
  const percent = (v) => (v === null || v === undefined ? "–" : `${v} %`);
  const count = (v) => (v === null || v === undefined ? "–" : String(v));
  const cents = (v) => money(v, lang);
  const charts = [
    chartCard(t, lang, "chart-noshow", t("analytics.charts.noShow"), months, [{ label: t("analytics.tiles.noShow"), values: trend.map((m) => pct(m.no_show_rate)) }], "line", percent),
    chartCard(
      t,
      lang,
      "chart-cancellations",
      t("analytics.charts.cancellations"),
      months,
      [
        { label: t("analytics.charts.all"), values: trend.map((m) => m.cancellations) },
        { label: t("analytics.charts.late"), values: trend.map((m) => m.late_cancellations) },
      ],
      "bar",
      count,
    ),
    chartCard(t, lang, "chart-confirmed", t("analytics.charts.confirmed"), months, [{ label: t("analytics.tiles.confirmed"), values: trend.map((m) => pct(m.confirmed_before_day)) }], "line", percent),
    chartCard(
      t,
      lang,
      "chart-messages",
      t("analytics.charts.messages"),
      months,
      [
        { label: t("analytics.charts.smsSent"), values: trend.map((m) => m.messages.sms.sent) },
        { label: t("analytics.charts.emailSent"), values: trend.map((m) => m.messages.email.sent) },
      ],
      "bar",
      count,
    ),
    chartCard(
      t,
      lang,
      "chart-nps",
      t("analytics.charts.nps"),
      months,
      [
        { label: t("analytics.charts.npsLine"), values: trend.map((m) => m.nps) },
        { label: t("analytics.charts.referralsBar"), values: trend.map((m) => m.referrals), type: "bar" },
      ],
      "line",
      count,
    ),
  ];
  if (answer.money_visible) {
    charts.push(
      chartCard(
        t,
        lang,
        "chart-money",
        t("analytics.charts.money"),
        months,
        [
          { label: t("analytics.charts.collected"), values: trend.map((m) => m.collections_cents / 100) },
          { label: t("analytics.charts.online"), values: trend.map((m) => m.online_collections_cents / 100) },
        ],
        "bar",
        (v) => cents(Math.round(v * 100)),
      ),
    );
  }
  const tiles = h(
    "dl",
    { class: "summary analytics-summary", id: "analytics-tiles" },
    tile(t("analytics.tiles.noShow"), pctText(p.no_show_rate, t, lang), t("analytics.tiles.ofCount", p.no_show_rate), t("analytics.definitions.no_show_rate")),
    tile(t("analytics.tiles.cancellations"), String(p.cancellations), t("analytics.tiles.lateOf", { late: p.late_cancellations, all: p.cancellations }), t("analytics.definitions.late_cancellations")),
    tile(t("analytics.tiles.confirmed"), pctText(p.confirmed_before_day, t, lang), t("analytics.tiles.ofCount", p.confirmed_before_day), t("analytics.definitions.confirmed_before_day")),
    tile(t("analytics.tiles.recall"), pctText(answer.recall_share, t, lang), t("analytics.tiles.ofCount", answer.recall_share), t("analytics.definitions.recall_share")),
    tile(t("analytics.tiles.nps"), p.nps === null ? t("analytics.noData") : String(p.nps), t("analytics.tiles.answers", { count: p.survey_answers }), t("analytics.definitions.nps")),
    tile(t("analytics.tiles.referrals"), String(p.referrals), "", t("analytics.definitions.referrals")),
  );
  body.replaceChildren(
    h("section", { class: "card desk-card", aria: { labelledby: "analytics-period" } }, h("h2", { id: "analytics-period" }, t("analytics.period")), tiles),
    messagesCard(t, p),
    answer.money_visible ? moneyCard(t, lang, answer) : null,
    answer.money_visible && answer.roi ? roiCard(t, lang, answer.roi) : null,
    h("div", { class: "chart-grid" }, charts.map((c) => c.card)),
    definitionsCard(t, answer),
  );
  for (const c of charts) c.draw(Chart);
  body.setAttribute("aria-busy", "false");
  status.textContent = t("analytics.updated", { from: monthLabel(months[0], lang), to: monthLabel(months[months.length - 1], lang) });
}
