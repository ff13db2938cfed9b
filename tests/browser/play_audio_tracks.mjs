// Plays a video with two audio languages and an embedded caption track with HLS.js in
// headless Chromium: lists the audio and subtitle tracks HLS.js found, notes the
// rendition each audio fragment loads from, switches the audio to another language a
// second in (noting HLS.js's AUDIO_TRACK_SWITCHED), and shows the caption track, noting
// its cues as they become active. Reports as one JSON line. Run by tests/suite/browser.rs.
//
// usage: node play_audio_tracks.mjs BASE_URL VIDEO_ID ACCESS_TOKEN SWITCH_TO_LANG CAPTION_LANG
import { playAndReport } from "./harness.mjs";

const [base, videoId, token, switchTo, captionLang] = process.argv.slice(2);
const DEADLINE_MS = 60_000;

await playAndReport(base, DEADLINE_MS, async (page) => {
  const video = await (await fetch(`${base}/api/v1/videos/${videoId}`, { headers: { authorization: `Bearer ${token}` } })).json();
  await page.evaluate(([masterUrl, switchTo, captionLang]) => {
    const element = document.createElement("video");
    element.muted = true;
    document.body.append(element);
    window.report = {
      audioTracks: [], subtitleTracks: [], fragments: [], switchedAt: null, cues: [], fatal: null, ended: false, lastTime: 0,
    };
    const report = window.report;
    const hls = new Hls({ startPosition: 0 });
    let requested = false;
    hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_, data) => {
      report.audioTracks = data.audioTracks.map((t) => [t.lang, t.name, t.default]);
    });
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, data) => {
      report.subtitleTracks = data.subtitleTracks.map((t) => [t.lang, t.name]);
    });
    hls.on(Hls.Events.FRAG_LOADED, (_, data) => {
      if (data.frag.type !== "audio") return;
      const folder = new URL(data.frag.url).pathname.split("/").slice(-2)[0];
      report.fragments.push(folder);
    });
    hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, (_, data) => {
      if (requested && hls.audioTracks[data.id]?.lang === switchTo && report.switchedAt === null) {
        report.switchedAt = element.currentTime;
      }
    });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) report.fatal = `${data.type}: ${data.details}`;
    });
    element.addEventListener("ended", () => { report.ended = true; });
    element.addEventListener("timeupdate", () => {
      report.lastTime = element.currentTime;
      if (!requested && element.currentTime > 1) {
        requested = true;
        hls.audioTrack = hls.audioTracks.findIndex((t) => t.lang === switchTo);
      }
      if (hls.subtitleTracks[hls.subtitleTrack]?.lang !== captionLang) {
        hls.subtitleTrack = hls.subtitleTracks.findIndex((t) => t.lang === captionLang);
      }
      for (const track of element.textTracks) {
        if (track.mode !== "showing" || !track.activeCues) continue;
        for (const cue of track.activeCues) {
          const seen = report.cues.some(([, lang, text]) => lang === track.language && text === cue.text);
          if (!seen) report.cues.push([element.currentTime, track.language, cue.text]);
        }
      }
    });
    hls.loadSource(masterUrl);
    hls.attachMedia(element);
    element.play().catch((e) => { report.fatal = `play(): ${e}`; });
  }, [video.master_url, switchTo, captionLang]);
});
