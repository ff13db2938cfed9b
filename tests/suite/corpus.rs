//! The ladder for the inputs people actually upload: each clip is generated with
//! ffmpeg, uploaded, transcoded by the real worker, and its output checked with
//! ffprobe over HTTP — rungs and sizes, aligned keyframes, clean decodes, duration,
//! honest playlists, and CODECS matching the streams.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{TestApp, probe_video};

struct Clip {
    name: &'static str,
    /// ffmpeg arguments between `-y` and the output path.
    args: Vec<String>,
    /// Expected rungs: name, width, height.
    rungs: Vec<(&'static str, u64, u64)>,
    audio: bool,
    /// Frame rate of the output.
    fps: f64,
    /// Remux with a 90° display matrix (ffmpeg 5.1 writes one only when copying streams).
    rotate: bool,
    /// The source's dynamic range as the API reports it; HDR clips show [`HDR_PICTURE`].
    dynamic_range: &'static str,
}

const SECONDS: &str = "4";

fn video(source: &str) -> Vec<String> {
    vec!["-f".into(), "lavfi".into(), "-i".into(), source.into()]
}

fn tone() -> Vec<String> {
    video("sine=frequency=440:sample_rate=48000")
}

fn clip(
    name: &'static str,
    parts: &[Vec<String>],
    encode: &str,
    rungs: Vec<(&'static str, u64, u64)>,
    audio: bool,
) -> Clip {
    let mut args: Vec<String> = parts.concat();
    args.extend(["-t".into(), SECONDS.into()]);
    args.extend(encode.split_whitespace().map(String::from));
    Clip { name, args, rungs, audio, fps: 30.0, rotate: false, dynamic_range: "sdr" }
}

/// The rungs of a 640x360 source: its own size and 240p.
fn from_360p() -> Vec<(&'static str, u64, u64)> {
    vec![("360p", 640, 360), ("240p", 426, 240)]
}

/// The rungs of a 640x480 source.
fn four_three() -> Vec<(&'static str, u64, u64)> {
    vec![("480p", 640, 480), ("360p", 480, 360), ("240p", 320, 240)]
}

/// The test picture of the HDR clips, their top rung's size.
const HDR_PICTURE: &str = "testsrc2=size=640x360:rate=30";

/// [`HDR_PICTURE`] as a 10-bit HEVC HDR video (`transfer` is `arib-std-b67` or
/// `smpte2084`), its SDR white placed at 203 nits as BT.2408 puts graphics white.
fn hdr_clip(name: &'static str, transfer: &str, encode: &str, dynamic_range: &'static str) -> Clip {
    let picture = format!(
        "{HDR_PICTURE},format=gbrp,\
         zscale=tin=bt709:pin=bt709:min=gbr:rin=full:t={transfer}:p=bt2020:m=bt2020nc:r=limited:npl=203,\
         format=yuv420p10le"
    );
    let encode = format!(
        "-c:v libx265 -preset ultrafast -x265-params log-level=error \
         -color_primaries bt2020 -color_trc {transfer} -colorspace bt2020nc {encode}"
    );
    Clip { dynamic_range, ..clip(name, &[video(&picture), tone()], &encode, from_360p(), true) }
}

fn corpus() -> Vec<Clip> {
    let src = |size: &str, rate: u32| video(&format!("testsrc2=size={size}:rate={rate}"));
    let h264 = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p";
    let sd = vec![("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360), ("240p", 426, 240)];
    let hd = [vec![("1080p", 1920, 1080)], sd.clone()].concat();
    let mut sixty = clip("sixty.mp4", &[src("1280x720", 60), tone()], &format!("{h264} -c:a aac"), sd.clone(), true);
    sixty.fps = 60.0;
    vec![
        clip("landscape.mp4", &[src("1920x1080", 30), tone()], &format!("{h264} -c:a aac"), hd, true),
        clip("four-three.mp4", &[src("640x480", 30), tone()], &format!("{h264} -c:a aac"), four_three(), true),
        clip(
            "portrait.mp4",
            &[src("1080x1920", 30), tone()],
            &format!("{h264} -c:a aac"),
            vec![
                ("1080p", 1080, 1920),
                ("720p", 720, 1280),
                ("480p", 480, 854),
                ("360p", 360, 640),
                ("240p", 240, 426),
            ],
            true,
        ),
        clip("small.mp4", &[src("320x240", 30), tone()], &format!("{h264} -c:a aac"), vec![("240p", 320, 240)], true),
        clip(
            "odd.mp4",
            &[src("853x479", 30), tone()],
            "-c:v libx264 -preset ultrafast -pix_fmt yuv444p -c:a aac",
            vec![("360p", 642, 360), ("240p", 428, 240)],
            true,
        ),
        clip("silent.mp4", &[src("1280x720", 30)], h264, sd.clone(), false),
        sixty,
        // One frame in five dropped with timestamps kept: a 24 fps average, normalised to constant 24 fps.
        Clip {
            fps: 24.0,
            ..clip(
                "variable-rate.mp4",
                &[src("1280x720", 30), tone()],
                &format!("-vf select='not(eq(mod(n\\,5)\\,3))' -vsync vfr {h264} -c:a aac"),
                sd.clone(),
                true,
            )
        },
        Clip {
            rotate: true,
            ..clip(
                "rotated.mp4",
                &[src("640x360", 30), tone()],
                &format!("{h264} -c:a aac"),
                vec![("360p", 360, 640), ("240p", 240, 426)],
                true,
            )
        },
        clip(
            "ten-bit.mp4",
            &[src("1280x720", 30), tone()],
            "-c:v libx264 -preset ultrafast -pix_fmt yuv420p10le -c:a aac",
            sd.clone(),
            true,
        ),
        clip(
            "anamorphic.mp4",
            &[src("720x576", 30), tone()],
            &format!("-vf setsar=64/45 {h264} -c:a aac"),
            vec![("480p", 854, 480), ("360p", 640, 360), ("240p", 426, 240)],
            true,
        ),
        clip(
            "hevc.mp4",
            &[src("1280x720", 30), tone()],
            "-c:v libx265 -preset ultrafast -tag:v hvc1 -c:a aac",
            sd,
            true,
        ),
        clip(
            "vp9.webm",
            &[src("640x360", 30), tone()],
            "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 500k -c:a libopus",
            from_360p(),
            true,
        ),
        clip("mpeg4.avi", &[src("640x480", 30), tone()], "-c:v mpeg4 -q:v 5 -c:a pcm_s16le", four_three(), true),
        clip(
            "mjpeg.mov",
            &[src("640x360", 30), tone()],
            "-c:v mjpeg -q:v 5 -pix_fmt yuvj422p -c:a pcm_s16le",
            from_360p(),
            true,
        ),
        // HDR as phones record it (HLG in a QuickTime file) and as HDR10 masters come.
        hdr_clip("hlg.mov", "arib-std-b67", "-tag:v hvc1 -c:a aac", "hlg"),
        hdr_clip("hdr10.mkv", "smpte2084", "-c:a libopus", "pq"),
        clip(
            "surround.mp4",
            &[
                src("640x360", 30),
                video(
                    "aevalsrc=sin(440*2*PI*t)|sin(550*2*PI*t)|sin(660*2*PI*t)|0.1*sin(50*2*PI*t)|sin(330*2*PI*t)|sin(220*2*PI*t):channel_layout=5.1:sample_rate=48000",
                ),
            ],
            &format!("{h264} -c:a aac"),
            from_360p(),
            true,
        ),
    ]
}

fn run(args: &[&str]) -> String {
    let output = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Keyframe timestamps (ms) of the first video stream of `url`.
fn keyframes(url: &str) -> Vec<i64> {
    run(&[
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-skip_frame",
        "nokey",
        "-show_entries",
        "frame=pts_time",
        "-of",
        "csv=p=0",
        url,
    ])
    .lines()
    .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
    .map(|t| (t * 1000.0).round() as i64)
    .collect()
}

fn source_video_duration(path: &str) -> f64 {
    let probed: Value = serde_json::from_str(&run(&[
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=duration:format=duration",
        "-of",
        "json",
        path,
    ]))
    .unwrap();
    let stream = probed["streams"][0]["duration"].as_str().and_then(|d| d.parse().ok());
    stream.unwrap_or_else(|| probed["format"]["duration"].as_str().unwrap().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_input_gets_a_correct_ladder() {
    // The production preset, so the profile and levels are those viewers get.
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_SEGMENT_SECONDS", "2"),
        ("STREAMBOX_TRANSCODE_CONCURRENCY", "2"),
        ("STREAMBOX_X264_PRESET", "veryfast"),
    ])
    .await;
    let token = app.signed_in_user().await;

    let mut uploaded = Vec::new();
    for clip in corpus() {
        let path = app.dir.path().join(clip.name);
        let mut args = vec!["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"];
        args.extend(clip.args.iter().map(String::as_str));
        let path_str = path.display().to_string();
        args.push(&path_str);
        run(&args);
        if clip.rotate {
            let unrotated = format!("{path_str}.plain.mp4");
            std::fs::rename(&path, &unrotated).unwrap();
            run(&[
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-i",
                &unrotated,
                "-c",
                "copy",
                "-metadata:s:v:0",
                "rotate=90",
                &path_str,
            ]);
        }
        let response = app.upload(Some(&token), &path, clip.name).await;
        assert_eq!(response.status(), 202, "{}", clip.name);
        let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        uploaded.push((clip, path_str, id));
    }

    let mut failures = Vec::new();
    for (clip, path, id) in &uploaded {
        if let Err(problem) = check(&app, &token, clip, path, id).await {
            failures.push(format!("{}: {problem}", clip.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs went wrong:\n{}",
        failures.len(),
        uploaded.len(),
        failures.join("\n")
    );
}

async fn check(app: &TestApp, token: &str, clip: &Clip, path: &str, id: &str) -> Result<(), String> {
    let video = app.wait_for_status(token, id, &["ready", "failed"], Duration::from_secs(300)).await;
    if video["status"] != "ready" {
        return Err(format!("not ready: {}", video["error"]));
    }
    let master_url = app.url(video["master_url"].as_str().unwrap());
    let body = app.http.get(&master_url).send().await.unwrap().bytes().await.unwrap();
    let master = m3u8_rs::parse_master_playlist_res(&body).map_err(|e| format!("master: {e}"))?;
    let got: Vec<(String, u64, u64)> = master
        .variants
        .iter()
        .filter(|v| !v.is_i_frame)
        .map(|v| {
            (v.uri.split('/').next().unwrap().to_owned(), v.resolution.unwrap().width, v.resolution.unwrap().height)
        })
        .collect();
    let want: Vec<(String, u64, u64)> = clip.rungs.iter().map(|(n, w, h)| (n.to_string(), *w, *h)).collect();
    if got != want {
        return Err(format!("rungs {got:?}, expected {want:?}"));
    }
    if !master.independent_segments {
        return Err("master lacks EXT-X-INDEPENDENT-SEGMENTS".into());
    }

    let source_duration = source_video_duration(path);
    let base = master_url.rsplit_once('/').unwrap().0.to_owned();
    let (mut keyframe_sets, mut rung_durations) = (HashMap::new(), HashMap::new());
    for variant in master.variants.iter().filter(|v| !v.is_i_frame) {
        let url = format!("{base}/{}", variant.uri);
        let name = variant.uri.split('/').next().unwrap();

        // The variant playlist is honest: VOD, independent segments, none longer than the target.
        let playlist = app.http.get(&url).send().await.unwrap().bytes().await.unwrap();
        let media = m3u8_rs::parse_media_playlist_res(&playlist).map_err(|e| format!("{name} playlist: {e}"))?;
        if media.playlist_type != Some(m3u8_rs::MediaPlaylistType::Vod) || !media.end_list {
            return Err(format!("{name}: not a finished VOD playlist"));
        }
        if let Some(long) = media.segments.iter().find(|s| f64::from(s.duration) > media.target_duration as f64 + 0.001)
        {
            return Err(format!(
                "{name}: segment {} lasts {} > target {}",
                long.uri, long.duration, media.target_duration
            ));
        }

        let probed = probe_video(&url);
        let stream = &probed["streams"][0];
        let codecs = variant.codecs.clone().unwrap_or_default();
        let level = stream["level"].as_i64().unwrap_or_default();
        // CODECS names the profile ffprobe sees (High, or Constrained Baseline at ultrafast) and its level.
        let profile_idc = match stream["profile"].as_str() {
            Some("High") => "64",
            Some("Main") => "4d",
            Some("Constrained Baseline" | "Baseline") => "42",
            other => return Err(format!("{name}: unexpected profile {other:?}")),
        };
        let video_codec = codecs.split(',').next().unwrap_or_default();
        let matches = video_codec.len() == 11
            && video_codec.starts_with(&format!("avc1.{profile_idc}"))
            && video_codec.ends_with(&format!("{level:02x}"));
        if stream["codec_name"] != "h264" || !matches {
            return Err(format!(
                "{name}: stream {} {} level {level}, CODECS {codecs}",
                stream["codec_name"], stream["profile"]
            ));
        }
        let frames: f64 = stream["nb_read_packets"].as_str().unwrap().parse().unwrap();
        if (frames / clip.fps - source_duration).abs() > 1.0 / clip.fps + 1e-6 {
            return Err(format!("{name}: {frames} frames at {} fps vs {source_duration} s of source", clip.fps));
        }

        // Sound is in the shared audio rendition, not in each rung's segments.
        if !audio_streams(&url).is_empty() || codecs.ends_with(",mp4a.40.2") != clip.audio {
            return Err(format!("{name}: audio {:?} with CODECS {codecs}", audio_streams(&url)));
        }

        let decoded = Command::new("ffmpeg").args(["-v", "error", "-i", &url, "-f", "null", "-"]).output().unwrap();
        if !decoded.status.success() || !decoded.stderr.is_empty() {
            return Err(format!("{name} does not decode cleanly: {}", String::from_utf8_lossy(&decoded.stderr)));
        }
        check_sdr(clip, name, stream, &url)?;
        keyframe_sets.insert(name.to_owned(), keyframes(&url));
        rung_durations.insert(name.to_owned(), frames / clip.fps);
    }
    check_audio_rendition(app, clip, &master, &base, source_duration).await?;

    let mut sets = keyframe_sets.values();
    let first = sets.next().unwrap();
    if first.len() < 2 || sets.any(|s| s != first) {
        return Err(format!("keyframes not aligned across rungs: {keyframe_sets:?}"));
    }
    // Equal across rungs is not enough (scene-cut keyframes can be equal too): each
    // rung has a keyframe at start + k × GOP for every k, and nowhere else.
    for (name, keyframes) in &keyframe_sets {
        on_the_gop_grid(keyframes, rung_durations[name]).map_err(|e| format!("{name}: {e}"))?;
    }
    check_bandwidths(app, clip, &master, &base).await?;

    let poster =
        app.http.get(app.url(video["poster_url"].as_str().unwrap())).send().await.unwrap().bytes().await.unwrap();
    if poster.get(..3) != Some(&[0xFF, 0xD8, 0xFF][..]) {
        return Err("the poster is not a JPEG".into());
    }
    let track = app.http.get(app.url(video["storyboard_url"].as_str().ok_or("no storyboard")?)).send().await.unwrap();
    let track = track.text().await.unwrap();
    if !track.starts_with("WEBVTT") || !track.contains("storyboard.jpg#xywh=") {
        return Err(format!("storyboard track: {track}"));
    }
    let source = &video["source"];
    if source["has_audio"] != clip.audio
        || source["size_bytes"].as_u64().unwrap_or(0) == 0
        || source["dynamic_range"] != clip.dynamic_range
    {
        return Err(format!("source metadata: {source}"));
    }
    Ok(())
}

/// The keyframe interval every rung is encoded with (`STREAMBOX_GOP_SECONDS`' default).
const GOP_MS: i64 = 2000;

/// `keyframes` (ms) are exactly `start + k × GOP` for k = 0, 1, … over `duration_s`.
fn on_the_gop_grid(keyframes: &[i64], duration_s: f64) -> Result<(), String> {
    let start = *keyframes.first().ok_or("no keyframes")?;
    let expected: Vec<i64> =
        (0..).map(|k| start + k * GOP_MS).take_while(|t| ((t - start) as f64) < duration_s * 1000.0 - 1.0).collect();
    // Timestamps are rounded to milliseconds: allow that rounding, nothing more.
    let off =
        keyframes.len() != expected.len() || keyframes.iter().zip(&expected).any(|(got, want)| (got - want).abs() > 1);
    if off {
        let relative: Vec<i64> = keyframes.iter().map(|t| t - start).collect();
        return Err(format!(
            "keyframes at {relative:?} ms from the first, expected every {GOP_MS} ms over {duration_s:.3} s"
        ));
    }
    Ok(())
}

/// `(peak, mean)` bit rates over the segments of the media playlist at `url`, from the
/// sizes the streamer serves and the durations the playlist gives: the peak is RFC
/// 8216's, the highest rate of any run of segments lasting 0.5 to 1.5 target durations.
async fn measured_rates(app: &TestApp, url: &str) -> Result<(f64, f64), String> {
    let playlist = app.http.get(url).send().await.unwrap().bytes().await.unwrap();
    let media = m3u8_rs::parse_media_playlist_res(&playlist).map_err(|e| format!("{url}: {e}"))?;
    let base = url.rsplit_once('/').unwrap().0;
    let mut segments = Vec::new();
    for segment in &media.segments {
        let body = app.http.get(format!("{base}/{}", segment.uri)).send().await.unwrap().bytes().await.unwrap();
        segments.push((body.len() as f64 * 8.0, f64::from(segment.duration)));
    }
    if media.segments.is_empty() {
        return Err(format!("{url}: no segments"));
    }
    Ok(peak_and_mean(&segments, media.target_duration as f64))
}

/// RFC 8216's peak segment bit rate and the mean over `(bits, seconds)` segments; a
/// rendition shorter than half a target duration has its mean as peak.
pub(crate) fn peak_and_mean(segments: &[(f64, f64)], target: f64) -> (f64, f64) {
    let mut peak = 0.0_f64;
    for first in 0..segments.len() {
        let (mut bits, mut seconds) = (0.0, 0.0);
        for &(segment_bits, duration) in &segments[first..] {
            (bits, seconds) = (bits + segment_bits, seconds + duration);
            if seconds > 1.5 * target {
                break;
            }
            if seconds >= 0.5 * target {
                peak = peak.max(bits / seconds);
            }
        }
    }
    let mean = segments.iter().map(|s| s.0).sum::<f64>() / segments.iter().map(|s| s.1).sum::<f64>();
    (if peak == 0.0 { mean } else { peak }, mean)
}

/// BANDWIDTH and AVERAGE-BANDWIDTH are what a player fetches for the variant — its
/// segments plus, with sound, the audio rendition it names (peak + peak, mean + mean) —
/// and FRAME-RATE is the output's.
async fn check_bandwidths(
    app: &TestApp,
    clip: &Clip,
    master: &m3u8_rs::MasterPlaylist,
    base: &str,
) -> Result<(), String> {
    let close = |stated: u64, measured: f64| (stated as f64 - measured).abs() <= measured * 0.001 + 2.0;
    for variant in master.variants.iter().filter(|v| !v.is_i_frame) {
        let audio = master.alternatives.iter().find(|a| Some(&a.group_id) == variant.audio.as_ref());
        let (audio_peak, audio_mean) = match audio.and_then(|a| a.uri.as_deref()) {
            Some(uri) => measured_rates(app, &format!("{base}/{uri}")).await?,
            None => (0.0, 0.0),
        };
        let (peak, mean) = measured_rates(app, &format!("{base}/{}", variant.uri)).await?;
        let (want_peak, want_mean) = (peak + audio_peak, mean + audio_mean);
        let average = variant.average_bandwidth.ok_or_else(|| format!("{}: no AVERAGE-BANDWIDTH", variant.uri))?;
        if !close(variant.bandwidth, want_peak) || !close(average, want_mean) {
            return Err(format!(
                "{}: BANDWIDTH {} / AVERAGE-BANDWIDTH {average}, measured {want_peak:.0} / {want_mean:.0} \
                 (audio {audio_peak:.0} / {audio_mean:.0})",
                variant.uri, variant.bandwidth
            ));
        }
        let frame_rate = variant.frame_rate.ok_or_else(|| format!("{}: no FRAME-RATE", variant.uri))?;
        if (frame_rate - clip.fps).abs() > 0.001 {
            return Err(format!("{}: FRAME-RATE {frame_rate}, the output runs at {}", variant.uri, clip.fps));
        }
    }
    Ok(())
}

/// Every rung is SDR, whatever the source: no HDR transfer or BT.2020 primaries in the
/// rung's probed `stream`. An HDR clip's rung says BT.709 and shows its test picture:
/// tone-mapped, not merely relabelled or truncated to 8 bits (both of which score
/// under 11 dB here).
fn check_sdr(clip: &Clip, name: &str, stream: &Value, url: &str) -> Result<(), String> {
    let (transfer, primaries) = (stream["color_transfer"].as_str(), stream["color_primaries"].as_str());
    let hdr_tags = matches!(transfer, Some("smpte2084" | "arib-std-b67")) || primaries == Some("bt2020");
    let sdr_tags = transfer == Some("bt709") && primaries == Some("bt709");
    if hdr_tags || (clip.dynamic_range != "sdr" && !sdr_tags) {
        return Err(format!("{name}: transfer {transfer:?}, primaries {primaries:?}"));
    }
    if clip.dynamic_range != "sdr" {
        let psnr = psnr_against_test_picture(url)?;
        if psnr < 15.0 {
            return Err(format!("{name}: {psnr:.1} dB from the test picture"));
        }
    }
    Ok(())
}

/// PSNR in RGB of the video at `url` (scaled to its size) against [`HDR_PICTURE`], frame by frame.
fn psnr_against_test_picture(url: &str) -> Result<f64, String> {
    let graph = format!(
        "[0:v]scale=640:360:in_color_matrix=bt709:in_range=tv,format=gbrp[got];{HDR_PICTURE},format=gbrp[want];\
         [got][want]psnr=shortest=1"
    );
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-i", url, "-filter_complex", &graph, "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    log.lines()
        .filter_map(|l| l.split(" average:").nth(1))
        .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no PSNR from ffmpeg: {log}"))
}

/// With sound: the shared audio rendition, and the low-rate one for a 240p rung (stereo
/// AAC, as long as the source, cleanly decoding), each the default of its own group, and
/// every variant names one (the 240p rung the low-rate one); without: none, and no
/// variant names one.
async fn check_audio_rendition(
    app: &TestApp,
    clip: &Clip,
    master: &m3u8_rs::MasterPlaylist,
    base: &str,
    source_duration: f64,
) -> Result<(), String> {
    let groups: Vec<(&str, Option<&str>)> = master
        .variants
        .iter()
        .filter(|v| !v.is_i_frame)
        .map(|v| (v.uri.split('/').next().unwrap(), v.audio.as_deref()))
        .collect();
    if !clip.audio {
        return match master.alternatives.is_empty() && groups.iter().all(|(_, g)| g.is_none()) {
            true => Ok(()),
            false => Err(format!("a silent video with audio {:?}, variants in groups {groups:?}", master.alternatives)),
        };
    }
    let wanted = |rung: &str| if rung == "240p" { "audio_low" } else { "audio" };
    let named: Vec<&str> = master.alternatives.iter().map(|a| a.group_id.as_str()).collect();
    let mut needed: Vec<&str> = groups.iter().map(|(rung, _)| wanted(rung)).collect();
    needed.dedup();
    if groups.iter().any(|(rung, group)| *group != Some(wanted(rung))) || named != needed {
        return Err(format!("audio groups {named:?}, variants in groups {groups:?}"));
    }
    for rendition in &master.alternatives {
        if rendition.media_type != m3u8_rs::AlternativeMediaType::Audio || !rendition.default {
            return Err(format!("audio rendition {rendition:?}"));
        }
        check_audio_playlist(app, rendition, base, source_duration).await?;
    }
    Ok(())
}

/// One audio rendition is a finished VOD playlist, as long as the source, of stereo AAC
/// that decodes cleanly.
async fn check_audio_playlist(
    app: &TestApp,
    rendition: &m3u8_rs::AlternativeMedia,
    base: &str,
    source_duration: f64,
) -> Result<(), String> {
    let url = format!("{base}/{}", rendition.uri.as_deref().ok_or("the audio rendition has no URI")?);
    let playlist = app.http.get(&url).send().await.unwrap().bytes().await.unwrap();
    let media = m3u8_rs::parse_media_playlist_res(&playlist).map_err(|e| format!("audio playlist: {e}"))?;
    // AAC frames (21.3 ms) cannot end exactly on the segment boundary: a segment may
    // overrun it by part of a frame, which RFC 8216 allows (EXTINF rounded <= target).
    if media.playlist_type != Some(m3u8_rs::MediaPlaylistType::Vod)
        || !media.end_list
        || media.segments.iter().any(|s| f64::from(s.duration).round() as u64 > media.target_duration)
    {
        return Err(format!("audio playlist not a finished VOD within its target: {media:?}"));
    }
    let length: f64 = media.segments.iter().map(|s| f64::from(s.duration)).sum();
    if (length - source_duration).abs() > 0.1 {
        return Err(format!("audio lasts {length} s, the source {source_duration} s"));
    }
    match audio_streams(&url).as_slice() {
        [a] if a["codec_name"] == "aac" && a["channels"] == 2 => {}
        streams => return Err(format!("audio rendition streams {streams:?}")),
    }
    let decoded = Command::new("ffmpeg").args(["-v", "error", "-i", &url, "-f", "null", "-"]).output().unwrap();
    if !decoded.status.success() || !decoded.stderr.is_empty() {
        return Err(format!("the audio does not decode cleanly: {}", String::from_utf8_lossy(&decoded.stderr)));
    }
    Ok(())
}

fn audio_streams(url: &str) -> Vec<Value> {
    let probed: Value = serde_json::from_str(&run(&[
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        "a",
        "-show_entries",
        "stream=codec_name,channels",
        "-of",
        "json",
        url,
    ]))
    .unwrap();
    probed["streams"].as_array().cloned().unwrap_or_default()
}

/// A clip cut like an edited video: five shots of moving, noisy pictures joined by
/// hard cuts at 1.3, 3.2, 4.5, 6.7 s — none on the 2 s GOP grid — with sound. An
/// encoder left to place keyframes at scene cuts puts them there.
fn scene_cuts() -> Clip {
    let size = "1280x720";
    let shots = [
        format!("testsrc2=size={size}:rate=30:duration=1.3"),
        format!("mandelbrot=size={size}:rate=30,trim=duration=1.9"),
        format!("life=size={size}:rate=30:mold=10:ratio=0.5:death_color=#203040:life_color=#e0c060,trim=duration=1.3"),
        format!("smptehdbars=size={size}:rate=30:duration=2.2,hue=H=2*PI*t"),
        format!("cellauto=size={size}:rate=30:rule=110,trim=duration=1.7"),
    ];
    let mut graph: String = shots
        .iter()
        .enumerate()
        .map(|(i, shot)| format!("{shot},format=yuv420p,noise=alls=24:allf=t+u,setpts=PTS-STARTPTS,setsar=1[s{i}];"))
        .collect();
    graph.push_str(&(0..shots.len()).map(|i| format!("[s{i}]")).collect::<String>());
    graph.push_str(&format!("concat=n={}:v=1:a=0[v]", shots.len()));
    let args = [
        "-filter_complex",
        &graph,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=330:sample_rate=48000",
        "-map",
        "[v]",
        "-map",
        "0:a",
        "-shortest",
        "-c:v",
        "libx264",
        // Not ultrafast: it turns scene-cut detection off.
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
    ];
    Clip {
        name: "scene-cuts.mp4",
        args: args.iter().map(|a| a.to_string()).collect(),
        rungs: vec![("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360), ("240p", 426, 240)],
        audio: true,
        fps: 30.0,
        rotate: false,
        dynamic_range: "sdr",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_scene_cuts_off_the_gop_grid_do_not_move_keyframes() {
    // The production preset: ultrafast never places scene-cut keyframes, so it would
    // hide an encoder allowed to.
    let app = TestApp::spawn_with(&[("STREAMBOX_X264_PRESET", "veryfast")]).await;
    let token = app.signed_in_user().await;
    let clip = scene_cuts();
    let path = app.dir.path().join(clip.name).display().to_string();
    let mut args = vec!["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"];
    args.extend(clip.args.iter().map(String::as_str));
    args.push(&path);
    run(&args);
    // The source itself has keyframes at the cuts (its encoder detects scenes).
    let source_keyframes = keyframes(&path);
    assert!(on_the_gop_grid(&source_keyframes, source_video_duration(&path)).is_err(), "{source_keyframes:?}");

    let response = app.upload(Some(&token), std::path::Path::new(&path), clip.name).await;
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    if let Err(problem) = check(&app, &token, &clip, &path, &id).await {
        panic!("{}: {problem}", clip.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_over_the_limits_fail_at_once_saying_which_limit() {
    let app = TestApp::spawn_with(&[("STREAMBOX_MAX_DURATION_SECS", "2"), ("STREAMBOX_MAX_FRAME_RATE", "50")]).await;
    let token = app.signed_in_user().await;
    let long = crate::support::make_clip(app.dir.path(), "long.mp4", 320, 240, 4, false);
    let fast = app.dir.path().join("fast.mp4");
    run(&[
        "ffmpeg",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=60",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &fast.display().to_string(),
    ]);
    for (path, expected) in [(long, "the limit is 2 seconds"), (fast, "the limit is 50")] {
        let response = app.upload(Some(&token), &path, "Over a limit").await;
        let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let video = app.wait_for_status(&token, &id, &["failed", "ready"], Duration::from_secs(120)).await;
        assert_eq!(video["status"], "failed");
        assert!(video["error"].as_str().unwrap().contains(expected), "{video}");
        let (state, attempts, _) = crate::support::job_of(&app, &id).await;
        assert_eq!((state.as_str(), attempts), ("dead", 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_transcode_reports_progress_and_eta() {
    // Slow enough to be seen mid-way. That reports start at the beginning of the encode
    // is checked on ffmpeg's reported positions, in the transcoder's own tests.
    let app = TestApp::spawn_with(&[("STREAMBOX_X264_PRESET", "slow"), ("STREAMBOX_WORKER_HEARTBEAT_SECS", "1")]).await;
    let token = app.signed_in_user().await;
    let clip = crate::support::make_clip(app.dir.path(), "progress.mp4", 1280, 720, 20, true);
    let response = app.upload(Some(&token), &clip, "Progress").await;
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let progress = crate::support::eventually(Duration::from_secs(180), "progress to be reported", || async {
        let video = app.get_json(&format!("/api/v1/videos/{id}"), &token).await;
        let progress = video["progress"].clone();
        (video["status"] == "processing"
            && progress["percent"].as_f64().unwrap_or(0.0) > 0.0
            && progress["eta_s"].is_number())
        .then_some(progress)
    })
    .await;
    let percent = progress["percent"].as_f64().unwrap();
    assert!(percent > 0.0 && percent < 100.0, "{progress}");
    assert_eq!(progress["attempt"], 1);
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], Duration::from_secs(300)).await;
    assert_eq!(video["status"], "ready");
    assert!(video.get("progress").is_none(), "no progress once ready");
    let (state, attempts, errors) = crate::support::job_of(&app, &id).await;
    assert_eq!((state.as_str(), attempts), ("done", 1), "one attempt: {errors}");
}
