//! The ladder command: ONE ffmpeg decodes the source once, splits the picture and
//! encodes every rung, with keyframes on the same timestamps in all of them — and
//! writes the still images (poster, storyboard) from the same decoded frames.
//!
//! Audio is encoded once per audio rendition (`audio/`, and `audio_low/` for the low
//! rungs: `crate::audio`), each an HLS audio group its rungs play with, rather than once
//! more inside each rung's segments; a source with several audio tracks has each of
//! them in every group. The sound has an ffmpeg run of its own ([`audio_args`]) beside
//! the picture's: in one run, ffmpeg's HLS muxer would cut the picture's first segments
//! only once the sound had its own, held back by `loudnorm`'s 3 s look-ahead, and the
//! video would become playable that much later.

use std::path::{Path, PathBuf};

use streambox_base::config::SegmentFormat;
use streambox_storage::layout;

use crate::audio;
use crate::ladder::Rung;
use crate::probe::{Input, SourceInfo};
use crate::tone_map::ToneMap;
use crate::tracks::AudioTrack;

pub struct EncodeSettings<'a> {
    pub preset: &'a str,
    pub segment_seconds: u32,
    pub gop_seconds: u32,
    /// Threads of each x264 encoder. Its own default (1.5 per core, plus lookahead)
    /// suits one encoder with the machine to itself; the rungs run side by side, so
    /// each gets one per core ([`threads_per_encoder`]).
    pub encoder_threads: usize,
    /// Integrated loudness the audio is normalised to, in LUFS (`None`: as it is).
    pub loudness: Option<f64>,
    /// MPEG-TS or fragmented-MP4 segments.
    pub segment_format: SegmentFormat,
}

/// One thread per core for each encoder: every core stays busy while the rungs
/// encode together, with less frame-threading overhead than x264's default.
pub fn threads_per_encoder() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Where every run's output timeline starts: two frames after the source's zero.
///
/// A muxer shifts a run whose first timestamp would be negative to start at zero, by as
/// much as that run needs: x264 starts its decode timestamps up to two frames before
/// zero (its B-frame pyramid's delay), the AAC encoder its first packet 1024 samples
/// (21 ms) before. Runs shifted by their own amounts would not line up: the sound's run
/// would play up to 45 ms ahead of the picture's, and a chunk's picture would jump at its
/// boundary. Two frames (at least 33 ms, the rate being at most 60 fps) is as much as
/// either needs, so no run is shifted and each frame and sample keeps its source time
/// plus this, in every run: one decoding the whole picture, a chunk, the sound.
fn timeline_offset(frame_rate: f64) -> String {
    format!("{:.6}", 2.0 / frame_rate)
}
/// The true peak `loudnorm` aims under: 1 dB below the -1 dBTP allowed, as AAC
/// encoding lifts peaks a little.
const TRUE_PEAK_DBTP: f64 = -2.0;

/// JPEGs made from the decoded picture by `filter`.
///
/// Every still output must be given a frame near the start: ffmpeg reports progress
/// only once all its outputs have started, and the stall watchdog relies on those
/// reports.
pub struct StillOutput {
    pub filter: String,
    pub path: PathBuf,
    pub kind: StillKind,
}

pub enum StillKind {
    /// One file, rewritten for every frame the filter passes: it ends as the last.
    Latest,
    /// One numbered file per frame (`path` holds the pattern).
    Sequence,
}

/// The frames one chunk encodes, at the ladder's constant rate, and the number its
/// first segment gets. Its timestamps stay those of the whole video (no reset at the
/// chunk's start), so chunks play on one after another as one encode would.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameRange {
    pub first_frame: u64,
    /// `None`: to the end of the source.
    pub end_frame: Option<u64>,
    pub first_segment: u32,
}

/// The input is read from a second before the chunk: the constant-rate filter settles
/// on the frames before it, and `trim` keeps exactly the chunk's.
const SEEK_MARGIN_S: f64 = 1.0;

/// Arguments writing each rung's playlist and segments under `out/{rung}/` (names from
/// `streambox_storage::layout`) and each still: the picture alone, its sound being
/// encoded once for the whole source by [`audio_args`]. With a `range`, only that
/// chunk's picture is encoded. An HDR source is tone-mapped (`tone_map`) before anything
/// else sees its picture.
#[allow(clippy::too_many_arguments)]
pub fn ladder_args(
    input: &Input,
    out: &Path,
    source: &SourceInfo,
    rungs: &[Rung],
    stills: &[StillOutput],
    tone_map: Option<&ToneMap>,
    settings: &EncodeSettings,
    range: Option<FrameRange>,
) -> Vec<String> {
    let n = rungs.len();
    // Constant frame rate first (normalises variable-rate input), then SDR at the top
    // rung's size for an HDR source, then one split: the largest rung and each still.
    // Each smaller rung is scaled from the rung above it (rungs are largest first), so
    // the source's full-size picture is read by one scaler instead of one per rung.
    let sdr = tone_map.map(|t| format!("{},", t.filter(rungs[0].width, rungs[0].height))).unwrap_or_default();
    // After `fps`, a frame's timestamp is its number: trim keeps the chunk's frames.
    let trim = match range {
        Some(FrameRange { first_frame, end_frame: Some(end), .. }) => {
            format!("trim=start_pts={first_frame}:end_pts={end},")
        }
        Some(FrameRange { first_frame, end_frame: None, .. }) => format!("trim=start_pts={first_frame},"),
        None => String::new(),
    };
    let mut graph = format!("[0:v]fps={},{trim}{sdr}split={}[r0]", source.frame_rate, 1 + stills.len());
    graph.extend((0..stills.len()).map(|k| format!("[s{k}]")));
    for (i, rung) in rungs.iter().enumerate() {
        graph.push_str(&format!(";[r{i}]scale={}:{}:flags=bicubic,setsar=1,format=yuv420p", rung.width, rung.height));
        match i + 1 < n {
            true => graph.push_str(&format!(",split[v{i}][r{}]", i + 1)),
            false => graph.push_str(&format!("[v{i}]")),
        }
    }
    for (k, still) in stills.iter().enumerate() {
        graph.push_str(&format!(";[s{k}]{}[x{k}]", still.filter));
    }

    let mut args: Vec<String> = vec!["-y".into()];
    if let Some(range) = range {
        let seek = (range.first_frame as f64 / source.frame_rate_value - SEEK_MARGIN_S).max(0.0);
        // The whole video's timestamps, from zero as in a one-run encode.
        args.extend(["-copyts".into(), "-start_at_zero".into(), "-ss".into(), format!("{seek:.6}")]);
    }
    args.extend(input.args());
    args.extend(["-filter_complex".into(), graph]);
    for (i, rung) in rungs.iter().enumerate() {
        args.extend([
            "-map".into(),
            format!("[v{i}]"),
            format!("-c:v:{i}"),
            "libx264".into(),
            format!("-b:v:{i}"),
            format!("{}k", rung.video_kbps),
            format!("-maxrate:v:{i}"),
            format!("{}k", rung.max_kbps()),
            format!("-bufsize:v:{i}"),
            format!("{}k", rung.buffer_kbits()),
            format!("-profile:v:{i}"),
            "high".into(),
            format!("-level:v:{i}"),
            rung.level.name(),
        ]);
    }
    let gop = gop_frames(source.frame_rate_value, settings.gop_seconds);
    let stream_map: Vec<String> =
        rungs.iter().enumerate().map(|(i, rung)| format!("v:{i},name:{}", rung.name)).collect();
    let only = (stream_map.len() == 1).then_some(rungs[0].name.as_str());
    let stream_map = stream_map.join(" ");
    args.extend(["-output_ts_offset".into(), timeline_offset(source.frame_rate_value)]);
    let first_segment = range.map_or(0, |r| r.first_segment).to_string();
    args.extend(
        [
            "-preset",
            settings.preset,
            "-threads",
            &settings.encoder_threads.to_string(),
            "-g",
            &gop.to_string(),
            "-keyint_min",
            &gop.to_string(),
            "-sc_threshold",
            "0",
            "-f",
            "hls",
            "-hls_time",
            &settings.segment_seconds.to_string(),
            // EVENT: ffmpeg rewrites every playlist after each segment (a VOD one only
            // at the end), which the live publisher reads; publishing makes it VOD.
            "-hls_playlist_type",
            "event",
            "-hls_flags",
            // temp_file: a segment or playlist appears under its name only once
            // complete, so the live publisher never reads half of one.
            "independent_segments+temp_file",
            "-start_number",
            &first_segment,
        ]
        .map(String::from),
    );
    args.extend(segment_args(settings.segment_format, out, only));
    args.extend(
        ["-var_stream_map", &stream_map, &out.join("%v").join(layout::PLAYLIST).display().to_string()]
            .map(String::from),
    );
    for (k, still) in stills.iter().enumerate() {
        // Stills keep only the frames their filter passes: at a constant rate, ffmpeg
        // would repeat the last one to fill every gap (thousands of JPEGs before a poster).
        args.extend(["-map", &format!("[x{k}]"), "-q:v", "3", "-fps_mode", "passthrough"].map(String::from));
        match still.kind {
            StillKind::Latest => args.extend(["-update", "1"].map(String::from)),
            StillKind::Sequence => args.extend(["-start_number", "0"].map(String::from)),
        }
        args.push(still.path.display().to_string());
    }
    args
}

/// Frames between keyframes at `frame_rate`: the same in every rung and every chunk.
pub fn gop_frames(frame_rate: f64, gop_seconds: u32) -> u32 {
    (frame_rate * f64::from(gop_seconds)).round().max(1.0) as u32
}

/// Each audio rendition's source track mapped, encoded at its group's rate and, with a
/// `loudness` target, normalised to it in the same pass (each track on its own):
/// `loudnorm`'s one-pass (dynamic) mode, whose 3 s look-ahead is all it waits for, so
/// the first segments are not held back by a measuring pass over the whole source.
fn audio_codec_args(tracks: &[AudioTrack], outputs: &[audio::Output], loudness: Option<f64>) -> Vec<String> {
    let mut args = Vec::new();
    for (j, output) in outputs.iter().enumerate() {
        args.extend(["-map".into(), format!("0:{}", tracks[output.track].stream)]);
        if let Some(lufs) = loudness {
            // loudnorm works at 192 kHz; the renditions are 48 kHz.
            let filter = format!("loudnorm=I={lufs}:TP={TRUE_PEAK_DBTP}:LRA=11,aresample=48000");
            args.extend([format!("-filter:a:{j}"), filter]);
        }
        args.extend(
            [&format!("-c:a:{j}"), "aac", &format!("-b:a:{j}"), &format!("{}k", output.group.kbps)].map(String::from),
        );
    }
    args.extend(["-ac", "2", "-ar", "48000"].map(String::from));
    args
}

/// How the HLS muxer packages and names segments under `out/{rendition}/`. fMP4 adds
/// each rendition's initialization segment: ffmpeg fills in `%v` only when it writes
/// several renditions, so a run of `only` one is given its name in full.
fn segment_args(format: SegmentFormat, out: &Path, only: Option<&str>) -> Vec<String> {
    let mut args = Vec::new();
    if format == SegmentFormat::Fmp4 {
        let init = only.map_or_else(|| layout::INIT_SEGMENT_PATTERN.to_owned(), layout::init_segment_name);
        args.extend(["-hls_segment_type".into(), "fmp4".into(), "-hls_fmp4_init_filename".into(), init]);
    }
    let segments = out.join("%v").join(layout::segment_pattern(format));
    args.extend(["-hls_segment_filename".into(), segments.display().to_string()]);
    args
}

/// The audio renditions' entries of `-var_stream_map`: each in its group, in its folder.
fn audio_stream_map(outputs: &[audio::Output]) -> Vec<String> {
    outputs.iter().enumerate().map(|(j, a)| format!("a:{j},agroup:{},name:{}", a.group.name, a.folder)).collect()
}

/// Arguments encoding only the source's audio tracks, for the whole source, into each
/// audio rendition `rungs` play (under `out/{rendition}/`), beside the picture's run or
/// runs ([`ladder_args`]).
pub fn audio_args(
    input: &Input,
    out: &Path,
    source: &SourceInfo,
    rungs: &[Rung],
    settings: &EncodeSettings,
) -> Vec<String> {
    let tracks = &source.audio_tracks;
    let outputs = audio::outputs(rungs, tracks.len());
    let mut args: Vec<String> = vec!["-y".into()];
    args.extend(input.args());
    args.extend(audio_codec_args(tracks, &outputs, settings.loudness));
    args.extend(
        [
            "-output_ts_offset",
            &timeline_offset(source.frame_rate_value),
            "-f",
            "hls",
            "-hls_time",
            &settings.segment_seconds.to_string(),
            "-hls_playlist_type",
            "event",
            "-hls_flags",
            "independent_segments+temp_file",
        ]
        .map(String::from),
    );
    let only = (outputs.len() == 1).then_some(outputs[0].folder.as_str());
    args.extend(segment_args(settings.segment_format, out, only));
    args.extend(
        [
            "-var_stream_map",
            &audio_stream_map(&outputs).join(" "),
            &out.join("%v").join(layout::PLAYLIST).display().to_string(),
        ]
        .map(String::from),
    );
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ladder::plan;
    use streambox_storage::container::Container;

    fn track(stream: u32) -> AudioTrack {
        AudioTrack { stream, language: None, name: format!("Track {stream}"), low_name: format!("Track {stream}") }
    }

    /// A 25 fps 720p source with these audio tracks.
    fn source(audio_tracks: Vec<AudioTrack>) -> SourceInfo {
        SourceInfo {
            duration_s: 8.0,
            display_width: 1280,
            display_height: 720,
            frame_rate: "25/1".into(),
            frame_rate_value: 25.0,
            native_frame_rate: 25.0,
            audio_tracks,
            subtitle_tracks: Vec::new(),
            video_codec: "h264".into(),
            audio_codec: Some("aac".into()),
            bitrate: None,
            hdr: None,
        }
    }

    #[test]
    fn every_audio_track_is_encoded_in_every_group_and_normalised_on_its_own() {
        let source = source(vec![track(2), track(1)]);
        let rungs = plan_for_test();
        let settings = EncodeSettings {
            preset: "veryfast",
            segment_seconds: 6,
            gop_seconds: 2,
            encoder_threads: 2,
            loudness: Some(-16.0),
            segment_format: SegmentFormat::Ts,
        };
        let input = Input::new(Path::new("/w/source"), Container::Matroska);
        let args = audio_args(&input, Path::new("/w/out"), &source, &rungs, &settings);
        let maps: Vec<&str> = args.windows(2).filter(|w| w[0] == "-map").map(|w| w[1].as_str()).collect();
        assert_eq!(maps, ["0:2", "0:1", "0:2", "0:1"], "the default track first, in both groups");
        let map = &args[args.iter().position(|a| a == "-var_stream_map").unwrap() + 1];
        assert_eq!(
            map,
            "a:0,agroup:audio,name:audio a:1,agroup:audio,name:audio_2 \
             a:2,agroup:audio_low,name:audio_low a:3,agroup:audio_low,name:audio_low_2"
        );
        assert_eq!(args.iter().filter(|a| a.starts_with("loudnorm")).count(), 4, "{args:?}");
        assert!(args.windows(2).any(|w| w == ["-b:a:3", "48k"]), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["-output_ts_offset", "0.080000"]), "the picture's timeline: {args:?}");
    }

    /// A 720p and a low (80 kbit/s) rung.
    fn plan_for_test() -> Vec<Rung> {
        use crate::ladder::Level;
        let rung = |name: &str, video_kbps| Rung {
            name: name.into(),
            width: 2,
            height: 2,
            video_kbps,
            level: Level { idc: 30 },
        };
        vec![rung("720p", 2800), rung("240p", 80)]
    }

    #[test]
    fn one_decode_feeds_every_rung() {
        let source = source(vec![track(1)]);
        let rungs = plan(&source, &[(1080, 5000), (720, 2800), (480, 1400), (240, 80)]);
        let settings = EncodeSettings {
            preset: "veryfast",
            segment_seconds: 6,
            gop_seconds: 2,
            encoder_threads: 2,
            loudness: Some(-16.0),
            segment_format: SegmentFormat::Ts,
        };
        let poster = StillOutput { filter: "thumbnail".into(), path: "/w/poster.jpg".into(), kind: StillKind::Latest };
        let args = ladder_args(
            &Input::new(Path::new("/w/source"), Container::Mp4),
            Path::new("/w/out"),
            &source,
            &rungs,
            &[poster],
            None,
            &settings,
            None,
        );
        assert_eq!(args.iter().filter(|a| *a == "-i").count(), 1);
        let input = args.iter().position(|a| a == "-i").unwrap();
        assert_eq!(args[input - 4..=input + 1], ["-f", "mov", "-protocol_whitelist", "file", "-i", "file:/w/source"]);
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(graph.starts_with("[0:v]fps=25/1,split=2[r0][s0];"), "{graph}");
        assert!(graph.contains("[r0]scale=1280:720:flags=bicubic,setsar=1,format=yuv420p,split[v0][r1];"), "{graph}");
        assert!(graph.contains("[r1]scale=854:480:flags=bicubic,setsar=1,format=yuv420p,split[v1][r2];"), "{graph}");
        assert!(graph.contains("[r2]scale=426:240:flags=bicubic,setsar=1,format=yuv420p[v2];"), "{graph}");
        assert!(graph.ends_with(";[s0]thumbnail[x0]"), "{graph}");
        assert_eq!(args.last().unwrap(), "/w/poster.jpg");
        let still = &args[args.iter().position(|a| a == "[x0]").unwrap()..];
        assert!(
            still.windows(2).any(|w| w == ["-fps_mode", "passthrough"]),
            "stills are not padded to a rate: {still:?}"
        );
        let gop = &args[args.iter().position(|a| a == "-g").unwrap() + 1];
        assert_eq!(gop, "50");
        let map = &args[args.iter().position(|a| a == "-var_stream_map").unwrap() + 1];
        assert_eq!(map, "v:0,name:720p v:1,name:480p v:2,name:240p");
        assert!(!args.iter().any(|a| a == "0:1" || a.starts_with("-c:a")), "the sound has a run of its own: {args:?}");
        let offset = &args[args.iter().position(|a| a == "-output_ts_offset").unwrap() + 1];
        assert_eq!(offset, "0.080000", "two frames: no muxer shifts the run");
        assert!(args.windows(2).any(|w| w[0] == "-level:v:0" && w[1] == "3.1"), "{args:?}");
        assert!(args.windows(2).any(|w| w == ["-hls_segment_filename", "/w/out/%v/seg_%03d.ts"]), "{args:?}");
        assert!(!args.iter().any(|a| a == "-hls_segment_type"), "MPEG-TS is ffmpeg's default: {args:?}");
    }

    #[test]
    fn fmp4_segments_come_with_an_initialization_segment_per_rendition() {
        let out = Path::new("/w/out");
        let several = segment_args(SegmentFormat::Fmp4, out, None);
        assert_eq!(
            several,
            [
                "-hls_segment_type",
                "fmp4",
                "-hls_fmp4_init_filename",
                "init_%v.mp4",
                "-hls_segment_filename",
                "/w/out/%v/seg_%03d.m4s"
            ]
        );
        let one = segment_args(SegmentFormat::Fmp4, out, Some("240p"));
        assert_eq!(one[3], "init_240p.mp4", "ffmpeg fills in %v only for several renditions");
    }

    /// The earliest presentation time in an MPEG-TS segment, in seconds.
    fn first_pts(segment: &Path) -> f64 {
        let probed = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0"])
            .arg(segment)
            .output()
            .unwrap();
        let text = String::from_utf8(probed.stdout).unwrap();
        text.lines().filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok()).fold(f64::MAX, f64::min)
    }

    /// With B-frames (the default preset), x264 starts two frames before zero, and a muxer
    /// left to shift each run by what it needs would put the sound 45 ms ahead of the
    /// picture and make a chunk's picture jump at its boundary. Every run keeps one timeline.
    #[tokio::test]
    async fn the_picture_its_chunks_and_the_sound_share_one_timeline_whatever_the_encoders_delay() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("clip.mp4");
        let made = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "8"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"])
            .arg(&clip)
            .status()
            .unwrap();
        assert!(made.success());
        let input = Input::open(&clip).await.unwrap();
        let source = crate::probe::probe(&input).await.unwrap();
        let rungs = plan(&source, &[(240, 400)]);
        let settings = EncodeSettings {
            preset: "veryfast",
            segment_seconds: 2,
            gop_seconds: 2,
            encoder_threads: 2,
            loudness: None,
            segment_format: SegmentFormat::Ts,
        };
        let (whole, chunked) = (dir.path().join("whole"), dir.path().join("chunked"));
        let chunk = |first_frame, end_frame, first_segment| {
            let range = FrameRange { first_frame, end_frame, first_segment };
            ladder_args(&input, &chunked, &source, &rungs, &[], None, &settings, Some(range))
        };
        let limits = crate::ffmpeg::Limits {
            stall: std::time::Duration::from_secs(120),
            wall_clock: std::time::Duration::from_secs(600),
        };
        for args in [
            ladder_args(&input, &whole, &source, &rungs, &[], None, &settings, None),
            audio_args(&input, &whole, &source, &rungs, &settings),
            chunk(0, Some(120), 0),
            chunk(120, None, 2),
        ] {
            crate::ffmpeg::run(args, limits, |_| {}).await.unwrap();
        }

        let picture = |dir: &Path, n: u32| first_pts(&dir.join("240p").join(format!("seg_{n:03}.ts")));
        for n in 0..4 {
            let (one, chunks) = (picture(&whole, n), picture(&chunked, n));
            assert!((one - chunks).abs() < 1e-4, "segment {n}: {chunks} s in chunks, {one} s in one run");
        }
        // The first sample follows the AAC encoder's 1024 samples of priming.
        let sound = first_pts(&whole.join("audio/seg_000.ts")) + 1024.0 / 48_000.0;
        let first_frame = picture(&whole, 0);
        assert!((sound - first_frame).abs() < 1e-3, "the sound starts at {sound} s, the picture at {first_frame} s");
    }
}
