// Who is signed in, and the live updates pushed to them: the signed-in user's videos in
// flight and, for administrators, the queue's counts (GET /api/v1/me/updates, Server-Sent
// Events), with polling as the fallback where the stream cannot be held open.

import { api, get, post, refreshSession, hasSession, accessExpiry } from "./api.js";

export const session = { me: null };
const listeners = new Set();
const changeListeners = new Set();

// Subscribe to live events: fn({ type, data }) with type "video" | "queue" | "mode" |
// "resync" (the stream reconnected: what happened meanwhile was not told). Returns an
// unsubscribe function.
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

function changed() {
  for (const fn of changeListeners) fn(session.me);
}

export async function loadMe() {
  if (!hasSession()) {
    session.me = null;
    stopLive();
    return null;
  }
  try {
    session.me = await get("/api/v1/me");
  } catch (error) {
    // Signed out (401) is not an error; anything else the page shows.
    if (error.status !== 401) throw error;
    session.me = null;
  }
  startLive();
  return session.me;
}

export async function signIn(email, password) {
  await post("/api/v1/auth/login", { email, password });
  await loadMe();
  changed();
}

export async function register(displayName, email, password) {
  await post("/api/v1/auth/register", { display_name: displayName, email, password });
  await signIn(email, password);
}

// Signs out and forgets everything of the user in this page. Throws when the server
// could not be told (the session may then still work: the page says so).
export async function signOut() {
  let failure = null;
  try {
    await api("/api/v1/auth/logout", { method: "POST", retry: false });
  } catch (error) {
    failure = error;
  }
  // The server clears the cookies even when it fails; only a request that never
  // arrived leaves this browser signed in.
  if (failure && hasSession()) throw failure;
  forget();
  if (failure) throw failure;
}

// Everything of the previous user in this page and in this browser's storage.
function forget() {
  session.me = null;
  stopLive();
  // tus-js-client keeps each unfinished upload's URL and metadata (a title, a
  // visibility) to resume it: not for the next person at this browser.
  for (const key of Object.keys(localStorage)) if (key.startsWith("tus::")) localStorage.removeItem(key);
  changed();
}

// --- live updates -------------------------------------------------------------------

const POLL_MS = 3000;
const MAX_BACKOFF_MS = 60_000;
let source = null;
let pollTimer = null;
let retryTimer = null;
let failures = 0;
let everReady = false;
export const live = { mode: "off" };

function setMode(mode) {
  live.mode = mode;
  emit("mode", mode);
}

function stopLive() {
  source?.close();
  source = null;
  clearTimeout(pollTimer);
  clearTimeout(retryTimer);
  pollTimer = null;
  retryTimer = null;
  setMode("off");
}

// Reconnects after a growing, jittered delay; after a few failures in a row, polls.
function retryLater() {
  failures += 1;
  if (failures >= 4) return startPolling();
  const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** failures) * (0.8 + 0.4 * Math.random());
  clearTimeout(retryTimer);
  retryTimer = setTimeout(startLive, delay);
}

async function startLive() {
  stopLive();
  if (!session.me || document.hidden) return;
  const expiry = accessExpiry();
  if (expiry !== null && expiry - 10 < Date.now() / 1000) {
    const refreshed = await refreshSession();
    if (refreshed === "refused") return signedOutElsewhere();
    if (refreshed === "unavailable") return retryLater();
  }
  if (!session.me || source) return;
  const stream = new EventSource("/api/v1/me/updates");
  source = stream;
  stream.addEventListener("ready", () => {
    failures = 0;
    setMode("push");
    // A reconnection: what changed while the stream was closed was never told.
    if (everReady) emit("resync");
    everReady = true;
  });
  stream.addEventListener("video", (event) => emit("video", JSON.parse(event.data)));
  stream.addEventListener("queue", (event) => emit("queue", JSON.parse(event.data)));
  stream.addEventListener("end", async (event) => {
    const { reason } = JSON.parse(event.data);
    stream.close();
    if (source !== stream) return;
    source = null;
    if (reason === "signed_out") return signedOutElsewhere();
    if (reason === "role_changed") return loadMe().then(changed, () => retryLater());
    if (reason === "expired") {
      const refreshed = await refreshSession();
      if (refreshed === "refused") return signedOutElsewhere();
      if (refreshed === "unavailable") return retryLater();
    }
    startLive();
  });
  stream.addEventListener("error", () => {
    if (source !== stream || stream.readyState !== EventSource.CLOSED) return;
    // Refused, or a proxy that does not stream: try again later, then poll.
    source = null;
    retryLater();
  });
}

async function signedOutElsewhere() {
  // The server may still hold cookies of the ended session: have it clear them.
  await api("/api/v1/auth/logout", { method: "POST", retry: false }).catch(() => null);
  forget();
}

// A hidden tab gives its connection back (browsers allow few per server over HTTP/1.1);
// it listens again, and catches up, when shown.
document.addEventListener("visibilitychange", () => {
  if (!session.me) return;
  if (document.hidden) stopLive();
  else if (!source && live.mode !== "poll") { emit("resync"); startLive(); }
});

// The fallback: the user's videos still on their way, read every few seconds.
function startPolling() {
  source?.close();
  source = null;
  setMode("poll");
  const inFlight = (status) => ["uploading", "queued", "processing"].includes(status);
  // Read once more after they leave the flight, to tell how they ended.
  let watching = new Set();
  const me = session.me;
  const tick = async () => {
    if (session.me !== me) return;
    try {
      const page = await get("/api/v1/me/videos?limit=50");
      const ids = new Set(watching);
      for (const v of page.items) if (inFlight(v.status)) ids.add(v.id);
      watching = new Set();
      for (const video of page.items.filter((v) => ids.has(v.id))) {
        if (inFlight(video.status)) watching.add(video.id);
        emit("video", {
          id: video.id, status: video.status, playable: Boolean(video.playable), error: video.error ?? null,
          attempt: video.progress?.attempt ?? 0, percent: video.progress?.percent ?? null, eta_s: video.progress?.eta_s ?? null,
        });
      }
      if (me.role === "admin") {
        const { counts } = await get("/api/v1/admin/jobs?per_page=1");
        emit("queue", { queued: counts.queued, running: counts.running, retrying: counts.retrying, dead: counts.dead });
      }
    } catch { /* the next tick tries again */ }
    if (session.me === me) pollTimer = setTimeout(tick, POLL_MS);
  };
  tick();
}
