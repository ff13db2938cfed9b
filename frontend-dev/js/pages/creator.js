// A creator's page: name, bio, followers, a follow button and their public videos.

import { h, count, emptyState } from "../dom.js";
import { get, query } from "../api.js";
import { grid, followButton } from "../cards.js";

export async function render(root, { session }, id) {
  const creator = await get(`/api/v1/creators/${id}`);
  const me = session.me;
  const followers = h("span", { class: "sub followers" }, count(creator.followers, "follower"));
  const header = h("header", { class: "creator-header" },
    h("div", { class: "avatar", "aria-hidden": "true" }, (creator.display_name[0] || "?").toUpperCase()),
    h("div", {}, h("h1", {}, creator.display_name), followers, creator.bio ? h("p", { class: "bio" }, creator.bio) : null));
  if (me && me.id !== creator.id) header.append(followButton(creator, followers));
  const videos = h("div", { class: "feed" });
  root.append(header, h("h2", {}, "Videos"), videos);
  await page(videos, id, null);
}

async function page(videos, id, cursor) {
  const result = await get(`/api/v1/creators/${id}/videos${query({ cursor, limit: 24 })}`);
  if (!cursor && result.items.length === 0) videos.append(emptyState("No public videos yet."));
  else videos.append(grid(result.items));
  if (result.next_cursor) {
    const more = h("button", { type: "button", class: "ghost more" }, "Show more");
    more.addEventListener("click", async () => { more.remove(); await page(videos, id, result.next_cursor); });
    videos.append(more);
  }
}
