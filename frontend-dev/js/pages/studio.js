// The creator's studio: upload (multipart with progress; tus, resumable with pause and
// resume, for large files) and the library of their own videos, with live status,
// percent and time left, failure reasons in plain words, edit and delete.

import { h, ago, duration, count, toast, emptyState } from "../dom.js";
import { get, patch, del, query, refreshSession, accessExpiry } from "../api.js";
import { onLive } from "../session.js";
import { statusLine } from "../status.js";

// Files at least this large go through tus: resumable, and pausable.
const RESUMABLE_FROM = 64 * 1024 * 1024;
const TUS_CHUNK = 8 * 1024 * 1024;

export async function render(root, { session, params, navigate }) {
  const me = session.me;
  if (!me) { navigate("/signin"); return; }
  if (me.role === "viewer") {
    root.append(h("h1", {}, "Studio"), emptyState("Your account can watch, like and comment, but not upload. Ask an administrator for a creator account."));
    return;
  }
  const library = h("ul", { class: "library", "aria-label": "Your videos" });
  const rows = new Map();
  const upload = uploadForm(async () => { await reload(); });
  const quota = h("p", { class: "sub quota", "aria-label": "Your quotas" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Studio"), h("a", { href: "#/studio/analytics", class: "button ghost" }, "Analytics")));
  if (me.email_verification_required && !me.email_verified) {
    root.append(h("p", { class: "notice", role: "status" },
      "Verify your email address to upload: follow the link we mailed you. ",
      h("a", { href: "#/verify" }, "Send a new link")));
  }
  root.append(upload.element, quota, h("section", { class: "card" }, h("h2", {}, "Your videos"), library));
  showQuota(quota);

  // One reload at a time: an upload's end and the stream's first word of its video can
  // both ask for one; a request during a reload runs once more after it.
  let reloading = null;
  let again = false;
  async function reload() {
    if (reloading) { again = true; return reloading; }
    reloading = (async () => {
      do {
        again = false;
        rows.clear();
        library.replaceChildren();
        await loadPage(null);
        showQuota(quota);
      } while (again);
    })().finally(() => { reloading = null; });
    return reloading;
  }

  async function loadPage(cursor) {
    const page = await get(`/api/v1/me/videos${query({ cursor, limit: 50 })}`);
    if (!cursor && page.items.length === 0) {
      library.append(h("li", { class: "empty" }, "Nothing here yet: upload your first video above."));
    }
    for (const video of page.items) {
      if (rows.has(video.id)) continue;
      const row = libraryRow(video, { onDelete: () => rows.delete(video.id) });
      rows.set(video.id, row);
      library.append(row.element);
    }
    if (page.next_cursor) {
      const more = h("li", {}, h("button", { type: "button", class: "ghost more" }, "Show more"));
      more.firstChild.addEventListener("click", async () => { more.remove(); await loadPage(page.next_cursor); });
      library.append(more);
    }
  }

  await reload();
  const editing = params.get("edit");
  if (editing && rows.has(editing)) rows.get(editing).edit();

  const stop = onLive(async ({ type, data }) => {
    // The stream reconnected: what ended meanwhile was not told.
    if (type === "resync") return reload();
    if (type !== "video") return;
    const row = rows.get(data.id);
    if (row) return row.update(data);
    if (data.status === "deleted" || reloading) return;
    // A video not on the page (an upload from another tab, say): add its row alone.
    const video = await get(`/api/v1/videos/${data.id}`).catch(() => null);
    if (!video || rows.has(video.id) || video.owner_id !== me.id) return;
    const added = libraryRow(video, { onDelete: () => rows.delete(video.id) });
    rows.set(video.id, added);
    library.querySelector(".empty")?.remove();
    library.prepend(added.element);
  });
  return () => { stop(); upload.abort(); };
}

/** What the account has used of its quotas; nothing where a limit is off. */
async function showQuota(element) {
  const report = await get("/api/v1/me/quota").catch(() => null);
  if (!report) return;
  const { limits, usage } = report;
  const parts = [];
  if (limits.upload_bytes_per_day !== null) parts.push(`${size(usage.uploaded_today)} of ${size(limits.upload_bytes_per_day)} uploaded in the last 24 hours`);
  if (limits.stored_bytes !== null) parts.push(`${size(usage.stored_bytes)} of ${size(limits.stored_bytes)} stored`);
  if (limits.queued_videos !== null) parts.push(`${usage.queued_videos} of ${limits.queued_videos} videos in the queue`);
  element.textContent = parts.join(" · ");
}

function size(bytes) {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

function libraryRow(video, { onDelete }) {
  const state = { ...video, percent: video.progress?.percent ?? null, eta_s: video.progress?.eta_s ?? null };
  const thumb = h("a", { href: `#/watch/${video.id}`, class: "thumb", tabindex: "-1" });
  const title = h("a", { href: `#/watch/${video.id}`, class: "title" }, video.title);
  const visibility = h("span", { class: `badge ${video.visibility}` }, video.visibility);
  const encrypted = video.encrypted ? h("span", { class: "badge encrypted", title: "Segments encrypted with AES-128" }, "encrypted") : null;
  const details = h("div", { class: "sub" });
  const status = h("div", { class: "status-line", "aria-live": "polite" });
  const actions = h("div", { class: "row-actions" });
  const element = h("li", { class: "library-row", dataset: { id: video.id, status: video.status } },
    thumb, h("div", { class: "meta" }, h("div", {}, title, " ", visibility, encrypted), details, status), actions);

  function paint() {
    element.dataset.status = state.status;
    thumb.replaceChildren(state.poster_url ? h("img", { src: state.poster_url, alt: "" }) : h("div", { class: "placeholder" }, state.playable ? "▶" : "…"));
    details.textContent = [
      ago(state.created_at),
      state.duration_s ? duration(state.duration_s) : null,
      state.renditions?.length ? state.renditions.map((r) => r.name).join(" / ") : null,
      state.status === "ready" ? count(state.views, "view") : null,
    ].filter(Boolean).join(" · ");
    status.replaceChildren(...statusLine(state));
    actions.replaceChildren(
      state.playable ? h("a", { href: `#/watch/${video.id}`, class: "button" }, "Play") : null,
      state.playable ? h("a", { href: `#/studio/analytics/${video.id}`, class: "button ghost" }, "Analytics") : null,
      h("button", { type: "button", class: "ghost", onclick: edit }, "Edit"),
      h("button", { type: "button", class: "ghost danger", onclick: remove }, "Delete"));
  }

  async function update(live) {
    const wasReady = state.status === "ready";
    Object.assign(state, { status: live.status, playable: live.playable, error: live.error, percent: live.percent, eta_s: live.eta_s });
    if (live.status === "deleted") { element.remove(); onDelete(); return; }
    // Once ready the poster, duration and renditions exist: read them.
    if (live.status === "ready" && !wasReady) Object.assign(state, await get(`/api/v1/videos/${video.id}`).catch(() => ({})));
    paint();
  }

  function edit() {
    if (element.querySelector(".edit-form")) return;
    const form = h("form", { class: "edit-form" },
      h("label", {}, "Title", h("input", { name: "title", required: true, maxlength: 200, value: state.title })),
      h("label", {}, "Description", h("textarea", { name: "description", maxlength: 5000, rows: 3 })),
      visibilityField(state.visibility),
      h("div", { class: "row" }, h("button", { type: "submit" }, "Save"), h("button", { type: "button", class: "ghost", onclick: () => form.remove() }, "Cancel")),
      h("p", { class: "message", role: "status" }));
    form.elements.description.value = state.description || "";
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const changed = await patch(`/api/v1/videos/${video.id}`, {
          title: form.elements.title.value, description: form.elements.description.value, visibility: form.elements.visibility.value,
        });
        Object.assign(state, changed);
        title.textContent = changed.title;
        visibility.textContent = changed.visibility;
        visibility.className = `badge ${changed.visibility}`;
        form.remove();
        paint();
        toast("Saved.");
      } catch (error) {
        form.querySelector(".message").textContent = error.message;
      }
    });
    element.append(form);
    form.elements.title.focus();
  }

  async function remove() {
    if (!confirm(`Delete “${state.title}”? This cannot be undone.`)) return;
    try {
      await del(`/api/v1/videos/${video.id}`);
      element.remove();
      onDelete();
      toast("Video deleted.");
    } catch (error) {
      toast(error.message, "error");
    }
  }

  paint();
  return { element, update, edit };
}

function visibilityField(current = "public") {
  const select = h("select", { name: "visibility" },
    h("option", { value: "public" }, "Public: anyone can find and watch it"),
    h("option", { value: "unlisted" }, "Unlisted: only people with the link"),
    h("option", { value: "private" }, "Private: only you"));
  select.value = current;
  return h("label", {}, "Visibility", select);
}

function uploadForm(uploaded) {
  const file = h("input", { name: "file", type: "file", accept: "video/*", required: true });
  const progress = h("progress", { max: 100, value: 0, hidden: true, "aria-label": "Upload progress" });
  const progressText = h("span", { class: "sub" });
  const message = h("p", { class: "message", role: "status" });
  const pause = h("button", { type: "button", class: "ghost", hidden: true }, "Pause");
  const cancel = h("button", { type: "button", class: "ghost danger", hidden: true }, "Cancel");
  const submit = h("button", { type: "submit" }, "Upload");
  const form = h("form", { class: "upload-form", "aria-label": "Upload a video" },
    h("label", {}, "Video file", file),
    h("label", {}, "Title", h("input", { name: "title", required: true, maxlength: 200 })),
    h("label", {}, "Description", h("textarea", { name: "description", maxlength: 5000, rows: 2 })),
    visibilityField("public"),
    h("label", {}, "Encryption", h("select", { name: "encryption" },
      h("option", { value: "" }, "This server's default"),
      h("option", { value: "on" }, "Encrypted segments (AES-128): only those who may watch get the key"),
      h("option", { value: "off" }, "Not encrypted"))),
    h("label", { class: "check" }, h("input", { name: "resumable", type: "checkbox" }),
      "Resumable: pause, resume, survive a lost connection (always on for files over 64 MB)"),
    h("div", { class: "row" }, submit, pause, cancel),
    h("div", { class: "row" }, progress, progressText),
    message);
  let running = null;

  file.addEventListener("change", () => {
    const chosen = file.files[0];
    if (chosen && !form.elements.title.value) form.elements.title.value = chosen.name.replace(/\.[^.]+$/, "").slice(0, 200);
  });

  function say(text, ok = false) {
    message.textContent = text;
    message.classList.toggle("ok", ok);
  }

  function showProgress(sent, total, started) {
    progress.hidden = false;
    progress.value = total ? (100 * sent) / total : 0;
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? sent / elapsed : 0;
    const left = rate > 0 ? (total - sent) / rate : null;
    progressText.textContent = `${(100 * sent / total).toFixed(0)}% of ${(total / 1048576).toFixed(1)} MB${left !== null && sent < total ? ` · about ${duration(left)} left` : ""}`;
  }

  function finish(text, ok) {
    running = null;
    submit.disabled = false;
    pause.hidden = true;
    cancel.hidden = true;
    progress.hidden = true;
    progressText.textContent = "";
    say(text, ok);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (running) return;
    const chosen = file.files[0];
    if (!chosen) return say("Choose a video file first.");
    const meta = { title: form.elements.title.value.trim(), description: form.elements.description.value, visibility: form.elements.visibility.value };
    // Said only when chosen: otherwise the server's default applies.
    if (form.elements.encryption.value) meta.encryption = form.elements.encryption.value;
    submit.disabled = true;
    say("Uploading…", true);
    // A fresh session before a long transfer.
    const expiry = accessExpiry();
    if (expiry !== null && expiry - 120 < Date.now() / 1000) await refreshSession();
    const wantsResumable = form.elements.resumable.checked || chosen.size >= RESUMABLE_FROM;
    running = wantsResumable && window.tus?.isSupported ? resumable(chosen, meta) : multipart(chosen, meta);
  });

  function multipart(chosen, meta) {
    const request = new XMLHttpRequest();
    const started = Date.now();
    request.open("POST", "/api/v1/uploads");
    request.upload.onprogress = (e) => { if (e.lengthComputable) showProgress(e.loaded, e.total, started); };
    request.onload = () => {
      let body = {};
      try { body = JSON.parse(request.responseText || "{}"); } catch { /* not JSON */ }
      if (request.status === 202) {
        form.reset();
        finish("Uploaded. It is being prepared: watch its progress below.", true);
        uploaded();
      } else {
        finish(body.message || `The upload failed (${request.status}).`);
      }
    };
    request.onerror = () => finish("The upload was interrupted. Check your connection and try again.");
    request.onabort = () => finish("Upload cancelled.");
    // Title, description, visibility and encryption first, so the server has them before the file streams.
    const data = new FormData();
    data.append("title", meta.title);
    data.append("description", meta.description);
    data.append("visibility", meta.visibility);
    if (meta.encryption) data.append("encryption", meta.encryption);
    data.append("file", chosen);
    // The exact size lets the server stream the file into storage in one write.
    request.setRequestHeader("Upload-Length", String(chosen.size));
    request.send(data);
    cancel.hidden = false;
    cancel.onclick = () => request.abort();
    return { abort: () => request.abort() };
  }

  function resumable(chosen, meta) {
    const started = Date.now();
    const upload = new tus.Upload(chosen, {
      endpoint: "/api/v1/uploads/tus",
      chunkSize: TUS_CHUNK,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      metadata: meta,
      removeFingerprintOnSuccess: true,
      // Refresh the session before a request would carry an expired token.
      onBeforeRequest: async () => {
        const expiry = accessExpiry();
        if (expiry !== null && expiry - 30 < Date.now() / 1000) await refreshSession();
      },
      onProgress: (sent, total) => showProgress(sent, total, started),
      onSuccess: () => { form.reset(); finish("Uploaded. It is being prepared: watch its progress below.", true); uploaded(); },
      onError: (error) => finish(`The upload stopped: ${error.message.split("\n")[0]}. Choose the same file again to resume where it stopped.`),
    });
    // The same file chosen again resumes where it stopped, even after a reload.
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
    let paused = false;
    pause.hidden = false;
    pause.textContent = "Pause";
    pause.onclick = () => {
      paused = !paused;
      if (paused) { upload.abort(); say("Paused. Resume when you are ready.", true); } else { upload.start(); say("Uploading…", true); }
      pause.textContent = paused ? "Resume" : "Pause";
    };
    cancel.hidden = false;
    cancel.onclick = () => { upload.abort(true).catch(() => {}); finish("Upload cancelled."); };
    return { abort: () => upload.abort() };
  }

  return { element: h("section", { class: "card" }, h("h2", {}, "Upload a video"), form), abort: () => running?.abort() };
}
