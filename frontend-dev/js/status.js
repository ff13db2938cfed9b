// A video's state in words: status, percent and time left while it is prepared, and a
// failure's reason with what the uploader can do about it.

import { h, duration } from "./dom.js";

const ADVICE = [
  [/not a video|still image|no video stream|container|no picture size/i,
    "Upload a video file (MP4, MOV, MKV or WebM, for example)."],
  [/truncated|corrupt|could not convert|could not read|audio is gone/i,
    "The file looks damaged. If it plays on your computer, export or save it again and upload the new file."],
  [/seconds long|largest side|frames per second|limit/i,
    "Shorten or scale down the video in your editor, then upload it again."],
  [/missing from storage/i, "The upload did not arrive completely. Upload the file again."],
];

// The first sentence of a failure, with advice; the full text stays under "Details".
export function failure(error) {
  const text = error || "Preparing the video failed.";
  const summary = text.split(/(?<=\.)\s|:\s/)[0].replace(/^ffmpeg /i, "The converter ");
  const advice = ADVICE.find(([pattern]) => pattern.test(text))?.[1]
    || "Try uploading it again. If it fails again, an operator can look at it.";
  return h("div", { class: "failure", role: "alert" },
    h("p", {}, h("strong", {}, "It could not be prepared: "), summary.endsWith(".") ? summary : `${summary}.`),
    h("p", {}, advice),
    text !== summary ? h("details", {}, h("summary", {}, "Details"), h("pre", {}, text)) : null);
}

// Nodes describing { status, percent, eta_s, error, playable }.
export function statusLine(state) {
  const badge = h("span", { class: `status ${state.status}` }, label(state.status));
  const parts = [badge];
  if (state.status === "processing" || state.status === "queued") {
    const percent = Math.max(0, Math.min(100, Number(state.percent) || 0));
    if (state.status === "processing") {
      parts.push(" ", h("progress", { max: 100, value: percent, "aria-label": "Transcoding progress" }),
        h("span", { class: "percent" }, ` ${percent.toFixed(0)}%`));
      if (state.eta_s) parts.push(h("span", { class: "eta" }, ` · about ${duration(state.eta_s)} left`));
    } else {
      parts.push(" ", h("span", { class: "sub" }, "waiting for a worker"));
    }
    if (state.playable) parts.push(h("span", { class: "sub" }, " · already playable"));
  }
  if (state.status === "failed") parts.push(failure(state.error));
  return parts;
}

function label(status) {
  return { uploading: "uploading", queued: "queued", processing: "processing", ready: "ready", failed: "failed", deleted: "deleted" }[status] || status;
}
