// StreamBox dev frontend: plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
// Sessions live in httpOnly cookies set by the server: scripts never see a token.
let me = null;
let hls = null;
let pollTimer = null;

async function api(path, options = {}, retried = false) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401 && me && !retried) {
    if (await refreshSession()) return api(path, options, true);
    me = null;
    render();
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.message || `request failed (${response.status})`);
  return body;
}

// Trades the refresh cookie for a new session; false when there is none.
async function refreshSession() {
  const response = await fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" });
  return response.ok;
}

function say(id, text, ok = false) {
  $(id).textContent = text;
  $(id).classList.toggle("ok", ok);
}

function formJson(form) {
  return JSON.stringify(Object.fromEntries(new FormData(form)));
}

async function signIn(email, password) {
  await api("/api/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  await loadMe();
}

async function loadMe() {
  try { me = await api("/api/v1/me", {}, true); } catch { me = null; }
  if (!me && (await refreshSession())) me = await api("/api/v1/me", {}, true).catch(() => null);
  render();
}

async function signOut() {
  await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
  me = null;
  render();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  try { await signIn(data.get("email"), data.get("password")); say("auth-message", ""); }
  catch (e) { say("auth-message", e.message); }
});

$("register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  try {
    await api("/api/v1/auth/register", { method: "POST", headers: { "Content-Type": "application/json" }, body: formJson(event.target) });
    await signIn(data.get("email"), data.get("password"));
  } catch (e) { say("auth-message", e.message); }
});

$("logout").addEventListener("click", signOut);

$("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const request = new XMLHttpRequest();
  const progress = $("upload-progress");
  request.open("POST", "/api/v1/uploads");
  request.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = (100 * e.loaded) / e.total; };
  request.onload = () => {
    progress.hidden = true;
    const body = JSON.parse(request.responseText || "{}");
    if (request.status === 202) {
      say("upload-message", "Uploaded. Transcoding has been queued.", true);
      form.reset();
      loadLibrary();
    } else {
      say("upload-message", body.message || `upload failed (${request.status})`);
    }
  };
  request.onerror = () => { progress.hidden = true; say("upload-message", "The upload was interrupted."); };
  progress.value = 0;
  progress.hidden = false;
  say("upload-message", "Uploading…", true);
  // Title and description first, so the server has them before the file streams.
  const file = form.file.files[0];
  const data = new FormData();
  data.append("title", form.title.value);
  data.append("description", form.description.value);
  data.append("file", file);
  // The exact size lets the server stream the file into storage in one write.
  request.setRequestHeader("Upload-Length", String(file.size));
  request.send(data);
});

function libraryItem(video) {
  const item = document.createElement("li");
  const thumb = video.poster_url ? Object.assign(document.createElement("img"), { src: video.poster_url, alt: "" })
    : Object.assign(document.createElement("div"), { className: "placeholder" });
  const meta = document.createElement("div");
  meta.className = "meta";
  const title = document.createElement("strong");
  title.textContent = video.title;
  const status = Object.assign(document.createElement("span"), { className: `status ${video.status}`, textContent: video.status });
  const details = document.createElement("div");
  details.textContent = video.duration_s ? `${video.duration_s.toFixed(1)} s · ${video.renditions.map((r) => r.name).join(" / ")}` : "";
  meta.append(title, " ", status, details);
  if (video.error) meta.append(Object.assign(document.createElement("div"), { className: "error", textContent: video.error }));
  item.append(thumb, meta);
  if (video.playable) {
    const play = Object.assign(document.createElement("button"), { textContent: "Play" });
    play.addEventListener("click", () => playVideo(video));
    item.append(play);
  }
  return item;
}

async function loadLibrary() {
  clearTimeout(pollTimer);
  try {
    const { videos } = await api("/api/v1/videos");
    $("library").replaceChildren(...videos.map(libraryItem));
    if (videos.some((v) => v.status === "queued" || v.status === "processing" || v.status === "uploading")) {
      pollTimer = setTimeout(loadLibrary, 2000);
    }
  } catch (e) {
    $("library").textContent = e.message;
  }
}

async function playVideo(video) {
  // Unlisted and private videos play through a short-lived, per-video token.
  let playback;
  try { playback = await api(`/api/v1/videos/${video.id}/playback`); }
  catch (e) { alert(e.message); return; }
  $("player-card").hidden = false;
  $("player-title").textContent = video.title;
  const element = $("player");
  const quality = $("quality");
  if (hls) { hls.destroy(); hls = null; }
  quality.replaceChildren(new Option("Auto", "-1"));
  if (window.Hls && Hls.isSupported()) {
    // A video still being encoded has growing playlists: play it from its start, not
    // from the newest segment as a live stream would.
    hls = new Hls({ startPosition: 0 });
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
      const levels = data.levels.map((level, index) => ({ level, index })).reverse();
      levels.forEach(({ level, index }) => quality.append(new Option(`${Math.min(level.width, level.height)}p`, String(index))));
      element.play().catch(() => {});
    });
    hls.loadSource(playback.master_url);
    hls.attachMedia(element);
  } else if (element.canPlayType("application/vnd.apple.mpegurl")) {
    element.src = playback.master_url;
  }
  element.poster = playback.poster_url || "";
}

$("quality").addEventListener("change", (event) => {
  if (hls) hls.currentLevel = Number(event.target.value);
});

function render() {
  const signedIn = Boolean(me);
  $("auth").hidden = signedIn;
  $("upload").hidden = !signedIn || me.role === "viewer";
  $("logout").hidden = !signedIn;
  $("whoami").textContent = signedIn ? `${me.display_name} (${me.role})` : "";
  loadLibrary();
}

loadMe();
