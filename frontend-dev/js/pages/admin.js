// The operator's page: the queue's counts (pushed live), a filterable table of jobs, one
// job's attempts with their errors, retry and discard of dead jobs, retry of every dead
// job, and any video's status by id.

import { h, ago, duration, toast, emptyState } from "../dom.js";
import { get, post, query } from "../api.js";
import { onLive } from "../session.js";
import { statusLine } from "../status.js";

const STATES = ["queued", "running", "retrying", "dead", "done", "discarded"];
const PER_PAGE = 25;

export async function render(root, { session, navigate, params }) {
  if (!session.me) { navigate("/signin"); return; }
  if (session.me.role !== "admin") {
    root.append(h("h1", {}, "Operator"), emptyState("This page is for administrators."));
    return;
  }
  const filter = STATES.includes(params.get("state")) ? params.get("state") : "";
  const pageNumber = Math.max(1, Number(params.get("page")) || 1);
  const counts = h("div", { class: "counts", role: "group", "aria-label": "Jobs per state" });
  const table = h("div", { class: "table-wrap" });
  const detail = h("section", { class: "card job-detail", hidden: true, "aria-label": "Job" });
  const retryAll = h("button", { type: "button", class: "danger" }, "Retry all dead jobs");
  retryAll.addEventListener("click", async () => {
    if (!confirm("Queue every dead job again?")) return;
    const { retried } = await post("/api/v1/admin/jobs/retry-dead");
    toast(`${retried} job${retried === 1 ? "" : "s"} queued again.`);
    await load();
  });

  let list = null;
  async function load() {
    list = await get(`/api/v1/admin/jobs${query({ state: filter, page: pageNumber, per_page: PER_PAGE })}`);
    paintCounts(list.counts);
    table.replaceChildren(jobTable(list, filter, pageNumber, showJob));
  }

  function paintCounts(values) {
    counts.replaceChildren(
      h("a", { href: "#/admin", class: "count", "aria-current": filter === "" ? "true" : false }, h("strong", {}, "all"),
        h("span", { class: "value" }, String(STATES.reduce((sum, state) => sum + (values[state] ?? 0), 0)))),
      ...STATES.map((state) => h("a", { href: `#/admin?state=${state}`, class: `count ${state}`, "aria-current": filter === state ? "true" : false, dataset: { state } },
        h("strong", {}, state), h("span", { class: "value" }, String(values[state] ?? 0)))));
    retryAll.disabled = !(values.dead > 0);
  }

  async function showJob(id) {
    const data = await get(`/api/v1/admin/jobs/${id}`);
    detail.hidden = false;
    detail.replaceChildren(...jobDetail(data, async (action) => {
      try {
        await post(`/api/v1/admin/jobs/${id}/${action}`);
        toast(action === "retry" ? "The job is queued again." : "The job is discarded.");
        await load();
        await showJob(id);
      } catch (error) {
        toast(error.message, "error");
      }
    }, () => { detail.hidden = true; }));
    detail.scrollIntoView({ block: "nearest" });
  }

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Operator"), retryAll),
    counts, table, detail, videoLookup());
  await load();
  // Counts pushed live; the table follows when they change.
  let refresh = null;
  const stop = onLive(({ type, data }) => {
    if (type !== "queue" || !list) return;
    const changed = ["queued", "running", "retrying", "dead"].some((state) => list.counts[state] !== data[state]);
    if (!changed) return;
    Object.assign(list.counts, data);
    paintCounts(list.counts);
    clearTimeout(refresh);
    refresh = setTimeout(() => load().catch(() => {}), 500);
  });
  return () => { stop(); clearTimeout(refresh); };
}

function jobTable(list, filter, page, showJob) {
  if (list.jobs.length === 0) return emptyState(filter ? `No ${filter} jobs.` : "No jobs yet.");
  const rows = list.jobs.map((job) => h("tr", { dataset: { id: job.id, state: job.state } },
    h("td", {}, h("span", { class: `status ${job.state}` }, job.state)),
    h("td", {}, h("button", { type: "button", class: "link mono", onclick: () => showJob(job.id) }, job.id.slice(0, 8))),
    h("td", {}, h("a", { href: `#/watch/${job.video_id}`, class: "mono" }, job.video_id.slice(0, 8))),
    h("td", {}, `${job.attempts}/${job.max_attempts}`),
    h("td", { class: "last-error" }, job.errors.length ? job.errors[job.errors.length - 1].error.slice(0, 120) : ""),
    h("td", {}, ago(job.updated_at))));
  const pages = Math.max(1, Math.ceil(list.total / list.per_page));
  const link = (n, text) => h("a", { href: `#/admin${query({ state: filter, page: n })}`, class: "button ghost" }, text);
  return h("div", {},
    h("table", { class: "jobs" },
      h("thead", {}, h("tr", {}, ["State", "Job", "Video", "Attempts", "Last error", "Updated"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)),
    h("nav", { class: "pager", "aria-label": "Pages" },
      page > 1 ? link(page - 1, "Previous") : null,
      h("span", { class: "sub" }, `Page ${page} of ${pages} · ${list.total} jobs`),
      page < pages ? link(page + 1, "Next") : null));
}

// `detail` is the job's fields with its `video` summary and `chunks`.
function jobDetail(detail, act, close) {
  const { video, chunks } = detail;
  const job = detail;
  const when = (label, value) => (value ? h("div", {}, h("dt", {}, label), h("dd", {}, `${new Date(value).toLocaleString()} (${ago(value)})`)) : null);
  return [
    h("div", { class: "page-head" }, h("h2", {}, "Job ", h("span", { class: "mono" }, job.id)), h("button", { type: "button", class: "ghost", onclick: close }, "Close")),
    h("dl", { class: "facts" },
      h("div", {}, h("dt", {}, "State"), h("dd", {}, h("span", { class: `status ${job.state}` }, job.state))),
      h("div", {}, h("dt", {}, "Video"), h("dd", {}, h("a", { href: `#/watch/${job.video_id}` }, video?.title || job.video_id), video ? ` (${video.status})` : " (gone)")),
      h("div", {}, h("dt", {}, "Attempts"), h("dd", {}, `${job.attempts} of ${job.max_attempts}`)),
      job.worker ? h("div", {}, h("dt", {}, "Worker"), h("dd", { class: "mono" }, job.worker)) : null,
      job.progress_percent !== null && job.state === "running" ? h("div", {}, h("dt", {}, "Progress"), h("dd", {}, `${job.progress_percent.toFixed(0)}%${job.eta_s ? ` · ${duration(job.eta_s)} left` : ""}`)) : null,
      when("Created", job.created_at), when("Started", job.started_at), when("Next try", job.run_after), when("Finished", job.finished_at)),
    job.state === "dead"
      ? h("div", { class: "row" }, h("button", { type: "button", onclick: () => act("retry") }, "Retry"), h("button", { type: "button", class: "ghost danger", onclick: () => act("discard") }, "Discard"))
      : null,
    h("h3", {}, "Attempts"),
    job.errors.length
      ? h("ol", { class: "attempts" }, job.errors.map((e) => h("li", {},
        h("div", {}, h("strong", {}, `Attempt ${e.attempt}`), " · ", ago(e.at), e.permanent ? h("span", { class: "badge failed" }, "permanent") : h("span", { class: "badge" }, "transient")),
        h("pre", {}, e.error))))
      : h("p", { class: "sub" }, "No failed attempts."),
    chunks?.length
      ? h("details", {}, h("summary", {}, `${chunks.length} chunks`),
        h("table", { class: "jobs" }, h("tbody", {}, chunks.map((c) => h("tr", {}, h("td", {}, `${c.kind} ${c.seq}`), h("td", {}, h("span", { class: `status ${c.state}` }, c.state)),
          h("td", {}, `${c.attempts} attempts`), h("td", {}, `${duration(c.start_s)} +${duration(c.duration_s)}`))))))
      : null,
  ];
}

function videoLookup() {
  const input = h("input", { name: "video", placeholder: "Video id", pattern: "[0-9a-fA-F-]{36}", required: true, "aria-label": "Video id", class: "mono" });
  const out = h("div", { class: "lookup-result", "aria-live": "polite" });
  const form = h("form", { class: "row lookup" }, input, h("button", { type: "submit" }, "Look up"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const video = await get(`/api/v1/videos/${input.value.trim().toLowerCase()}`);
      out.replaceChildren(h("p", {}, h("a", { href: `#/watch/${video.id}` }, video.title), ` · ${video.visibility} · owner `, h("span", { class: "mono" }, video.owner_id.slice(0, 8))),
        h("div", { class: "status-line" }, ...statusLine({ ...video, percent: video.progress?.percent, eta_s: video.progress?.eta_s })));
    } catch (error) {
      out.replaceChildren(h("p", { class: "message" }, error.status === 404 ? "No video has this id." : error.message));
    }
  });
  return h("section", { class: "card" }, h("h2", {}, "Any video's status"), form, out);
}
