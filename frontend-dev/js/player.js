// The video player: HLS.js (vendored) with a quality menu, a timeline that previews the
// storyboard's thumbnails under the pointer, and keyboard controls. Reports a view once
// playback starts, heartbeats for the creator's analytics while it plays, and, for
// signed-in viewers, where they are (watch history).

import { h, duration, icon } from "./dom.js";
import { api } from "./api.js";
import { Heartbeats } from "./heartbeats.js";

// Parses a storyboard WebVTT track into [{ start, end, url, x, y, w, hgt }].
export function parseStoryboard(text, base) {
  const cues = [];
  const time = (t) => t.split(":").reduce((sum, part) => sum * 60 + Number(part), 0);
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.trim().split(/\r?\n/);
    const timing = lines.findIndex((line) => line.includes("-->"));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [start, end] = lines[timing].split("-->").map((t) => time(t.trim().split(" ")[0]));
    const target = lines[timing + 1].trim();
    const [file, fragment = ""] = target.split("#xywh=");
    const [x, y, w, hgt] = fragment.split(",").map(Number);
    const url = new URL(file, base);
    // Sprites come from where the track does, never from elsewhere.
    if (url.origin !== new URL(base).origin) continue;
    cues.push({ start, end, url: url.href, x, y, w, hgt });
  }
  return cues;
}

export class Player {
  // playback: { master_url, poster_url, storyboard_url }; options: { videoId, resumeAt, signedIn }
  constructor(playback, { videoId, resumeAt = 0, signedIn = false, autoplay = true } = {}) {
    this.videoId = videoId;
    this.autoplay = autoplay;
    this.signedIn = signedIn;
    this.hls = null;
    this.cues = [];
    this.viewReported = false;
    this.lastSaved = 0;
    this.video = h("video", { playsInline: true, preload: "metadata", poster: playback.poster_url || "", "aria-label": "Video" });
    this.quality = h("select", { class: "quality", "aria-label": "Quality", onchange: () => this.setLevel(Number(this.quality.value)) },
      h("option", { value: "-1" }, "Auto"));
    this.playButton = h("button", { class: "icon", type: "button", "aria-label": "Play", onclick: () => this.toggle() }, icon("play"));
    this.muteButton = h("button", { class: "icon", type: "button", "aria-label": "Mute", onclick: () => { this.video.muted = !this.video.muted; } }, icon("volume"));
    this.clock = h("span", { class: "clock" }, "0:00 / 0:00");
    this.filled = h("div", { class: "filled" });
    this.buffered = h("div", { class: "buffered" });
    this.preview = h("div", { class: "preview", hidden: true }, h("div", { class: "thumb" }), h("span", {}, ""));
    this.timeline = h("div", {
      class: "timeline", role: "slider", tabindex: "0", "aria-label": "Seek", "aria-valuemin": "0",
      onpointermove: (e) => this.hover(e), onpointerleave: () => { this.preview.hidden = true; },
      onpointerdown: (e) => { this.seekTo(e); this.timeline.setPointerCapture(e.pointerId); this.dragging = true; },
      onpointerup: () => { this.dragging = false; },
      onkeydown: (e) => this.key(e),
    }, this.buffered, this.filled, this.preview);
    this.fullscreen = h("button", { class: "icon", type: "button", "aria-label": "Full screen", onclick: () => this.toggleFullscreen() }, icon("fullscreen"));
    this.element = h("div", { class: "player", tabindex: "-1", onkeydown: (e) => this.key(e) },
      h("div", { class: "screen", onclick: () => this.toggle() }, this.video),
      this.timeline,
      h("div", { class: "controls" }, this.playButton, this.muteButton, this.clock, h("span", { class: "spacer" }), this.quality, this.fullscreen));
    this.beats = new Heartbeats(videoId, this.video);
    this.wire(resumeAt);
    this.load(playback, resumeAt);
  }

  wire(resumeAt) {
    const video = this.video;
    video.addEventListener("play", () => { this.playButton.replaceChildren(icon("pause")); this.playButton.setAttribute("aria-label", "Pause"); this.reportView(); });
    video.addEventListener("pause", () => { this.playButton.replaceChildren(icon("play")); this.playButton.setAttribute("aria-label", "Play"); this.savePosition(true); });
    video.addEventListener("volumechange", () => {
      this.muteButton.replaceChildren(icon(video.muted ? "muted" : "volume"));
      this.muteButton.setAttribute("aria-label", video.muted ? "Unmute" : "Mute");
    });
    video.addEventListener("timeupdate", () => { this.paint(); this.savePosition(false); });
    video.addEventListener("progress", () => this.paint());
    video.addEventListener("durationchange", () => this.paint());
    video.addEventListener("loadedmetadata", () => {
      if (resumeAt > 0 && resumeAt < (video.duration || Infinity) - 2) video.currentTime = resumeAt;
    }, { once: true });
  }

  load(playback, resumeAt) {
    if (window.Hls && Hls.isSupported()) {
      // A video still being encoded has growing playlists: play it from its start (or
      // where the viewer left off), not from the newest segment as a live stream would.
      this.hls = new Hls({ startPosition: resumeAt || 0 });
      this.hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
        const levels = data.levels.map((level, index) => ({ level, index })).sort((a, b) => b.level.height - a.level.height);
        for (const { level, index } of levels) {
          this.quality.append(h("option", { value: String(index) }, `${Math.min(level.width, level.height)}p`));
        }
        if (this.autoplay) this.video.play().catch(() => {});
      });
      this.hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
        const level = this.hls.levels[data.level];
        this.quality.options[0].textContent = this.hls.autoLevelEnabled && level ? `Auto (${Math.min(level.width, level.height)}p)` : "Auto";
        this.element.dataset.level = String(data.level);
      });
      this.hls.on(Hls.Events.ERROR, (_, data) => {
        if (data.fatal) this.element.dispatchEvent(new CustomEvent("playerror", { detail: `${data.type}: ${data.details}` }));
      });
      this.beats.attach(this.hls);
      this.hls.loadSource(playback.master_url);
      this.hls.attachMedia(this.video);
    } else if (this.video.canPlayType("application/vnd.apple.mpegurl")) {
      this.video.src = playback.master_url;
      this.quality.hidden = true;
      if (this.autoplay) this.video.play().catch(() => {});
    }
    if (playback.storyboard_url) this.loadStoryboard(playback.storyboard_url);
  }

  async loadStoryboard(url) {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.ok) this.cues = parseStoryboard(await response.text(), new URL(url, location.href));
    } catch { /* previews are optional */ }
  }

  setLevel(index) {
    if (!this.hls) return;
    // Switch now, dropping the buffered segments of the old level.
    this.hls.currentLevel = index;
    this.element.dataset.requestedLevel = String(index);
  }

  toggle() {
    if (this.video.paused) this.video.play().catch(() => {});
    else this.video.pause();
  }

  toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else this.element.requestFullscreen?.().catch(() => {});
  }

  key(event) {
    const video = this.video;
    const actions = {
      " ": () => this.toggle(), k: () => this.toggle(), m: () => { video.muted = !video.muted; }, f: () => this.toggleFullscreen(),
      ArrowLeft: () => { video.currentTime = Math.max(0, video.currentTime - 5); },
      ArrowRight: () => { video.currentTime = Math.min(video.duration || 0, video.currentTime + 5); },
    };
    if (event.target.closest("select, input, textarea, button") && event.key === " ") return;
    const action = actions[event.key];
    if (action) { event.preventDefault(); event.stopPropagation(); action(); }
  }

  fraction(event) {
    const box = this.timeline.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  }

  seekTo(event) {
    if (Number.isFinite(this.video.duration)) this.video.currentTime = this.fraction(event) * this.video.duration;
  }

  hover(event) {
    if (this.dragging) this.seekTo(event);
    const total = this.video.duration;
    if (!Number.isFinite(total)) return;
    const at = this.fraction(event) * total;
    const cue = this.cues.find((c) => at >= c.start && at < c.end) || this.cues[this.cues.length - 1];
    const thumb = this.preview.firstChild;
    if (cue) {
      Object.assign(thumb.style, {
        width: `${cue.w}px`, height: `${cue.hgt}px`,
        backgroundImage: `url(${JSON.stringify(cue.url)})`, backgroundPosition: `-${cue.x}px -${cue.y}px`,
      });
      thumb.dataset.src = cue.url;
      thumb.hidden = false;
    } else {
      thumb.hidden = true;
    }
    this.preview.lastChild.textContent = duration(at);
    const box = this.timeline.getBoundingClientRect();
    const half = (cue?.w || 60) / 2;
    this.preview.style.left = `${Math.min(box.width - half, Math.max(half, event.clientX - box.left))}px`;
    this.preview.hidden = false;
  }

  paint() {
    const video = this.video;
    const total = Number.isFinite(video.duration) ? video.duration : 0;
    this.filled.style.width = total ? `${(100 * video.currentTime) / total}%` : "0";
    const end = video.buffered.length ? video.buffered.end(video.buffered.length - 1) : 0;
    this.buffered.style.width = total ? `${(100 * end) / total}%` : "0";
    this.clock.textContent = `${duration(video.currentTime)} / ${duration(total)}`;
    this.timeline.setAttribute("aria-valuemax", String(Math.round(total)));
    this.timeline.setAttribute("aria-valuenow", String(Math.round(video.currentTime)));
  }

  reportView() {
    if (this.viewReported) return;
    this.viewReported = true;
    api(`/api/v1/videos/${this.videoId}/views`, { method: "POST" }).catch(() => {});
  }

  // Where the viewer is, for "resume from": every 5 s of playback and on pause.
  savePosition(now) {
    if (!this.signedIn) return undefined;
    const position = this.video.currentTime;
    if (!now && Math.abs(position - this.lastSaved) < 5) return undefined;
    this.lastSaved = position;
    return api(`/api/v1/me/history/${this.videoId}`, { method: "PUT", json: { position_s: position } }).catch(() => {});
  }

  // Stops and removes the player; settles when its last requests (position, heartbeat) are answered.
  destroy() {
    const last = Promise.all([this.savePosition(true), this.beats.stop()]);
    this.hls?.destroy();
    this.hls = null;
    this.video.removeAttribute("src");
    this.video.load();
    this.element.remove();
    return last;
  }
}
