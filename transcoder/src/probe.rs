//! Reads what the source is with ffprobe, and rejects what is not a video.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use streambox_storage::container::{self, Container};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::error::JobError;
use crate::tone_map::{ColourTags, Hdr};
use crate::tracks::{self, AudioTrack, Probed, SubtitleTrack};

/// The source as a viewer will see it: dimensions after rotation and pixel aspect ratio.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    pub duration_s: f64,
    pub display_width: u32,
    pub display_height: u32,
    /// Constant output frame rate, as an ffmpeg rational (`30000/1001`).
    pub frame_rate: String,
    pub frame_rate_value: f64,
    /// The source's own average frame rate (before normalisation), for limits.
    pub native_frame_rate: f64,
    /// The audio tracks offered, the default one first; empty for a silent source.
    pub audio_tracks: Vec<AudioTrack>,
    /// The text subtitle streams taken as caption tracks.
    pub subtitle_tracks: Vec<SubtitleTrack>,
    pub video_codec: String,
    /// The default audio track's codec.
    pub audio_codec: Option<String>,
    /// Overall bitrate in bit/s, when the container states it.
    pub bitrate: Option<u64>,
    /// Set for HDR sources, which are tone-mapped to SDR.
    pub hdr: Option<Hdr>,
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Above this the source is treated as a high-frame-rate master and normalised down.
const MAX_FRAME_RATE: f64 = 60.0;

/// The source as ffprobe and ffmpeg may read it: one local file, or the stored source
/// through a presigned URL to it (a chunk reads only its own minutes, in ranged GETs),
/// always through the demuxer of the container its first bytes show. Nothing else is
/// ever opened — not a playlist's or concat script's entries, not an image sequence, no
/// other protocol — whatever the file turned into after it was uploaded.
#[derive(Debug, Clone)]
pub struct Input {
    location: Location,
    container: Container,
}

#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    /// A presigned GET of the stored source.
    Url(String),
}

/// How long ffmpeg waits on one network read of a remote source before failing.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Input {
    /// Sniffs the file again (storage is not trusted to hold what the upload checked);
    /// anything but a container we take is a permanent failure.
    pub async fn open(path: &Path) -> Result<Self, JobError> {
        let file = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
        let mut head = Vec::with_capacity(container::NEEDED);
        file.take(container::NEEDED as u64).read_to_end(&mut head).await.context("reading the source's first bytes")?;
        Ok(Self::new(path, sniff(&head)?))
    }

    /// The stored source at `url`, whose first bytes are `head`.
    pub fn remote(url: String, head: &[u8]) -> Result<Self, JobError> {
        Ok(Self { location: Location::Url(url), container: sniff(head)? })
    }

    pub(crate) fn new(path: &Path, container: Container) -> Self {
        Self { location: Location::File(path.to_owned()), container }
    }

    /// `-f DEMUXER -protocol_whitelist file -i file:PATH`, for ffprobe and ffmpeg alike
    /// (for a URL: HTTP(S) only, with a read timeout).
    pub fn args(&self) -> Vec<String> {
        let demuxer = self.container.demuxer();
        let mut args: Vec<String> = vec!["-f".into(), demuxer.into(), "-protocol_whitelist".into()];
        match &self.location {
            Location::File(path) => args.extend(["file".into(), "-i".into(), format!("file:{}", path.display())]),
            Location::Url(url) => args.extend([
                "http,https,tcp,tls".into(),
                "-rw_timeout".into(),
                READ_TIMEOUT.as_micros().to_string(),
                "-i".into(),
                url.clone(),
            ]),
        }
        args
    }
}

fn sniff(head: &[u8]) -> Result<Container, JobError> {
    Container::sniff(head)
        .ok_or_else(|| JobError::Permanent("The stored file is not a video container StreamBox accepts.".into()))
}

pub async fn probe(input: &Input) -> Result<SourceInfo, JobError> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .args(input.args())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PROBE_TIMEOUT, output)
        .await
        .map_err(|_| anyhow::anyhow!("ffprobe did not finish within {PROBE_TIMEOUT:?}"))?
        .map_err(|e| anyhow::anyhow!("running ffprobe: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr.lines().last().unwrap_or("unknown format").trim();
        return Err(JobError::Permanent(format!("The file is not a video StreamBox can read ({detail}).")));
    }
    let report: ProbeReport =
        serde_json::from_slice(&output.stdout).map_err(|e| anyhow::anyhow!("ffprobe printed unreadable JSON: {e}"))?;
    interpret(report)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProbeReport {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Debug, Deserialize)]
struct ProbeFormat {
    format_name: Option<String>,
    duration: Option<String>,
    bit_rate: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ProbeStream {
    index: u32,
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    sample_aspect_ratio: Option<String>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    duration: Option<String>,
    color_transfer: Option<String>,
    color_primaries: Option<String>,
    color_space: Option<String>,
    color_range: Option<String>,
    #[serde(default)]
    disposition: Disposition,
    #[serde(default)]
    side_data_list: Vec<SideData>,
    #[serde(default)]
    tags: Tags,
}

#[derive(Debug, Default, Deserialize)]
struct Disposition {
    #[serde(default)]
    default: u8,
    #[serde(default)]
    attached_pic: u8,
}

#[derive(Debug, Deserialize)]
struct SideData {
    rotation: Option<f64>,
    /// Content light level (MaxCLL), in nits.
    max_content: Option<f64>,
    /// Mastering display peak, in nits, as ffprobe's rational (`10000000/10000`).
    max_luminance: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Tags {
    rotate: Option<String>,
    language: Option<String>,
    title: Option<String>,
}

pub(crate) fn interpret(report: ProbeReport) -> Result<SourceInfo, JobError> {
    let format = report
        .format
        .ok_or_else(|| JobError::Permanent("The file is not a video: no container format was recognised.".into()))?;
    let format_name = format.format_name.unwrap_or_default();
    if format_name.contains("image2") || format_name.ends_with("_pipe") || format_name == "gif" {
        return Err(JobError::Permanent("The file is a still image, not a video.".into()));
    }
    let video = report
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && s.disposition.attached_pic == 0)
        .ok_or_else(|| JobError::Permanent("The file has no video stream.".into()))?;
    let (Some(width), Some(height)) = (video.width.filter(|w| *w > 0), video.height.filter(|h| *h > 0)) else {
        return Err(JobError::Permanent("The video stream has no picture size; the file may be corrupt.".into()));
    };
    let duration_s = [format.duration.as_deref(), video.duration.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(|d| d.parse::<f64>().ok())
        .find(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| {
            JobError::Permanent("The video has no duration; the file may be truncated or corrupt.".into())
        })?;

    let (display_width, display_height) =
        display_size(width, height, video.sample_aspect_ratio.as_deref(), rotation(video));
    let (frame_rate, frame_rate_value, native_frame_rate) = frame_rate(video);
    let of_type = |kind: &str| {
        report
            .streams
            .iter()
            .filter(|s| s.codec_type.as_deref() == Some(kind))
            .map(|s| Probed {
                stream: s.index,
                codec: s.codec_name.as_deref(),
                language: s.tags.language.as_deref(),
                title: s.tags.title.as_deref(),
                default: s.disposition.default == 1,
            })
            .collect::<Vec<_>>()
    };
    let audio_tracks = tracks::audio(&of_type("audio"));
    let subtitle_tracks = tracks::subtitles(&of_type("subtitle"));
    let audio_codec = audio_tracks
        .first()
        .and_then(|track| report.streams.iter().find(|s| s.index == track.stream).and_then(|s| s.codec_name.clone()));

    Ok(SourceInfo {
        duration_s,
        display_width,
        display_height,
        frame_rate,
        frame_rate_value,
        native_frame_rate,
        video_codec: video.codec_name.clone().unwrap_or_else(|| "unknown".into()),
        audio_codec,
        audio_tracks,
        subtitle_tracks,
        bitrate: format.bit_rate.and_then(|b| b.parse().ok()),
        hdr: hdr(video),
    })
}

fn hdr(stream: &ProbeStream) -> Option<Hdr> {
    let side_data = |field: fn(&SideData) -> Option<f64>| stream.side_data_list.iter().find_map(field);
    Hdr::detect(&ColourTags {
        transfer: stream.color_transfer.as_deref(),
        primaries: stream.color_primaries.as_deref(),
        matrix: stream.color_space.as_deref(),
        range: stream.color_range.as_deref(),
        max_content_nits: side_data(|d| d.max_content),
        mastering_peak_nits: side_data(|d| d.max_luminance.as_deref().and_then(parse_ratio)),
    })
}

fn rotation(stream: &ProbeStream) -> i64 {
    let degrees = stream
        .side_data_list
        .iter()
        .find_map(|d| d.rotation)
        .or_else(|| stream.tags.rotate.as_deref().and_then(|r| r.parse().ok()))
        .unwrap_or(0.0);
    (degrees.round() as i64).rem_euclid(360)
}

/// Applies the pixel aspect ratio to the width, then swaps for quarter turns.
fn display_size(width: u32, height: u32, sar: Option<&str>, rotation: i64) -> (u32, u32) {
    let sar = sar.and_then(parse_ratio).filter(|r| *r > 0.0).unwrap_or(1.0);
    let width = (f64::from(width) * sar).round().max(2.0) as u32;
    if rotation == 90 || rotation == 270 { (height, width) } else { (width, height) }
}

/// The output rate (the stream's average, capped; variable-rate sources are normalised
/// to it) as an ffmpeg rational and a number, and the stream's own rate.
fn frame_rate(stream: &ProbeStream) -> (String, f64, f64) {
    let candidates = [stream.avg_frame_rate.as_deref(), stream.r_frame_rate.as_deref()];
    let rate = candidates
        .into_iter()
        .flatten()
        .filter_map(|r| parse_ratio(r).map(|v| (r.to_owned(), v)))
        .find(|(_, v)| v.is_finite() && (1.0..=1000.0).contains(v));
    match rate {
        Some((_, v)) if v > MAX_FRAME_RATE => (format!("{MAX_FRAME_RATE}"), MAX_FRAME_RATE, v),
        Some((rational, v)) => (rational, v, v),
        None => ("30".into(), 30.0, 30.0),
    }
}

fn parse_ratio(raw: &str) -> Option<f64> {
    let (num, den) = raw.split_once([':', '/']).unwrap_or((raw, "1"));
    let (num, den): (f64, f64) = (num.parse().ok()?, den.parse().ok()?);
    (den != 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use streambox_db::videos::DynamicRange;

    use super::*;

    fn report(json: &str) -> ProbeReport {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn portrait_rotation_and_anamorphic_pixels_give_display_size() {
        let info = interpret(report(
            r#"{"format":{"format_name":"mov,mp4","duration":"4.0"},"streams":[
                {"index":0,"codec_type":"video","codec_name":"h264","width":1920,"height":1080,
                 "avg_frame_rate":"30000/1001","side_data_list":[{"rotation":-90}]},
                {"index":1,"codec_type":"audio","codec_name":"aac"},
                {"index":2,"codec_type":"audio","codec_name":"aac","disposition":{"default":1}}]}"#,
        ))
        .unwrap();
        assert_eq!((info.display_width, info.display_height), (1080, 1920));
        assert_eq!(info.frame_rate, "30000/1001");
        let streams: Vec<u32> = info.audio_tracks.iter().map(|t| t.stream).collect();
        assert_eq!(streams, [2, 1], "the default track first");

        let info = interpret(report(
            r#"{"format":{"format_name":"mpegts","duration":"2.5"},"streams":[
                {"index":0,"codec_type":"video","width":720,"height":576,"sample_aspect_ratio":"16:15","avg_frame_rate":"25/1"}]}"#,
        ))
        .unwrap();
        assert_eq!((info.display_width, info.display_height), (768, 576));
        assert!(info.audio_tracks.is_empty());
    }

    #[test]
    fn audio_languages_and_text_subtitles_are_read_from_the_tags() {
        let info = interpret(report(
            r#"{"format":{"format_name":"matroska,webm","duration":"4.0"},"streams":[
                {"index":0,"codec_type":"video","codec_name":"h264","width":64,"height":64},
                {"index":1,"codec_type":"audio","codec_name":"aac","tags":{"language":"eng"}},
                {"index":2,"codec_type":"audio","codec_name":"opus","disposition":{"default":1},"tags":{"language":"fre","title":"Doublage"}},
                {"index":3,"codec_type":"subtitle","codec_name":"subrip","tags":{"language":"spa"}},
                {"index":4,"codec_type":"subtitle","codec_name":"dvd_subtitle","tags":{"language":"eng"}}]}"#,
        ))
        .unwrap();
        let audio: Vec<_> = info.audio_tracks.iter().map(|t| (t.stream, t.name.as_str())).collect();
        assert_eq!(audio, [(2, "Doublage"), (1, "English")]);
        assert_eq!(info.audio_codec.as_deref(), Some("opus"), "the default track's");
        let subtitles: Vec<_> = info.subtitle_tracks.iter().map(|t| (t.stream, t.language.as_str())).collect();
        assert_eq!(subtitles, [(3, "es")]);
    }

    #[test]
    fn stills_and_streamless_files_are_permanent_failures() {
        let still = interpret(report(
            r#"{"format":{"format_name":"png_pipe"},"streams":[{"index":0,"codec_type":"video","width":10,"height":10}]}"#,
        ));
        assert!(matches!(still, Err(JobError::Permanent(m)) if m.contains("still image")));
        let audio_only = interpret(report(
            r#"{"format":{"format_name":"mp3","duration":"3"},"streams":[{"index":0,"codec_type":"audio"}]}"#,
        ));
        assert!(matches!(audio_only, Err(JobError::Permanent(m)) if m.contains("no video stream")));
    }

    #[test]
    fn hdr_sources_are_recognised_with_their_stated_peak() {
        let stream = |colour: &str| {
            interpret(report(&format!(
                r#"{{"format":{{"format_name":"matroska,webm","duration":"4.0"}},"streams":[
                    {{"index":0,"codec_type":"video","codec_name":"hevc","width":3840,"height":2160,{colour}}}]}}"#
            )))
            .unwrap()
            .hdr
        };
        assert_eq!(stream(r#""color_transfer":"bt709","color_primaries":"bt709""#), None);
        let hlg = stream(r#""color_transfer":"arib-std-b67","color_primaries":"bt2020","color_space":"bt2020nc""#);
        assert_eq!(hlg.unwrap().dynamic_range, DynamicRange::Hlg);
        let pq = stream(
            r#""color_transfer":"smpte2084","side_data_list":[
                {"side_data_type":"Mastering display metadata","max_luminance":"40000000/10000"},
                {"side_data_type":"Content light level metadata","max_content":0,"max_average":0}]"#,
        )
        .unwrap();
        assert_eq!(pq.dynamic_range, DynamicRange::Pq);
        assert_eq!(pq.peak_nits, 4000.0, "MaxCLL 0 is unknown: the mastering peak applies");
    }
}
