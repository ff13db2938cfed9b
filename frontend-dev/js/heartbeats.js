// Playback heartbeats for the creator's analytics: a beat every ~10 s of playing, and on
// pause, end and page hide (then as a beacon, which outlives the page). Each says how
// long was played and stalled since the last one; the first also says the startup time
// (play request to first frame). Stalls run from `waiting` (or HLS.js's buffer stall) to
// playing again; the rendition is the level HLS.js switched to (else the frame's size).

import { api } from "./api.js";

const EVERY_S = 10;
// What the server takes per beat.
const MAX_CLAIM_S = 120;

export class Heartbeats {
  constructor(videoId, video) {
    this.url = `/api/v1/videos/${videoId}/heartbeats`;
    this.video = video;
    this.session = crypto.randomUUID();
    this.watched = 0;
    this.stalledMs = 0;
    this.stallStart = null;
    this.playRequested = null;
    this.startupMs = null;
    this.firstFrame = false;
    this.rendition = null;
    this.lastTime = null;
    // Beats sent and not answered yet.
    this.pending = new Set();
    this.onHide = () => { if (document.visibilityState === "hidden") this.send(true); };
    this.onPageHide = () => this.send(true);
    const on = (type, listener) => video.addEventListener(type, listener);
    on("play", () => { if (!this.firstFrame && this.playRequested === null) this.playRequested = performance.now(); });
    on("playing", () => this.playing());
    on("waiting", () => this.stalled());
    on("timeupdate", () => this.tick());
    on("seeking", () => { this.lastTime = null; });
    on("pause", () => this.send(false));
    on("ended", () => this.send(false));
    document.addEventListener("visibilitychange", this.onHide);
    window.addEventListener("pagehide", this.onPageHide);
  }

  // HLS.js's events: the rendition playing, and stalls it notices before the element does.
  attach(hls) {
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
      const level = hls.levels[data.level];
      if (level) this.rendition = Math.min(level.width, level.height) || level.height || null;
    });
    hls.on(Hls.Events.ERROR, (_, data) => { if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) this.stalled(); });
  }

  playing() {
    const now = performance.now();
    if (this.stallStart !== null) { this.stalledMs += now - this.stallStart; this.stallStart = null; }
    if (!this.firstFrame) {
      this.firstFrame = true;
      if (this.playRequested !== null) this.startupMs = Math.round(now - this.playRequested);
      this.send(false);
    }
    this.lastTime = this.video.currentTime;
  }

  stalled() {
    if (this.firstFrame && this.stallStart === null && !this.video.paused) this.stallStart = performance.now();
  }

  // Played time from the media clock (in real seconds at the playback rate), seeks left out.
  tick() {
    const at = this.video.currentTime;
    if (this.lastTime !== null && !this.video.paused && !this.video.seeking) {
      const step = (at - this.lastTime) / (this.video.playbackRate || 1);
      if (step > 0 && step < 2) this.watched += step;
    }
    this.lastTime = at;
    if (this.watched >= EVERY_S) this.send(false);
  }

  body() {
    const now = performance.now();
    let stalled = this.stalledMs;
    if (this.stallStart !== null) { stalled += now - this.stallStart; this.stallStart = now; }
    const video = this.video;
    const frame = Math.min(video.videoWidth, video.videoHeight);
    const duration = Number.isFinite(video.duration) ? video.duration : Infinity;
    const body = {
      session: this.session,
      position_s: Math.max(0, Math.min(video.currentTime || 0, duration)),
      watched_s: Math.min(MAX_CLAIM_S, Math.round(this.watched * 1000) / 1000),
      stalled_ms: Math.min(MAX_CLAIM_S * 1000, Math.round(stalled)),
    };
    if (this.startupMs !== null) body.startup_ms = Math.min(600000, this.startupMs);
    const rendition = this.rendition || frame;
    if (rendition > 0) body.rendition = rendition;
    return body;
  }

  // `leaving`: the page may be gone before an answer, so a beacon (or keepalive fetch).
  send(leaving) {
    if (!this.firstFrame) return;
    const body = this.body();
    this.watched = 0;
    this.stalledMs = 0;
    this.startupMs = null;
    if (leaving) {
      const blob = new Blob([JSON.stringify(body)], { type: "application/json" });
      if (navigator.sendBeacon?.(this.url, blob)) return;
      fetch(this.url, { method: "POST", keepalive: true, credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }).catch(() => {});
      return;
    }
    const sent = api(this.url, { method: "POST", json: body }).catch(() => {}).finally(() => this.pending.delete(sent));
    this.pending.add(sent);
  }

  // The player is leaving a page that stays (the app goes on): the last beat is a plain
  // request. Settles when every beat sent is answered.
  stop() {
    this.send(false);
    this.firstFrame = false;
    document.removeEventListener("visibilitychange", this.onHide);
    window.removeEventListener("pagehide", this.onPageHide);
    return Promise.all(this.pending);
  }
}
