// X-rays & photos (#images): the signed-in person's images and, for a guardian, each dependant's
// (pick the person); a full view of one image; downloads of the originals (DICOM stays DICOM), one or
// several at once; and links that share chosen images with another dentist, listed until they expire,
// each with a button to turn it off.
//
// Every image URL comes from the API when it is needed (thumbnails with the gallery, a full view or a
// download on the click) and lives a few minutes. Each view and download goes through the API route
// that audits it; no URL is kept, reused for another image or stored. An image that fails to load
// (its URL expired while the page sat open, say) is asked for again once rather than shown broken.
//
// Loaded by app.js through sections.js; see there for ctx. The words are in images-strings.js.

import { friendlyError } from "../common/api.js";
import { busyButton, focusHeading, h, ICONS, icon } from "../common/dom.js";
import {
  DICOM,
  ensureStyles,
  expiryMs,
  imagesTranslator,
  instantLabel,
  kindLabel,
  spent,
  startDownload,
  takenLabel,
} from "./images-common.js";

const SECTION = "images";
const MAX_AT_ONCE = 20; // the API's BULK_MAX_IMAGES and SHARE_MAX_IMAGES
const SHARE_DAYS = [7, 14, 30]; // the API takes 1 to 30
const DOWNLOAD_SPACING_MS = 700; // between the files of one bulk download

const enc = encodeURIComponent;

export async function showSection(ctx) {
  const { api } = ctx;
  const s = {
    people: null, // [{id, name, relation}]
    personId: "",
    failure: null, // the first load failed: ApiError
    gallery: null, // {images, expiresAt, fromRetry} for personId
    galleryError: null,
    shares: null, // the person's share links (open and closed), newest first
    sharesError: null,
    selected: new Set(),
    thumbMissing: new Set(), // image ids whose thumbnail failed even with fresh URLs
    viewing: null, // {image, url, loaded, retried, failed, error}
    panel: "", // "" | "share" | "made" | "downloads"
    made: null, // the share just created
    downloads: null, // {items: [{id, url, filename}], expiresAt}
    shareDays: SHARE_DAYS[0],
    shareNote: "",
    revokeOpen: "", // the share whose "turn off?" question is open
    error: null, // the last action's failure: ApiError or {message}
    gallerySeq: 0,
    sharesSeq: 0,
  };
  let root = null;

  const lang = () => document.documentElement.lang || ctx.lang; // app.js sets it before a redraw
  const tr = () => imagesTranslator(lang());
  const zone = () => (ctx.practice && ctx.practice.zone) || "UTC";
  const here = () => root === null || root.isConnected; // false once the person moved to another section
  const person = () => (s.people || []).find((p) => p.id === s.personId) || null;
  const images = () => (s.gallery ? s.gallery.images : []);

  function personName(t, p) {
    return p.relation === "self" ? `${p.name} (${t("images.you")})` : p.name;
  }

  // --- drawing -----------------------------------------------------------------------------------

  function render() {
    const t = tr();
    const view = s.viewing ? fullView(t) : galleryView(t);
    root = view;
    ctx.show(view, render);
  }

  /** Redraw; focus goes to ``focusId``, else back to the element that had it (by id). */
  function redraw(focusId) {
    if (!here()) return;
    const had = document.activeElement && document.activeElement.id;
    render();
    focusOn(document.getElementById(focusId || had || ""));
  }

  /** Focus an element: a control as it is, anything else (a heading, an alert) made focusable first. */
  function focusOn(target) {
    if (!target) return;
    if (target.matches("button, input, select, textarea, a[href]")) target.focus();
    else focusHeading(target);
  }

  // One live region for the section's life, moved into every redraw rather than drawn anew: screen
  // readers announce a change of its text, not a region that arrives already holding it.
  const statusNode = h("p", { class: "visually-hidden", role: "status", id: "images-status" });

  function statusRegion() {
    return statusNode;
  }

  function setStatus(text) {
    statusNode.textContent = text;
  }

  function errorBox(t) {
    if (!s.error) return h("div", { id: "images-error", class: "form-error", role: "alert", tabindex: "-1" });
    const message = s.error instanceof Error ? friendlyError(s.error, t, t.lang) : s.error.message;
    return h("div", { id: "images-error", class: "form-error", role: "alert", tabindex: "-1" }, icon(ICONS.alert), h("span", null, message));
  }

  function galleryView(t) {
    const title = h("h1", { id: "images-title" }, t("images.title"));
    const parts = [ctx.nav(SECTION), h("div", { class: "images-head" }, title, h("p", { class: "lede" }, t("images.lede", { practice: (ctx.practice && ctx.practice.name) || "" }))), statusRegion()];
    if (s.failure) {
      parts.push(
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, friendlyError(s.failure, t, t.lang))),
        h("button", { class: "btn btn-secondary", type: "button", onclick: start }, t("home.retry")),
      );
    } else if (!s.people) {
      parts.push(loading(t("images.loading")));
    } else {
      if (s.people.length > 1) parts.push(personPicker(t));
      parts.push(gallerySection(t));
      if (s.panel === "downloads" && s.downloads) parts.push(downloadsPanel(t));
      if (s.panel === "share") parts.push(shareForm(t));
      if (s.panel === "made" && s.made) parts.push(madePanel(t));
      parts.push(sharesSection(t));
    }
    return h("div", { class: "stack images-section" }, parts);
  }

  function loading(text) {
    return h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", aria: { hidden: "true" } }), text);
  }

  function personPicker(t) {
    return h(
      "fieldset",
      { class: "choices who-picker" },
      h("legend", null, t("images.whoLegend")),
      s.people.map((p) =>
        h(
          "label",
          { class: "choice" },
          h("input", { type: "radio", name: "images-person", id: `who-${p.id}`, value: p.id, checked: p.id === s.personId, onchange: () => choosePerson(p.id) }),
          h("span", null, personName(t, p)),
        ),
      ),
    );
  }

  function gallerySection(t) {
    const p = person();
    const box = h("section", { class: "card gallery", aria: { labelledby: "gallery-title", busy: s.gallery || s.galleryError ? "false" : "true" } });
    box.append(h("h2", { id: "gallery-title", class: s.people.length > 1 ? "" : "visually-hidden" }, p ? p.name : t("images.title")));
    if (s.galleryError) {
      box.append(
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, friendlyError(s.galleryError, t, t.lang))),
        h("button", { class: "btn btn-secondary", type: "button", onclick: () => loadGallery() }, t("home.retry")),
      );
      return box;
    }
    if (!s.gallery) {
      box.append(loading(t("images.loading")), h("div", { class: "skeleton", aria: { hidden: "true" } }));
      return box;
    }
    const list = images();
    if (!list.length) {
      box.append(h("p", { class: "muted empty-gallery" }, p && p.relation !== "self" ? t("images.emptyOther", { name: p.name }) : t("images.empty")), errorBox(t));
      return box;
    }
    box.append(
      h(
        "ul",
        { class: "image-grid", aria: { label: t("images.listLabel", { name: p ? p.name : "" }) } },
        list.map((image) => thumbCard(t, image)),
      ),
      toolbar(t),
      errorBox(t),
    );
    return box;
  }

  function thumbCard(t, image) {
    const kind = kindLabel(t, image);
    const taken = takenLabel(image, lang());
    const picked = s.selected.has(image.id);
    let picture;
    if (image.thumbnail_url && !s.thumbMissing.has(image.id)) {
      picture = h("img", { class: "thumb", src: image.thumbnail_url, alt: "", decoding: "async" });
      picture.addEventListener("error", () => thumbFailed(image.id, picture));
    } else {
      picture = missingThumb(t);
    }
    return h(
      "li",
      { class: `image-card${picked ? " is-picked" : ""}`, dataset: { imageId: image.id } },
      h(
        "button",
        { class: "image-open", type: "button", id: `open-${image.id}`, onclick: () => openView(image) },
        h("span", { class: "thumb-frame" }, picture),
        h("span", { class: "image-kind" }, kind),
        h("span", { class: "image-taken" }, t("images.taken", { date: taken })),
        h("span", { class: "visually-hidden" }, `, ${t("images.open")}`),
      ),
      h(
        "label",
        { class: "image-pick" },
        h("input", { type: "checkbox", id: `pick-${image.id}`, checked: picked, onchange: (e) => pick(image.id, e.currentTarget.checked) }),
        h("span", null, t("images.select"), h("span", { class: "visually-hidden" }, ` ${t("images.selectWhat", { kind, date: taken })}`)),
      ),
    );
  }

  function missingThumb(t) {
    return h("span", { class: "thumb-missing" }, icon(ICONS.alert), h("span", null, t("images.thumbUnavailable")));
  }

  function toolbar(t) {
    const n = s.selected.size;
    const all = images().length > 0 && images().every((i) => s.selected.has(i.id));
    const count = n === 0 ? t("images.selectedNone") : n === 1 ? t("images.selectedOne") : t("images.selected", { n });
    return h(
      "div",
      { class: "image-toolbar" },
      h("p", { class: "selected-count", id: "selected-count" }, count),
      h(
        "div",
        { class: "button-row" },
        h("button", { class: "btn btn-primary", type: "button", id: "download-selected", aria: { describedby: "selected-count" }, onclick: (e) => downloadSelected(e.currentTarget) }, icon(ICONS.download), t("images.downloadSelected")),
        h("button", { class: "btn btn-secondary", type: "button", id: "share-selected", aria: { describedby: "selected-count" }, onclick: openShareForm }, t("images.shareSelected")),
        h("button", { class: "btn btn-quiet", type: "button", id: "select-all", onclick: () => selectAll(!all) }, all ? t("images.selectNone") : t("images.selectAll")),
      ),
    );
  }

  function downloadsPanel(t) {
    const d = s.downloads;
    return h(
      "section",
      { class: "card downloads", aria: { labelledby: "downloads-title" } },
      h("h2", { id: "downloads-title" }, t("images.downloadsTitle")),
      h("p", { class: "muted" }, t("images.downloadsBody")),
      h(
        "ul",
        { class: "plain-list download-list" },
        d.items.map((item) =>
          h(
            "li",
            null,
            h(
              "a",
              {
                class: "btn btn-secondary download-link",
                href: item.url,
                rel: "noopener noreferrer",
                onclick: (e) => {
                  if (!spent(d.expiresAt)) return;
                  e.preventDefault(); // this link's URL has lived its few minutes: ask for a fresh one
                  downloadOne(item.id, e.currentTarget);
                },
              },
              icon(ICONS.download),
              h("span", null, item.filename),
            ),
          ),
        ),
      ),
      h("button", { class: "btn btn-quiet", type: "button", onclick: () => closePanel("download-selected") }, t("images.done")),
    );
  }

  function shareForm(t) {
    const ids = selectedIds();
    const note = h("input", {
      type: "text",
      id: "share-note",
      maxlength: "120",
      autocomplete: "off",
      aria: { describedby: "share-note-hint" },
      oninput: (e) => (s.shareNote = e.currentTarget.value),
    });
    note.value = s.shareNote;
    const submit = h("button", { class: "btn btn-primary", type: "submit", id: "share-create" }, t("images.create"));
    const form = h(
      "form",
      { class: "card share-form", novalidate: true, aria: { labelledby: "share-title" } },
      h("h2", { id: "share-title" }, t("images.shareTitle")),
      h("p", { class: "muted" }, ids.length === 1 ? t("images.shareBodyOne") : t("images.shareBody", { n: ids.length })),
      h(
        "fieldset",
        { class: "choices days-choices" },
        h("legend", null, t("images.daysLegend")),
        SHARE_DAYS.map((n) =>
          h(
            "label",
            { class: "choice" },
            h("input", { type: "radio", name: "share-days", id: `days-${n}`, value: String(n), checked: s.shareDays === n, onchange: () => (s.shareDays = n) }),
            h("span", null, t("images.days", { n })),
          ),
        ),
      ),
      h("div", { class: "field" }, h("label", { for: "share-note" }, t("images.noteLabel")), h("p", { class: "hint", id: "share-note-hint" }, t("images.noteHint")), note),
      h("div", { class: "button-row" }, submit, h("button", { class: "btn btn-secondary", type: "button", onclick: () => closePanel("share-selected") }, t("images.cancel"))),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      createShare(submit);
    });
    return form;
  }

  function madePanel(t) {
    const share = s.made;
    const until = instantLabel(share.expires_at, zone(), lang());
    const input = h("input", { type: "text", id: "made-link", readonly: true, value: share.link || "", spellcheck: "false", onfocus: (e) => e.currentTarget.select() });
    return h(
      "section",
      { class: "card share-made", aria: { labelledby: "made-title" } },
      h("h2", { id: "made-title" }, icon(ICONS.check), h("span", null, t("images.madeTitle"))),
      h("p", null, t("images.madeBody", { until })),
      h("div", { class: "field" }, h("label", { for: "made-link" }, t("images.linkLabel")), input),
      h(
        "div",
        { class: "button-row" },
        h("button", { class: "btn btn-primary", type: "button", id: "made-copy", onclick: () => copyLink(share.link, input) }, icon(ICONS.copy), t("images.copy")),
        canShare() ? h("button", { class: "btn btn-secondary", type: "button", onclick: () => sendLink(share) }, t("images.share")) : "",
        h("button", { class: "btn btn-quiet", type: "button", onclick: () => closePanel("shares-title") }, t("images.done")),
      ),
    );
  }

  function sharesSection(t) {
    const box = h("section", { class: "card shares", aria: { labelledby: "shares-title", busy: s.shares || s.sharesError ? "false" : "true" } }, h("h2", { id: "shares-title", tabindex: "-1" }, t("images.sharesTitle")));
    if (s.sharesError) {
      box.append(
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, friendlyError(s.sharesError, t, t.lang))),
        h("button", { class: "btn btn-secondary", type: "button", onclick: () => loadShares() }, t("home.retry")),
      );
      return box;
    }
    if (!s.shares) {
      box.append(loading(t("images.loadingShares")));
      return box;
    }
    const open = s.shares.filter((x) => x.open);
    if (!open.length) {
      box.append(h("p", { class: "muted" }, t("images.sharesEmpty")));
      return box;
    }
    box.append(h("ul", { class: "plain-list share-list" }, open.map((share) => shareItem(t, share))));
    return box;
  }

  function shareItem(t, share) {
    const n = Array.isArray(share.image_ids) ? share.image_ids.length : 0;
    const name = share.note || (n === 1 ? t("images.shareLabelOne") : t("images.shareLabel", { n }));
    const until = t("images.until", { until: instantLabel(share.expires_at, zone(), lang()) });
    const known = new Map(images().map((i) => [i.id, i]));
    const contents = (share.image_ids || [])
      .map((id) => known.get(id))
      .filter(Boolean)
      .map((i) => `${kindLabel(t, i)} (${takenLabel(i, lang())})`)
      .join(", ");
    const about = h("span", { class: "visually-hidden" }, ` ${name}`);
    const asking = s.revokeOpen === share.id;
    return h(
      "li",
      { class: "share-item", dataset: { shareId: share.id } },
      h("p", { class: "share-name" }, name),
      h("p", { class: "muted share-until" }, icon(ICONS.clock), h("span", null, until)),
      contents ? h("p", { class: "hint share-contents" }, contents) : "",
      asking
        ? h(
            "div",
            { class: "revoke-ask", id: `revoke-ask-${share.id}` },
            h("p", { class: "cancel-question" }, t("images.revokeQuestion")),
            h(
              "div",
              { class: "button-row" },
              h("button", { class: "btn btn-danger", type: "button", id: `revoke-yes-${share.id}`, onclick: (e) => revoke(share, e.currentTarget) }, t("images.revokeConfirm"), about.cloneNode(true)),
              h("button", { class: "btn btn-secondary", type: "button", onclick: () => askRevoke("", `revoke-${share.id}`) }, t("images.revokeKeep"), about.cloneNode(true)),
            ),
          )
        : "",
      h(
        "div",
        { class: "button-row share-actions" },
        share.link ? h("button", { class: "btn btn-secondary btn-small", type: "button", onclick: () => copyLink(share.link) }, icon(ICONS.copy), t("images.copy"), about.cloneNode(true)) : "",
        share.link && canShare() ? h("button", { class: "btn btn-secondary btn-small", type: "button", onclick: () => sendLink(share) }, t("images.share"), about.cloneNode(true)) : "",
        h(
          "button",
          {
            class: "btn btn-quiet btn-small btn-danger-text",
            type: "button",
            id: `revoke-${share.id}`,
            aria: { expanded: asking ? "true" : "false", controls: asking ? `revoke-ask-${share.id}` : null },
            onclick: () => askRevoke(asking ? "" : share.id, asking ? `revoke-${share.id}` : `revoke-yes-${share.id}`),
          },
          t("images.revoke"),
          about.cloneNode(true),
        ),
      ),
    );
  }

  function fullView(t) {
    const v = s.viewing;
    const image = v.image;
    const kind = kindLabel(t, image);
    const taken = takenLabel(image, lang());
    const p = person();
    const dicom = image.content_type === DICOM;
    const status = h("p", { class: "loading view-status", id: "view-status", role: "status" });
    const figure = h("figure", { class: "full-figure" });
    if (v.failed || v.error) {
      figure.append(
        h("div", { class: "form-error", role: "alert" }, icon(ICONS.alert), h("span", null, v.error ? friendlyError(v.error, t, t.lang) : t("images.viewFailed"))),
        h("button", { class: "btn btn-secondary", type: "button", id: "view-retry", onclick: retryView }, t("home.retry")),
      );
    } else if (v.url) {
      if (!v.loaded) status.append(h("span", { class: "spinner", aria: { hidden: "true" } }), t("images.viewLoading"));
      const img = h("img", {
        id: "full-image",
        class: `full-image${v.loaded ? "" : " is-loading"}`,
        src: v.url,
        alt: t("images.viewAlt", { kind, date: taken }),
        width: image.width > 0 ? String(image.width) : null,
        height: image.height > 0 ? String(image.height) : null,
      });
      img.addEventListener("load", () => viewLoaded(v, img, status));
      img.addEventListener("error", () => viewFailed(v, img));
      figure.append(img);
    } else {
      status.append(h("span", { class: "spinner", aria: { hidden: "true" } }), t("images.viewLoading"));
    }
    return h(
      "div",
      { class: "stack images-section image-view" },
      ctx.nav(SECTION),
      h("button", { class: "btn btn-quiet back-link", type: "button", id: "view-back", onclick: closeView }, icon(ICONS.left), t("images.back")),
      h(
        "div",
        { class: "images-head" },
        h("h1", { id: "view-title" }, t("images.viewTitle", { kind })),
        h("p", { class: "muted" }, t("images.taken", { date: taken }), s.people && s.people.length > 1 && p ? ` · ${t("images.viewFor", { name: p.name })}` : ""),
      ),
      statusRegion(),
      status,
      figure,
      errorBox(t),
      h(
        "div",
        { class: "button-row" },
        h("button", { class: "btn btn-primary", type: "button", id: "view-download", onclick: (e) => downloadOne(image.id, e.currentTarget) }, icon(ICONS.download), dicom ? t("images.downloadDicom") : t("images.download")),
      ),
      dicom ? h("p", { class: "hint" }, t("images.dicomHint")) : "",
    );
  }

  // --- loading -----------------------------------------------------------------------------------

  /** A 401 ends the session; true when the error was handled that way. */
  function ended(err) {
    if (err && err.status === 401) {
      ctx.sessionEnded();
      return true;
    }
    return false;
  }

  async function start() {
    s.failure = null;
    s.people = null;
    render();
    focusHeading(document.getElementById("images-title"));
    try {
      const [me] = await Promise.all([api.get("/patient/me", { auth: true }), ensureStyles()]);
      if (!here()) return;
      s.people = (Array.isArray(me && me.patients) ? me.patients : []).map((p) => ({ id: String(p.id), name: String(p.name || ""), relation: String(p.relation || "") }));
      const self = s.people.find((p) => p.relation === "self");
      s.personId = (self || s.people[0] || { id: "" }).id;
    } catch (err) {
      if (!here() || ended(err)) return;
      s.failure = err;
      redraw("images-title");
      return;
    }
    redraw("images-title");
    loadGallery();
    loadShares();
  }

  async function loadGallery(options = {}) {
    const mine = ++s.gallerySeq;
    const personId = s.personId;
    if (!options.quiet) {
      s.gallery = null;
      s.galleryError = null;
      redraw();
    }
    try {
      const answer = await api.get(`/patient/images?patient_id=${enc(personId)}`, { auth: true });
      if (mine !== s.gallerySeq || !here()) return;
      const list = (Array.isArray(answer && answer.images) ? answer.images : []).filter((i) => i && i.patient_id === personId);
      // Newest taken first (the API's order too); the sort is stable, so equal days keep it.
      list.sort((a, b) => String(b.taken_on).localeCompare(String(a.taken_on)));
      s.gallery = { images: list, expiresAt: expiryMs(answer.expires_at), fromRetry: Boolean(options.fromRetry) };
      s.galleryError = null;
      const ids = new Set(list.map((i) => i.id));
      for (const id of [...s.selected]) if (!ids.has(id)) s.selected.delete(id);
    } catch (err) {
      if (mine !== s.gallerySeq || !here() || ended(err)) return;
      s.galleryError = err;
    }
    redraw(options.focusId);
  }

  async function loadShares() {
    const mine = ++s.sharesSeq;
    try {
      const answer = await api.get(`/patient/shares?patient_id=${enc(s.personId)}`, { auth: true });
      if (mine !== s.sharesSeq || !here()) return;
      s.shares = Array.isArray(answer && answer.shares) ? answer.shares : [];
      s.sharesError = null;
    } catch (err) {
      if (mine !== s.sharesSeq || !here() || ended(err)) return;
      s.sharesError = err;
    }
    redraw();
  }

  /** A thumbnail did not load. Its URL may have expired: fetch the gallery again, once per batch of
   * URLs; if fresh URLs fail too, show "preview unavailable" rather than a broken image. */
  function thumbFailed(imageId, img) {
    if (!s.gallery || !here()) return;
    if (s.gallery.fromRetry && !spent(s.gallery.expiresAt)) {
      s.thumbMissing.add(imageId);
      if (img.isConnected) img.replaceWith(missingThumb(tr()));
      return;
    }
    if (s.gallery.refreshing) return;
    s.gallery.refreshing = true;
    loadGallery({ quiet: true, fromRetry: true });
  }

  // --- the person, selection and panels --------------------------------------------------------------

  function choosePerson(id) {
    if (id === s.personId) return;
    s.personId = id;
    s.selected.clear();
    s.thumbMissing.clear();
    s.panel = "";
    s.made = null;
    s.downloads = null;
    s.error = null;
    s.revokeOpen = "";
    s.shares = null;
    s.sharesError = null;
    loadGallery();
    loadShares();
  }

  function selectedIds() {
    // In gallery order, so a share and a download list read like the gallery.
    return images()
      .map((i) => i.id)
      .filter((id) => s.selected.has(id));
  }

  function pick(id, on) {
    if (on) s.selected.add(id);
    else s.selected.delete(id);
    if (s.error || s.panel === "share") {
      s.error = null;
      if (s.selected.size === 0) s.panel = "";
      return redraw(); // the share form names how many images it will hold
    }
    // Only the card's mark and the counts change: no redraw, so nothing moves under the person's finger.
    const card = document.querySelector(`.image-card[data-image-id="${CSS.escape(id)}"]`);
    if (card) card.classList.toggle("is-picked", on);
    const bar = document.querySelector(".image-toolbar");
    if (bar) bar.replaceWith(toolbar(tr()));
  }

  function selectAll(on) {
    s.selected = new Set(on ? images().map((i) => i.id) : []);
    s.error = null;
    redraw("select-all");
  }

  /** A problem with what was chosen, said next to the buttons; false when the choice is fine. */
  function badChoice(t) {
    const n = s.selected.size;
    if (n === 0) s.error = { message: t("images.pickFirst") };
    else if (n > MAX_AT_ONCE) s.error = { message: t("images.tooMany", { n: MAX_AT_ONCE }) };
    else return false;
    redraw("images-error");
    return true;
  }

  function openShareForm() {
    const t = tr();
    if (badChoice(t)) return;
    s.error = null;
    s.panel = "share";
    redraw("share-title");
  }

  function closePanel(focusId) {
    s.panel = "";
    s.made = null;
    s.downloads = null;
    redraw(focusId);
  }

  /** The chosen images turned out not to be downloadable or shareable (404: gone, or never theirs). */
  function chosenGone(t) {
    s.error = { message: t("images.gone") };
    s.selected.clear();
    s.panel = "";
    loadGallery({ quiet: true, focusId: "images-error" });
  }

  // --- downloads ---------------------------------------------------------------------------------

  async function downloadSelected(button) {
    const t = tr();
    if (badChoice(t)) return;
    s.error = null;
    const restore = busyButton(button, t("images.preparing"));
    try {
      const answer = await api.post("/patient/images/download", { ids: selectedIds() }, { auth: true });
      if (!here()) return;
      const items = (Array.isArray(answer && answer.downloads) ? answer.downloads : []).filter((d) => d && d.url);
      s.downloads = { items, expiresAt: expiryMs(answer.expires_at) };
      s.panel = "downloads";
      setStatus(t("images.downloadsStarted", { n: items.length }));
      redraw("downloads-title");
      items.forEach((item, n) => window.setTimeout(() => startDownload(item.url), n * DOWNLOAD_SPACING_MS));
    } catch (err) {
      if (!here() || ended(err)) return;
      restore();
      if (err.status === 404) return chosenGone(t);
      s.error = err;
      redraw("images-error");
    }
  }

  /** One original, through the route that audits the download; the URL is fresh for this click. */
  async function downloadOne(imageId, button) {
    const t = tr();
    const restore = busyButton(button, t("images.preparing"));
    try {
      const answer = await api.get(`/patient/images/${enc(imageId)}/download`, { auth: true });
      if (!here()) return;
      restore();
      startDownload(answer.url);
      setStatus(t("images.downloadStarted"));
    } catch (err) {
      if (!here() || ended(err)) return;
      restore();
      if (err.status === 404) {
        s.viewing = null;
        return chosenGone(t);
      }
      s.error = err;
      redraw("images-error");
    }
  }

  // --- the full view -----------------------------------------------------------------------------

  function openView(image) {
    s.viewing = { image, url: "", loaded: false, retried: false, failed: false, error: null };
    s.error = null;
    setStatus("");
    redraw("view-title");
    fetchView(s.viewing);
  }

  async function fetchView(v) {
    try {
      const answer = await api.get(`/patient/images/${enc(v.image.id)}/url`, { auth: true });
      if (s.viewing !== v || !here()) return;
      v.url = String((answer && answer.url) || "");
      v.loaded = false;
      v.failed = !v.url;
      v.error = null;
    } catch (err) {
      if (s.viewing !== v || !here() || ended(err)) return;
      if (err.status === 404) {
        s.viewing = null;
        return chosenGone(tr());
      }
      v.error = err;
    }
    redraw();
  }

  function viewLoaded(v, img, status) {
    if (s.viewing !== v || !img.isConnected) return; // a redraw replaced this element meanwhile
    v.loaded = true;
    v.retried = false; // a later failure (an expired URL after a redraw) gets its fresh try again
    img.classList.remove("is-loading");
    status.replaceChildren();
  }

  function viewFailed(v, img) {
    if (s.viewing !== v || !img.isConnected) return;
    if (!v.retried) {
      v.retried = true; // the URL has probably expired: one fresh URL, then say so
      v.url = "";
      redraw();
      fetchView(v);
      return;
    }
    v.failed = true;
    redraw("view-retry");
  }

  function retryView() {
    const v = s.viewing;
    if (!v) return;
    v.failed = false;
    v.error = null;
    v.retried = false;
    v.url = "";
    redraw("view-title");
    fetchView(v);
  }

  function closeView() {
    const id = s.viewing ? s.viewing.image.id : "";
    s.viewing = null;
    s.error = null;
    redraw(`open-${id}`);
  }

  // --- sharing -----------------------------------------------------------------------------------

  async function createShare(button) {
    const t = tr();
    if (badChoice(t)) return;
    const restore = busyButton(button, t("images.creating"));
    try {
      const answer = await api.post("/patient/shares", { image_ids: selectedIds(), days: s.shareDays, note: s.shareNote.trim() }, { auth: true });
      if (!here()) return;
      s.made = answer.share;
      s.panel = "made";
      s.selected.clear();
      s.shareNote = "";
      s.error = null;
      redraw("made-title");
      loadShares();
    } catch (err) {
      if (!here() || ended(err)) return;
      restore();
      if (err.status === 404) return chosenGone(t);
      s.error = err;
      s.panel = "";
      redraw("images-error");
    }
  }

  function canShare() {
    return typeof navigator.share === "function";
  }

  function shareMessage(t, share) {
    const practice = (ctx.practice && ctx.practice.name) || "";
    return {
      title: t("images.shareSubject", { practice }),
      text: t("images.shareText", { practice, until: instantLabel(share.expires_at, zone(), lang()) }),
      url: share.link,
    };
  }

  function sendLink(share) {
    navigator.share(shareMessage(tr(), share)).catch(() => {
      // Closed without sending, or refused: nothing to undo.
    });
  }

  async function copyLink(link, input) {
    const t = tr();
    let ok = false;
    try {
      await navigator.clipboard.writeText(link);
      ok = true;
    } catch {
      if (input) {
        input.focus();
        input.select();
      }
    }
    setStatus(ok ? t("images.copied") : t("images.copyFailed"));
  }

  function askRevoke(shareId, focusId) {
    s.revokeOpen = shareId;
    redraw();
    const target = document.getElementById(focusId);
    if (target) target.focus();
  }

  async function revoke(share, button) {
    const t = tr();
    busyButton(button, t("images.revoking"));
    try {
      await api.del(`/patient/shares/${enc(share.id)}`, { auth: true });
      if (!here()) return;
      s.revokeOpen = "";
      if (s.made && s.made.id === share.id) {
        s.made = null;
        s.panel = "";
      }
      s.shares = (s.shares || []).map((x) => (x.id === share.id ? { ...x, open: false, link: null } : x));
      setStatus(t("images.revoked"));
      redraw("shares-title");
      loadShares();
    } catch (err) {
      if (!here() || ended(err)) return;
      s.revokeOpen = "";
      s.sharesError = err.status === 404 ? null : err;
      setStatus(friendlyError(err, t, t.lang));
      redraw("shares-title");
      if (err.status === 404) loadShares();
    }
  }

  start();
}
