// Home: the latest, popular and following feeds; and search results.

import { h, emptyState } from "../dom.js";
import { get, query } from "../api.js";
import { grid, videoCard } from "../cards.js";

const FEEDS = {
  latest: { label: "Latest", path: "/api/v1/feed/latest" },
  popular: { label: "Popular", path: "/api/v1/feed/popular" },
  following: { label: "Following", path: "/api/v1/feed/following", signedIn: true },
};

export async function render(root, { params, session }) {
  const chosen = FEEDS[params.get("feed")] && (!FEEDS[params.get("feed")].signedIn || session.me) ? params.get("feed") : "latest";
  const tabs = h("nav", { class: "tabs", "aria-label": "Feeds" },
    Object.entries(FEEDS).filter(([, feed]) => !feed.signedIn || session.me).map(([key, feed]) =>
      h("a", { href: `#/?feed=${key}`, "aria-current": key === chosen ? "page" : false }, feed.label)));
  const list = h("div", { class: "feed" });
  root.append(h("h1", { class: "visually-hidden" }, "Videos"), tabs, list);
  await loadFeed(list, chosen, null);
}

async function loadFeed(list, key, cursor) {
  const page = await get(`${FEEDS[key].path}${query({ cursor, limit: 24 })}`);
  const videos = page.items.map((item) => (key === "popular" ? item.video : item));
  if (!cursor && videos.length === 0) {
    const text = key === "following" ? "Videos of the creators you follow appear here. Follow a creator from one of their videos." : "No videos yet.";
    list.append(emptyState(text));
    return;
  }
  list.append(grid(videos));
  if (page.next_cursor) {
    const more = h("button", { type: "button", class: "ghost more" }, "Show more");
    more.addEventListener("click", async () => { more.remove(); await loadFeed(list, key, page.next_cursor); });
    list.append(more);
  }
}

export async function renderSearch(root, { params }) {
  const q = (params.get("q") || "").trim();
  const input = document.querySelector("#search-form input[name=q]");
  if (input && input.value !== q) input.value = q;
  root.append(h("h1", {}, "Search"));
  if (!q) {
    root.append(emptyState("Type words of a title or description in the search box."));
    return;
  }
  const results = h("div", { class: "results" });
  root.append(h("p", { class: "sub" }, `Results for “${q}”`), results);
  await searchPage(results, q, 0);
}

async function searchPage(results, q, offset) {
  const page = await get(`/api/v1/search${query({ q, offset: offset || undefined, limit: 20 })}`);
  if (offset === 0 && page.items.length === 0) {
    results.append(emptyState("No public video matches. Try other words."));
    return;
  }
  results.append(h("div", { class: "grid" }, page.items.map((video) => videoCard(video))));
  if (page.next_offset) {
    const more = h("button", { type: "button", class: "ghost more" }, "Show more");
    more.addEventListener("click", async () => { more.remove(); await searchPage(results, q, page.next_offset); });
    results.append(more);
  }
}
