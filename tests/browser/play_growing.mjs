// Plays a video with HLS.js in headless Chromium while it is still being encoded and
// reports what happened, as one JSON line: whether playback passed 8 s while the video
// was still processing, where playback was when it became ready, how far it got after,
// and any fatal HLS.js error. Run by tests/suite/browser.rs.
//
// usage: node play_growing.mjs BASE_URL VIDEO_ID ACCESS_TOKEN
import { chromium } from "playwright-core";

const [base, videoId, token] = process.argv.slice(2);
const DEADLINE_MS = 240_000;
const PAST_READY_S = 5;

async function status() {
  const response = await fetch(`${base}/api/v1/videos/${videoId}`, { headers: { authorization: `Bearer ${token}` } });
  return (await response.json()).status;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
});
const report = { passed8WhileProcessing: false, readyAt: null, lastTime: 0, fatal: null, ended: false };
try {
  const page = await browser.newPage();
  // The dev frontend's page: same origin as the media, and its vendored HLS.js.
  await page.goto(`${base}/`);
  const video = await (await fetch(`${base}/api/v1/videos/${videoId}`, { headers: { authorization: `Bearer ${token}` } })).json();
  await page.evaluate((masterUrl) => {
    const element = document.createElement("video");
    element.id = "under-test";
    element.muted = true;
    document.body.append(element);
    window.fatal = null;
    // As the dev frontend plays: from the start, not from the live edge of a growing playlist.
    const hls = new Hls({ startPosition: 0 });
    hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) window.fatal = `${data.type}: ${data.details}`; });
    hls.loadSource(masterUrl);
    hls.attachMedia(element);
    // At three quarters of real time, so that a worker sharing two busy cores with other
    // tests still finishes the job before playback reaches the end.
    element.defaultPlaybackRate = 0.75;
    element.playbackRate = 0.75;
    element.play().catch((e) => { window.fatal = `play(): ${e}`; });
  }, video.master_url);

  const until = Date.now() + DEADLINE_MS;
  while (Date.now() < until) {
    const [time, fatal, ended] = await page.evaluate(() => {
      const element = document.getElementById("under-test");
      return [element.currentTime, window.fatal, element.ended];
    });
    const now = await status();
    report.lastTime = time;
    report.fatal = fatal;
    report.ended = ended;
    if (fatal) break;
    if (now === "processing" && time >= 8) report.passed8WhileProcessing = true;
    if (now === "ready" && report.readyAt === null) report.readyAt = time;
    if (report.readyAt !== null && (time >= report.readyAt + PAST_READY_S || ended)) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
