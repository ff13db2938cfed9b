// Watch history: what the viewer watched, most recent first, each with where to resume.

import { h, duration, emptyState, toast } from "../dom.js";
import { get, del, query } from "../api.js";
import { videoCard } from "../cards.js";

export async function render(root, { session, navigate }) {
  if (!session.me) { navigate("/signin"); return; }
  const list = h("div", { class: "grid history" });
  const clear = h("button", { type: "button", class: "ghost danger" }, "Clear history");
  clear.addEventListener("click", async () => {
    if (!confirm("Clear your whole watch history?")) return;
    await del("/api/v1/me/history");
    list.replaceChildren();
    list.after(emptyState("Your history is empty."));
    toast("History cleared.");
  });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "History"), clear), list);
  await page(root, list, null);
}

async function page(root, list, cursor) {
  const result = await get(`/api/v1/me/history${query({ cursor, limit: 24 })}`);
  if (!cursor && result.items.length === 0) {
    list.replaceWith(emptyState("Videos you watch appear here, with where you stopped."));
    return;
  }
  for (const entry of result.items) {
    const resume = entry.position_s > 1 ? entry.position_s : null;
    const card = videoCard(entry.video, {
      resumeAt: resume,
      extra: h("div", { class: "resume" }, resume ? `Resume from ${duration(resume)}` : "Watch again",
        h("button", { type: "button", class: "link", "aria-label": `Remove ${entry.video.title} from history`, onclick: async () => {
          await del(`/api/v1/me/history/${entry.video.id}`);
          card.remove();
        } }, "Remove")),
    });
    list.append(card);
  }
  if (result.next_cursor) {
    const more = h("button", { type: "button", class: "ghost more" }, "Show more");
    more.addEventListener("click", async () => { more.remove(); await page(root, list, result.next_cursor); });
    root.append(more);
  }
}
