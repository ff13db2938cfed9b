// Plays a captioned video with HLS.js in headless Chromium: lists the subtitle tracks
// HLS.js found, shows the first language's and notes the time its first cue becomes
// active, then switches to the second language and notes its next cue. Reports as one
// JSON line. Run by tests/suite/browser.rs.
//
// usage: node play_captions.mjs BASE_URL VIDEO_ID ACCESS_TOKEN FIRST_LANG SECOND_LANG
import { playAndReport } from "./harness.mjs";

const [base, videoId, token, firstLang, secondLang] = process.argv.slice(2);
const DEADLINE_MS = 60_000;

await playAndReport(base, DEADLINE_MS, async (page) => {
  const video = await (await fetch(`${base}/api/v1/videos/${videoId}`, { headers: { authorization: `Bearer ${token}` } })).json();
  await page.evaluate(([masterUrl, first, second]) => {
    const element = document.createElement("video");
    element.muted = true;
    document.body.append(element);
    window.report = { tracks: [], cues: [], fatal: null, ended: false, lastTime: 0 };
    const hls = new Hls({ startPosition: 0 });
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, data) => {
      window.report.tracks = data.subtitleTracks.map((t) => [t.lang, t.name]);
    });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) window.report.fatal = `${data.type}: ${data.details}`;
    });
    element.addEventListener("ended", () => { window.report.ended = true; });
    element.addEventListener("timeupdate", () => {
      window.report.lastTime = element.currentTime;
      for (const track of element.textTracks) {
        if (track.mode !== "showing" || !track.activeCues) continue;
        for (const cue of track.activeCues) {
          const seen = window.report.cues.some(([, lang, text]) => lang === track.language && text === cue.text);
          if (!seen) window.report.cues.push([element.currentTime, track.language, cue.text]);
        }
      }
      // The first language until it has shown a cue, then the second.
      const wanted = window.report.cues.length > 0 ? second : first;
      if (hls.subtitleTracks[hls.subtitleTrack]?.lang !== wanted) {
        hls.subtitleTrack = hls.subtitleTracks.findIndex((t) => t.lang === wanted);
      }
    });
    hls.loadSource(masterUrl);
    hls.attachMedia(element);
    element.play().catch((e) => { window.report.fatal = `play(): ${e}`; });
  }, [video.master_url, firstLang, secondLang]);
});
