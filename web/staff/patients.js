// Patients: search by the start of a name, phone or email, and the patient card composed from the
// card, contact, family, messages, ledger, images and audit APIs (each section only if the role may see it).
// Contacts, ledger and images are live parts with their own actions (card-contact.js, card-billing.js,
// card-images.js): each reloads itself after an action and says what happened in its own live region.

import { busyButton, focusHeading, h } from "../common/dom.js";
import { ensureStyles } from "./card-actions.js";
import { ledgerSection } from "./card-billing.js";
import { contactSection } from "./card-contact.js";
import { imagesSection } from "./card-images.js";
import { can, deskT, errorText, localTime, practicePath, section, sectionNav, statusLine } from "./desk.js";

let lastQuery = "";

export function showPatients(ctx, patientId) {
  if (patientId) return showCard(ctx, patientId);
  const t = deskT(ctx.lang);
  const title = h("h1", { id: "patients-title" }, t("patients.title"));
  const input = h("input", { id: "patient-q", type: "search", autocomplete: "off", spellcheck: "false", minlength: 2, maxlength: 100, aria: { describedby: "patient-q-hint" } });
  input.value = lastQuery;
  const results = h("div", { class: "patient-results", aria: { live: "polite" } });
  const status = statusLine();
  const submit = h("button", { class: "btn btn-primary", type: "submit" }, t("patients.submit"));
  const form = h(
    "form",
    { class: "patient-search", role: "search", aria: { labelledby: "patients-title" } },
    h("label", { for: "patient-q" }, t("patients.search")),
    h("div", { class: "search-row" }, input, submit),
    h("p", { class: "hint", id: "patient-q-hint" }, t("patients.hint")),
  );
  const run = async () => {
    ctx.noteActivity();
    const q = input.value.trim();
    lastQuery = q;
    if (q.length < 2) return;
    const restore = busyButton(submit, t("patients.submit"));
    try {
      const answer = await ctx.api.get(practicePath(ctx, `/patients?q=${encodeURIComponent(q)}`), { auth: true });
      const found = Array.isArray(answer.patients) ? answer.patients : [];
      status.textContent = found.length ? t("patients.results", { count: found.length }) : t("patients.none", { q });
      results.replaceChildren(
        found.length
          ? h(
              "ul",
              { class: "patient-list" },
              found.map((p) =>
                h(
                  "li",
                  { dataset: { patientId: p.id } },
                  h("a", { href: `#patients/${encodeURIComponent(p.id)}`, class: "patient-link" }, p.name),
                  h("span", { class: "muted" }, [p.birth_date ? t("patients.born", { date: p.birth_date }) : "", p.phone, p.email].filter(Boolean).join(" · ")),
                ),
              ),
            )
          : "",
      );
    } catch (err) {
      if (err.status !== 401) status.textContent = errorText(err, ctx.lang);
    } finally {
      restore();
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  ctx.show(h("div", { class: "stack" }, sectionNav(ctx, "patients"), title, h("div", { class: "card desk-card" }, form, status, results)), () => showPatients(ctx));
  focusHeading(title);
  if (lastQuery) run();
}

function list(items, empty, render) {
  return items && items.length ? h("ul", { class: "plain-list" }, items.map((x) => h("li", null, render(x)))) : h("p", { class: "muted" }, empty);
}

async function showCard(ctx, patientId) {
  ensureStyles();
  const t = deskT(ctx.lang);
  const id = encodeURIComponent(patientId);
  const title = h("h1", { id: "card-title" }, t("patients.card"));
  const body = h("div", { class: "stack", aria: { busy: "true" } }, h("p", { class: "muted" }, t("actions.loading")));
  ctx.show(
    h("div", { class: "stack" }, sectionNav(ctx, "patients"), h("a", { href: "#patients", class: "back-link" }, t("patients.back")), title, body),
    () => showCard(ctx, patientId),
  );
  focusHeading(title);
  const get = (path) => ctx.api.get(practicePath(ctx, path), { auth: true });
  const optional = (permission, path) => (can(ctx.role, permission) ? get(path).catch((err) => ({ failed: err })) : Promise.resolve({ hidden: true }));
  let card;
  try {
    card = await get(`/patients/${id}`);
  } catch (err) {
    if (err.status !== 401) body.replaceChildren(h("p", { class: "form-error", role: "alert" }, errorText(err, ctx.lang)));
    return;
  }
  const [family, messages, audit] = await Promise.all([
    optional("patients.view", `/patients/${id}/family`),
    optional("patients.view", `/patients/${id}/messages`),
    optional("audit.view", `/patients/${id}/audit`),
  ]);
  const zone = card.zone || ctx.zone;
  title.textContent = `${card.given_name} ${card.family_name}`;
  const guard = (answer, render) => (answer.hidden ? h("p", { class: "muted" }, t("patients.notAllowed")) : answer.failed ? h("p", { class: "form-error" }, errorText(answer.failed, ctx.lang)) : render(answer));
  body.setAttribute("aria-busy", "false");
  body.replaceChildren(
    h("p", { class: "hint" }, t("patients.viewed")),
    contactSection(ctx, patientId, card),
    section(
      t("patients.family"),
      "card-family",
      guard(family, (f) => list(f.family, t("patients.noFamily"), (p) => h("a", { href: `#patients/${encodeURIComponent(p.id)}` }, p.name))),
      list(card.managed_by, "", (g) => `${g.address} (${g.channel})`),
    ),
    section(
      t("patients.appointments"),
      "card-appointments",
      list(card.appointments, t("patients.noAppointments"), (a) => `${localTime(a.start, zone, ctx.lang)} · ${a.status}`),
    ),
    ledgerSection(ctx, patientId),
    imagesSection(ctx, patientId),
    section(
      t("patients.messagesSent"),
      "card-sent",
      guard(messages, (m) => list(m.sent, t("patients.none_"), (x) => `${localTime(x.sent_at || x.due, zone, ctx.lang)} · ${t.has(`patients.kinds.${x.kind}`) ? t(`patients.kinds.${x.kind}`) : x.kind} · ${x.channel} · ${x.status}`)),
    ),
    section(
      t("patients.messagesReceived"),
      "card-received",
      guard(messages, (m) => list(m.received, t("patients.none_"), (x) => `${localTime(x.at, zone, ctx.lang)} · ${x.text}`)),
    ),
    section(
      t("patients.audit"),
      "card-audit",
      guard(audit, (a) => list((a.events || []).slice(0, 20), t("patients.none_"), (e) => `${localTime(e.at, zone, ctx.lang)} · ${e.actor_type} · ${e.action}`)),
    ),
  );
}
