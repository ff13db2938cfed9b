// Video cards and grids shared by the home, search, creator and history pages.

import { h, duration, count, ago } from "./dom.js";
import { put, del } from "./api.js";

export function videoCard(video, { extra = null, resumeAt = null } = {}) {
  const href = `#/watch/${video.id}${resumeAt ? `?t=${Math.floor(resumeAt)}` : ""}`;
  const thumb = video.poster_url
    ? h("img", { src: video.poster_url, alt: "", loading: "lazy" })
    : h("div", { class: "placeholder", "aria-hidden": "true" }, video.playable ? "▶" : "…");
  const progress = resumeAt && video.duration_s
    ? h("div", { class: "resume-bar", title: `Watched to ${duration(resumeAt)}` }, h("div", { style: `width:${Math.min(100, (100 * resumeAt) / video.duration_s)}%` }))
    : null;
  return h("article", { class: "card video-card", dataset: { id: video.id } },
    h("a", { href, class: "thumb" }, thumb, video.duration_s ? h("span", { class: "length" }, duration(video.duration_s)) : null, progress),
    h("div", { class: "meta" },
      h("a", { href, class: "title" }, video.title),
      h("div", { class: "sub" }, count(video.views, "view"), " · ", ago(video.created_at),
        video.visibility !== "public" ? h("span", { class: `badge ${video.visibility}` }, video.visibility) : null),
      extra));
}

export function grid(videos, options) {
  return h("div", { class: "grid" }, videos.map((video) => videoCard(video, options)));
}

// Follow / Following for a creator; `followers` (a node) shows the count as it changes.
export function followButton(creator, followers) {
  const button = h("button", { type: "button", class: "follow", "aria-pressed": String(Boolean(creator.following)) },
    creator.following ? "Following" : "Follow");
  button.addEventListener("click", async () => {
    const following = button.getAttribute("aria-pressed") === "true";
    const state = following ? await del(`/api/v1/creators/${creator.id}/follow`) : await put(`/api/v1/creators/${creator.id}/follow`);
    button.setAttribute("aria-pressed", String(state.following));
    button.textContent = state.following ? "Following" : "Follow";
    followers.textContent = count(state.followers, "follower");
  });
  return button;
}
