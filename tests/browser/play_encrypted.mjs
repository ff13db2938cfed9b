// Plays an encrypted private video to its end with HLS.js in headless Chromium through
// its playback URL (the token travels on to the key), and asks for the key without the
// token from the same page; reports as one JSON line: whether it ended, the key URIs
// HLS.js loaded, any error, where it got, and the bare key request's status and code.
// Run by tests/suite/browser.rs.
//
// usage: node play_encrypted.mjs BASE_URL VIDEO_ID ACCESS_TOKEN
import { playAndReport } from "./harness.mjs";

const [base, videoId, token] = process.argv.slice(2);
const DEADLINE_MS = 90_000;

await playAndReport(base, DEADLINE_MS, async (page) => {
  const playback = await (await fetch(`${base}/api/v1/videos/${videoId}/playback`, { headers: { authorization: `Bearer ${token}` } })).json();
  await page.evaluate(async ([masterUrl, bareKeyUrl]) => {
    window.report = { ended: false, keysLoaded: [], errors: [], fatal: null, lastTime: 0, bareKey: null };
    const bare = await fetch(bareKeyUrl);
    window.report.bareKey = [bare.status, (await bare.json()).code];
    const element = document.createElement("video");
    element.muted = true;
    document.body.append(element);
    const hls = new Hls({ startPosition: 0 });
    hls.on(Hls.Events.KEY_LOADED, (_, data) => {
      const key = data.keyInfo?.decryptdata ?? data.frag?.decryptdata;
      window.report.keysLoaded.push(key?.uri ?? "");
    });
    hls.on(Hls.Events.ERROR, (_, data) => {
      const entry = `${element.currentTime.toFixed(2)} ${data.type}: ${data.details}`;
      if (data.fatal) window.report.fatal = entry;
      else window.report.errors.push(entry);
    });
    element.addEventListener("ended", () => { window.report.ended = true; });
    element.addEventListener("timeupdate", () => { window.report.lastTime = element.currentTime; });
    hls.loadSource(masterUrl);
    hls.attachMedia(element);
    element.playbackRate = 2;
    element.play().catch((e) => { window.report.fatal = `play(): ${e}`; });
  }, [playback.master_url, `/hls/${videoId}/key`]);
});
