// The card's X-rays & photos: the patient's images in every state (thumbnails, "rejected" with the reason),
// a full view through a fresh short-lived URL (each view is audited by the API), and the upload.
//
// Upload: POST /images answers a presigned POST; the browser sends the file straight to the bucket (connect-src
// names the bucket's origin; its CORS rules name the site's); then POST /images/{id}/uploaded, always. In AWS the
// bucket's ObjectCreated event runs processing and that call only reports the image's state; on the local stack
// (moto fires no bucket events) the same call runs the same processing. The API decides which by its stage, so
// the page needs no flag and cannot get it wrong. While the state is still awaiting_upload the page asks that
// call again for a short while (it answers one image and is not a patient read), then lists the images once.

import { busyButton, focusHeading, h } from "../common/dom.js";
import { dayLabel, todayIn } from "../common/format.js";
import { can, deskT, practicePath, section, statusLine } from "./desk.js";
import { actionError, field, invalid, say, sayError, sizeLabel, sleep } from "./card-actions.js";

const KINDS = ["bitewing", "periapical", "panoramic", "intraoral_photo", "other"];
const BY_TYPE = { "image/jpeg": "image/jpeg", "image/png": "image/png", "application/dicom": "application/dicom" };
const BY_EXTENSION = { jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", dcm: "application/dicom", dicom: "application/dicom" };
const ACCEPT = "image/jpeg,image/png,application/dicom,.jpg,.jpeg,.png,.dcm,.dicom";
const AWAITING = "awaiting_upload";
const POLL_MS = [700, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000]; // about half a minute in all
const AUTO_REFRESH_MS = 30000; // at most one automatic re-list for expired thumbnails in this time
let maxBytes = 50 * 1024 * 1024; // the API's cap (upload.max_bytes) once an upload has told us

/** The content type to declare for a chosen file, or null when it is not JPEG, PNG or DICOM. Browsers often
 * give DICOM no type; the name's extension decides then. The bytes are checked by processing, not here. */
export function declaredType(file) {
  const extension = String(file.name || "").split(".").pop().toLowerCase();
  return BY_TYPE[file.type] || (!file.type || file.type === "application/octet-stream" ? BY_EXTENSION[extension] : null) || null;
}

function postToBucket(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields || {})) form.append(name, value);
    form.append(upload.file_field || "file", file); // S3 reads the file last: every field after it is ignored
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method || "POST", upload.url);
    xhr.timeout = 10 * 60 * 1000; // the presigned POST accepts the upload for ten minutes
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total) onProgress(Math.round((event.loaded * 100) / event.total));
    });
    xhr.addEventListener("load", () => (xhr.status >= 200 && xhr.status < 300 ? resolve(xhr.status) : reject({ storage: xhr.status })));
    for (const type of ["error", "abort", "timeout"]) xhr.addEventListener(type, () => reject({ storage: 0 }));
    xhr.send(form);
  });
}

export function imagesSection(ctx, patientId) {
  const t = deskT(ctx.lang);
  const pid = encodeURIComponent(patientId);
  const status = statusLine();
  const body = h("div", { class: "card-part", aria: { busy: "true" } }, h("p", { class: "muted" }, t("actions.loading")));
  const viewer = h("div", { class: "image-viewer", role: "region", aria: { labelledby: "image-view-title" }, hidden: true });
  if (!can(ctx.role, "images.manage")) {
    return section(t("patients.images"), "card-images", h("p", { class: "muted" }, t("patients.notAllowed")));
  }
  const kindLabel = (image) => (t.has(`card.images.kinds.${image.kind}`) ? t(`card.images.kinds.${image.kind}`) : String(image.kind_label || image.kind || ""));
  const takenLabel = (image) => (/^\d{4}-\d{2}-\d{2}$/.test(image.taken_on || "") ? dayLabel(image.taken_on, ctx.lang, { month: "long", day: "numeric", year: "numeric" }) : "");
  const reasonLabel = (code) => t(`card.images.failures.${t.has(`card.images.failures.${code}`) ? code : "unknown"}`);
  let lastAutoRefresh = 0;
  let viewing = null; // {image, opener}

  async function load() {
    body.setAttribute("aria-busy", "true");
    try {
      const answer = await ctx.api.get(practicePath(ctx, `/patients/${pid}/images`), { auth: true });
      draw(Array.isArray(answer.images) ? answer.images : []);
      return answer.images || [];
    } catch (err) {
      if (err.status !== 401) body.replaceChildren(h("p", { class: "form-error" }, actionError(err, t).text));
      return [];
    } finally {
      body.setAttribute("aria-busy", "false");
    }
  }

  function thumbExpired() {
    if (Date.now() - lastAutoRefresh < AUTO_REFRESH_MS) return;
    lastAutoRefresh = Date.now();
    say(status, t("card.images.expired"));
    load();
  }

  function tile(image) {
    const kind = kindLabel(image);
    const date = takenLabel(image);
    const state = t.has(`card.images.states.${image.status}`) ? image.status : AWAITING;
    const thumb = image.thumbnail_url
      ? h("img", { class: "card-thumb", src: image.thumbnail_url, alt: "", decoding: "async", onerror: thumbExpired })
      : h("div", { class: `card-thumb card-thumb-none thumb-${state}`, aria: { hidden: "true" } }, t("card.images.noPreview"));
    const view = h("button", { class: "btn btn-secondary btn-small", type: "button", aria: { label: t("card.images.viewLabel", { kind, date }) } }, t("card.images.view"));
    view.addEventListener("click", () => open(image, view));
    return h(
      "li",
      { class: "card-tile", dataset: { imageId: image.id, status: image.status } },
      thumb,
      h("p", { class: "card-tile-title" }, kind),
      h("p", { class: "muted" }, date),
      h("p", null, h("span", { class: `badge image-state image-${state}` }, t(`card.images.states.${state}`))),
      image.status === "failed" ? h("p", { class: "hint" }, reasonLabel(image.failure)) : "",
      image.status === "ready" ? view : "",
    );
  }

  function draw(images) {
    body.replaceChildren(images.length ? h("ul", { class: "card-gallery" }, images.map(tile)) : h("p", { class: "muted" }, t("patients.noImages")));
  }

  async function open(image, opener, retried = false) {
    ctx.noteActivity();
    const restore = busyButton(opener, t("card.images.opening"));
    try {
      const answer = await ctx.api.get(practicePath(ctx, `/images/${encodeURIComponent(image.id)}/url`), { auth: true });
      const kind = kindLabel(image);
      const date = takenLabel(image);
      const heading = h("h3", { id: "image-view-title" }, t("card.images.viewTitle", { kind, date }));
      const full = h("img", { class: "image-full", src: answer.url, alt: t("card.images.viewAlt", { kind, date }) });
      full.addEventListener("error", () => {
        if (!retried && viewer.contains(full)) open(image, opener, true); // a URL that lapsed: one fresh one
      });
      const close = h("button", { class: "btn btn-secondary", type: "button" }, t("card.images.closeView"));
      close.addEventListener("click", closeViewer);
      viewing = { image, opener };
      viewer.hidden = false;
      viewer.replaceChildren(heading, full, close);
      focusHeading(heading);
      say(status, t("card.images.shown", { kind, date }));
    } catch (err) {
      if (err.status !== 401) sayError(status, err, t);
    } finally {
      restore();
    }
  }

  function closeViewer() {
    const opener = viewing && viewing.opener;
    viewing = null;
    viewer.hidden = true;
    viewer.replaceChildren();
    if (opener && opener.isConnected) opener.focus();
    else focusHeading(document.getElementById("card-images"));
  }

  const el = section(t("patients.images"), "card-images", status, body, viewer, uploadForm());
  load();
  return el;

  function uploadForm() {
    const today = todayIn(ctx.zone);
    const file = h("input", { type: "file", accept: ACCEPT });
    const kind = h("select", null, KINDS.map((k) => h("option", { value: k }, t(`card.images.kinds.${k}`))));
    const taken = h("input", { type: "date", value: today, max: today, required: true });
    const progress = h("progress", { class: "upload-progress", max: 100, value: 0, hidden: true, aria: { label: t("card.images.progress") } });
    const submit = h("button", { class: "btn btn-primary", type: "submit" }, t("card.images.upload"));
    const form = h(
      "form",
      { class: "card-form", novalidate: true, aria: { labelledby: "upload-title" } },
      h("h3", { id: "upload-title" }, t("card.images.addTitle")),
      field("upload-file", t("card.images.file"), file, t("card.images.fileHint", { max: sizeLabel(maxBytes, ctx.lang) })),
      h("div", { class: "field-row" }, field("upload-kind", t("card.images.kind"), kind), field("upload-taken", t("card.images.taken"), taken)),
      progress,
      h("div", { class: "row-buttons" }, submit),
    );
    file.addEventListener("change", () => invalid(file, false));

    const refuse = (text) => {
      invalid(file, true);
      say(status, text, { error: true });
      file.focus();
    };

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      ctx.noteActivity();
      const chosen = file.files && file.files[0];
      if (!chosen) return refuse(t("card.images.noFile"));
      const name = chosen.name;
      const type = declaredType(chosen);
      if (!type) return refuse(t("card.images.wrongType", { name }));
      if (!chosen.size) return refuse(t("card.images.emptyFile", { name }));
      if (chosen.size > maxBytes) return refuse(t("card.images.tooBig", { name, size: sizeLabel(chosen.size, ctx.lang), max: sizeLabel(maxBytes, ctx.lang) }));
      const restore = busyButton(submit, t("card.working"));
      file.disabled = true;
      say(status, t("card.images.starting", { name }));
      try {
        const body = { patient_id: patientId, kind: kind.value, taken_on: taken.value, content_type: type, size: chosen.size };
        const started = await ctx.api.post(practicePath(ctx, "/images"), body, { auth: true });
        if (Number.isSafeInteger(started.upload.max_bytes)) maxBytes = started.upload.max_bytes;
        progress.value = 0;
        progress.hidden = false;
        try {
          await postToBucket(started.upload, chosen, (percent) => {
            progress.value = percent;
            progress.setAttribute("aria-valuetext", t("card.images.sending", { name, percent }));
          });
        } catch (failure) {
          const code = failure && failure.storage;
          say(status, code ? t("card.images.storageRefused", { name, status: code }) : t("card.images.network", { name }), { error: true });
          return;
        }
        say(status, t("card.images.checking", { name }));
        const id = encodeURIComponent(started.image.id);
        const finished = () => ctx.api.post(practicePath(ctx, `/images/${id}/uploaded`), {}, { auth: true }).then((a) => a.image);
        let image = await finished();
        for (const wait of POLL_MS) {
          if (image.status !== AWAITING || !form.isConnected) break;
          await sleep(wait);
          image = await finished();
        }
        if (!form.isConnected) return;
        await load();
        if (image.status === "ready") say(status, t("card.images.ready", { kind: kindLabel(image), date: takenLabel(image) }));
        else if (image.status === "failed") say(status, t("card.images.rejected", { name, reason: reasonLabel(image.failure) }), { error: true });
        else say(status, t("card.images.waiting", { name }));
        file.value = "";
      } catch (err) {
        if (err.status !== 401) sayError(status, err, t);
      } finally {
        progress.hidden = true;
        file.disabled = false;
        restore();
      }
    });
    return form;
  }
}
