// Analytics in the Studio: for all of a creator's videos (#/studio/analytics) or one
// (#/studio/analytics/{id}): views and watch time per day as charts, the totals (unique
// viewers, average view duration, completion rate) and playback quality (startup time,
// rebuffering, rendition mix); the summary lists the most watched videos.

import { h, duration, count, emptyState } from "../dom.js";
import { get, query } from "../api.js";
import { barChart } from "../charts.js";

const RANGES = [7, 28, 90];

export async function render(root, { session, params, navigate }, videoId) {
  if (!session.me) { navigate("/signin"); return; }
  const days = RANGES.includes(Number(params.get("days"))) ? Number(params.get("days")) : 28;
  const path = videoId ? `/api/v1/videos/${videoId}/analytics` : "/api/v1/me/analytics";
  const [report, video] = await Promise.all([
    get(`${path}${query({ days })}`),
    videoId ? get(`/api/v1/videos/${videoId}`) : null,
  ]);
  const base = videoId ? `#/studio/analytics/${videoId}` : "#/studio/analytics";
  root.append(
    h("div", { class: "page-head" },
      h("h1", {}, video ? `Analytics: ${video.title}` : "Analytics: all your videos"),
      h("nav", { class: "row", "aria-label": "Range" },
        ...RANGES.map((n) => h("a", { href: `${base}?days=${n}`, class: n === days ? "button" : "button ghost" }, `${n} days`)),
        videoId ? h("a", { href: "#/studio/analytics", class: "button ghost" }, "All videos") : null,
        h("a", { href: "#/studio", class: "button ghost" }, "Studio"))),
    totalsCard(report.totals, report.renditions),
    chartCard("Views per day", report.days.map((d) => ({ label: d.day, value: d.views })), (v) => count(v, "view"), "views"),
    chartCard("Watch time per day", report.days.map((d) => ({ label: d.day, value: d.watch_s })), (v) => duration(v), "watch"));
  if (!videoId) root.append(topCard(report.top_videos));
}

function stat(label, value) {
  return h("div", { class: "stat" }, h("span", { class: "sub" }, label), h("strong", {}, value));
}

const percent = (ratio) => (ratio === null || ratio === undefined ? "–" : `${(100 * ratio).toFixed(1)}%`);

function totalsCard(t, renditions) {
  return h("section", { class: "card", "aria-label": "Totals" },
    h("div", { class: "stats" },
      stat("Views", String(t.views)),
      stat("Unique viewers", String(t.unique_viewers)),
      stat("Watch time", duration(t.watch_s) || "0:00"),
      stat("Average view", t.average_view_duration_s === null ? "–" : duration(t.average_view_duration_s)),
      stat("Completion rate", percent(t.completion_rate)),
      stat("Average startup", t.average_startup_ms === null ? "–" : `${Math.round(t.average_startup_ms)} ms`),
      stat("Rebuffering", percent(t.rebuffering_ratio))),
    h("p", { class: "sub renditions" }, renditions.length
      ? `Renditions watched: ${renditions.map((r) => `${r.height}p ${percent(r.share)}`).join(" · ")}`
      : "No rendition reported yet."));
}

function chartCard(title, points, format, name) {
  return h("section", { class: "card", "aria-label": title, dataset: { chart: name } }, h("h2", {}, title), barChart(points, { title, format }));
}

function topCard(videos) {
  const list = h("ol", { class: "top-videos" }, ...videos.map((v) =>
    h("li", {}, h("a", { href: `#/studio/analytics/${v.id}` }, v.title), " ", h("span", { class: "sub" }, `${count(v.views, "view")} · ${duration(v.watch_s)} watched`))));
  return h("section", { class: "card" }, h("h2", {}, "Most watched"), videos.length ? list : emptyState("Nothing watched in this range yet."));
}
