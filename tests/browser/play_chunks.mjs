// Plays a finished video from start to end with HLS.js in headless Chromium, switching
// level at each chunk boundary (of a chunked video; or every CHUNK_SECONDS), and reports as one JSON line: the levels it
// switched to, every stall (HLS.js's buffer-stall errors and the element's `waiting`
// after playback began), any other error, whether it ended, and where it got.
// Run by tests/suite/browser.rs.
//
// usage: node play_chunks.mjs BASE_URL VIDEO_ID ACCESS_TOKEN CHUNK_SECONDS
import { playAndReport } from "./harness.mjs";

const [base, videoId, token, chunkSeconds] = process.argv.slice(2);
const DEADLINE_MS = 120_000;

await playAndReport(base, DEADLINE_MS, async (page) => {
  const video = await (await fetch(`${base}/api/v1/videos/${videoId}`, { headers: { authorization: `Bearer ${token}` } })).json();
  await page.evaluate(([masterUrl, chunk]) => {
    const element = document.createElement("video");
    element.id = "under-test";
    element.muted = true;
    document.body.append(element);
    window.report = { switchedTo: [], stalls: [], errors: [], fatal: null, ended: false, lastTime: 0, levels: 0 };
    const hls = new Hls({ startPosition: 0, startLevel: 0 });
    window.hls = hls;
    let started = false;
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => { window.report.levels = data.levels.length; });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => window.report.switchedTo.push([element.currentTime, data.level]));
    hls.on(Hls.Events.ERROR, (_, data) => {
      const entry = `${element.currentTime.toFixed(2)} ${data.type}: ${data.details}`;
      if (data.fatal) window.report.fatal = entry;
      else if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) window.report.stalls.push(entry);
      else window.report.errors.push(entry);
    });
    element.addEventListener("playing", () => { started = true; });
    element.addEventListener("waiting", () => { if (started) window.report.stalls.push(`${element.currentTime.toFixed(2)} waiting`); });
    element.addEventListener("ended", () => { window.report.ended = true; });
    // A level switch a little before each chunk boundary, so the boundary is crossed in
    // the newly chosen level: 1, 0, 1, ...
    let boundary = 1;
    element.addEventListener("timeupdate", () => {
      if (element.currentTime >= boundary * chunk - 3 && window.report.levels > 1) {
        hls.nextLevel = boundary % 2;
        boundary += 1;
      }
      window.report.lastTime = element.currentTime;
    });
    hls.loadSource(masterUrl);
    hls.attachMedia(element);
    element.playbackRate = 2;
    element.play().catch((e) => { window.report.fatal = `play(): ${e}`; });
  }, [video.master_url, Number(chunkSeconds)]);
});
