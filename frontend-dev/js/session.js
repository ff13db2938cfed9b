// Who is signed in, and the live updates pushed to them: the signed-in user's videos in
// flight and, for administrators, the queue's counts (GET /api/v1/me/updates, Server-Sent
// Events), with polling as the fallback where the stream cannot be held open.

import { api, get, post, refreshSession, hasSession, accessExpiry } from "./api.js";

export const session = { me: null };
const listeners = new Set();
const changeListeners = new Set();

// Subscribe to live events: fn({ type: "video" | "queue" | "mode", data }). Returns an unsubscribe.
export function onLive(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// Called with the new user (or null) whenever someone signs in or out.
export function onSessionChange(fn) {
  changeListeners.add(fn);
}

function emit(type, data) {
  for (const fn of [...listeners]) fn({ type, data });
}

export async function loadMe() {
  if (!hasSession()) {
    session.me = null;
    stopLive();
    return null;
  }
  try {
    session.me = await get("/api/v1/me");
  } catch {
    session.me = null;
  }
  startLive();
  return session.me;
}

export async function signIn(email, password) {
  await post("/api/v1/auth/login", { email, password });
  await loadMe();
  for (const fn of changeListeners) fn(session.me);
}

export async function register(displayName, email, password) {
  await post("/api/v1/auth/register", { display_name: displayName, email, password });
  await signIn(email, password);
}

// Signs out and forgets everything of the user in this page.
export async function signOut() {
  await api("/api/v1/auth/logout", { method: "POST", retry: false }).catch(() => null);
  session.me = null;
  stopLive();
  for (const fn of changeListeners) fn(null);
}

// --- live updates -------------------------------------------------------------------

const POLL_MS = 3000;
let source = null;
let pollTimer = null;
let failures = 0;
export const live = { mode: "off" };

function setMode(mode) {
  live.mode = mode;
  emit("mode", mode);
}

function stopLive() {
  source?.close();
  source = null;
  clearTimeout(pollTimer);
  pollTimer = null;
  failures = 0;
  setMode("off");
}

async function startLive() {
  stopLive();
  if (!session.me) return;
  const expiry = accessExpiry();
  if (expiry !== null && expiry - 10 < Date.now() / 1000 && !(await refreshSession())) return signedOutElsewhere();
  if (!session.me || source) return;
  if (!("EventSource" in window)) return startPolling();
  const stream = new EventSource("/api/v1/me/updates");
  source = stream;
  stream.addEventListener("ready", () => { failures = 0; setMode("push"); });
  stream.addEventListener("video", (event) => emit("video", JSON.parse(event.data)));
  stream.addEventListener("queue", (event) => emit("queue", JSON.parse(event.data)));
  stream.addEventListener("end", async (event) => {
    const { reason } = JSON.parse(event.data);
    stream.close();
    if (source !== stream) return;
    if (reason === "signed_out") return signedOutElsewhere();
    // The access token expired: refresh the session, then listen again.
    if (reason === "expired" && !(await refreshSession())) return signedOutElsewhere();
    startLive();
  });
  stream.addEventListener("error", async () => {
    if (source !== stream || stream.readyState !== EventSource.CLOSED) return;
    // Refused (the session expired, or a proxy that does not stream): refresh, retry,
    // and after a few failures poll instead.
    failures += 1;
    if (failures >= 3) return startPolling();
    if (await refreshSession()) startLive();
    else signedOutElsewhere();
  });
}

async function signedOutElsewhere() {
  session.me = null;
  stopLive();
  for (const fn of changeListeners) fn(null);
}

// The fallback: the user's videos still on their way, read every few seconds.
function startPolling() {
  source?.close();
  source = null;
  setMode("poll");
  const inFlight = (status) => ["uploading", "queued", "processing"].includes(status);
  // Read once more after they leave the flight, to tell how they ended.
  let watching = new Set();
  const tick = async () => {
    if (!session.me) return;
    try {
      const { videos } = await get("/api/v1/videos");
      const ids = new Set(watching);
      for (const v of videos) if (v.owner_id === session.me.id && inFlight(v.status)) ids.add(v.id);
      watching = new Set();
      for (const id of ids) {
        const detail = await get(`/api/v1/videos/${id}`).catch((e) => (e.status === 404 ? { id, status: "deleted" } : null));
        if (!detail) continue;
        if (inFlight(detail.status)) watching.add(id);
        emit("video", {
          id, status: detail.status, playable: Boolean(detail.playable), error: detail.error ?? null,
          attempt: detail.progress?.attempt ?? 0, percent: detail.progress?.percent ?? null, eta_s: detail.progress?.eta_s ?? null,
        });
      }
      if (session.me.role === "admin") {
        const { counts } = await get("/api/v1/admin/jobs?per_page=1");
        emit("queue", { queued: counts.queued, running: counts.running, retrying: counts.retrying, dead: counts.dead });
      }
    } catch { /* the next tick tries again */ }
    pollTimer = setTimeout(tick, POLL_MS);
  };
  tick();
}
