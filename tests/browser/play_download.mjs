// Plays a video's downloadable MP4 in a plain <video> element in headless Chromium,
// through a proxy that passes the server's answers on at a limited rate and counts the
// bytes it passed, and reports as one JSON line: whether the element reached
// `playing`, how many bytes the server had sent by then, the file's size, and the
// Range header of every request the browser made before it played.
// Run by tests/suite/downloads.rs.
//
// usage: node play_download.mjs BASE_URL VIDEO_ID
import http from "node:http";
import { chromium } from "playwright-core";

const [base, videoId] = process.argv.slice(2);
const DEADLINE_MS = 60_000;
/// The rate the proxy passes bytes on at, so fetching the whole file takes seconds.
const BYTES_PER_SECOND = 256 * 1024;

const report = { playing: false, sentAtPlaying: null, total: null, ranges: [], statuses: [], error: null };
let sent = 0;
const proxy = http.createServer((request, response) => {
  report.ranges.push(request.headers.range ?? null);
  const upstream = http.request(`${base}${request.url}`, { method: request.method, headers: request.headers }, (answer) => {
    report.statuses.push(answer.statusCode);
    const range = answer.headers["content-range"];
    const total = range ? Number(range.split("/")[1]) : Number(answer.headers["content-length"]);
    if (Number.isFinite(total)) report.total = total;
    response.writeHead(answer.statusCode, answer.headers);
    answer.on("data", (chunk) => {
      answer.pause();
      response.write(chunk);
      sent += chunk.length;
      setTimeout(() => answer.resume(), (chunk.length / BYTES_PER_SECOND) * 1000);
    });
    answer.on("end", () => response.end());
  });
  upstream.on("error", (e) => { report.error = `upstream: ${e}`; response.destroy(); });
  response.on("close", () => upstream.destroy());
  request.pipe(upstream);
});
await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
const proxied = `http://127.0.0.1:${proxy.address().port}/api/v1/videos/${videoId}/download`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await browser.newPage();
  await page.exposeFunction("reportPlaying", () => {
    if (!report.playing) {
      report.playing = true;
      report.sentAtPlaying = sent;
      report.rangesAtPlaying = report.ranges.slice();
    }
  });
  await page.setContent("<video muted autoplay></video>");
  await page.evaluate((src) => {
    const element = document.querySelector("video");
    element.addEventListener("playing", () => window.reportPlaying());
    element.addEventListener("error", () => { window.mediaError = `${element.error?.code} ${element.error?.message}`; });
    element.src = src;
  }, proxied);
  const until = Date.now() + DEADLINE_MS;
  while (Date.now() < until && !report.playing) {
    report.error ??= await page.evaluate(() => window.mediaError ?? null);
    if (report.error) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
} finally {
  await browser.close();
  proxy.close();
  proxy.closeAllConnections();
}
console.log(JSON.stringify(report));
