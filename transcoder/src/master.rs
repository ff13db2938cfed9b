//! The master playlist, written by us from what ffmpeg actually produced:
//! BANDWIDTH is the measured peak segment bitrate, AVERAGE-BANDWIDTH the mean, and
//! CODECS is read from each rung's own sequence parameter set (x264 may settle on a
//! lower profile than asked, e.g. Constrained Baseline at the `ultrafast` preset).
//! With sound, every variant names the shared audio rendition, and its BANDWIDTH and
//! AVERAGE-BANDWIDTH include the audio's, as a player downloads both.
//!
//! While the ladder is still encoding, a provisional master makes the video playable:
//! CODECS from each rung's first segment, BANDWIDTH from the rung's rate cap and
//! AVERAGE-BANDWIDTH from its target rate (each plus the audio's); the finished master
//! replaces it with the measured figures.

use std::path::Path;

use anyhow::Context;
use m3u8_rs::{AlternativeMedia, AlternativeMediaType, MasterPlaylist, Resolution, VariantStream};
use streambox_db::videos::Rendition;

use crate::encode::{AUDIO_CODEC, AUDIO_KBPS};

use crate::ladder::Rung;
use streambox_storage::layout::{AUDIO_RENDITION, MASTER, PLAYLIST};

/// The audio group's id and the name players show for its one rendition.
const AUDIO_GROUP: &str = "audio";
const AUDIO_NAME: &str = "Original";

/// Measures every rung (and the shared audio) under `out`, writes the master playlist in `out`,
/// returns the renditions.
pub fn write(out: &Path, rungs: &[Rung], frame_rate: f64, has_audio: bool) -> anyhow::Result<Vec<Rendition>> {
    let (audio_peak, audio_average) = match has_audio {
        true => measure(&out.join(AUDIO_RENDITION)).map(|(peak, average, _)| (peak, average))?,
        false => (0, 0),
    };
    let mut renditions = Vec::with_capacity(rungs.len());
    for rung in rungs {
        let rung_dir = out.join(&rung.name);
        let (bandwidth, average_bandwidth, first_segment) = measure(&rung_dir)?;
        let video_codec = video_codec_of(&rung_dir.join(first_segment))?;
        renditions.push(Rendition {
            name: rung.name.clone(),
            width: rung.width,
            height: rung.height,
            bandwidth: bandwidth + audio_peak,
            average_bandwidth: average_bandwidth + audio_average,
            codecs: codecs(video_codec, has_audio),
        });
    }
    std::fs::write(out.join(MASTER), render(&renditions, frame_rate, has_audio)?)
        .context("writing the master playlist")?;
    Ok(renditions)
}

/// The master for a ladder still being encoded, from what is known once every rung has
/// its first segment (`video_codecs[i]` is rung `i`'s, read from that segment).
pub fn provisional(
    rungs: &[Rung],
    video_codecs: &[String],
    frame_rate: f64,
    has_audio: bool,
) -> anyhow::Result<Vec<u8>> {
    let audio_bps = if has_audio { u64::from(AUDIO_KBPS) * 1000 } else { 0 };
    let renditions: Vec<Rendition> = rungs
        .iter()
        .zip(video_codecs)
        .map(|(rung, codec)| Rendition {
            name: rung.name.clone(),
            width: rung.width,
            height: rung.height,
            bandwidth: u64::from(rung.max_kbps()) * 1000 + audio_bps,
            average_bandwidth: u64::from(rung.video_kbps) * 1000 + audio_bps,
            codecs: codecs(codec.clone(), has_audio),
        })
        .collect();
    render(&renditions, frame_rate, has_audio)
}

/// A rendition's segments, as `(bytes, seconds)`.
pub type SegmentSizes = Vec<(u64, f64)>;

/// The finished master of a chunked video, measured over each whole rung as
/// [`write`] measures one run's: `rung_segments[i]` and `video_codecs[i]` are rung `i`'s.
pub fn measured(
    rungs: &[Rung],
    rung_segments: &[SegmentSizes],
    video_codecs: &[String],
    audio_segments: Option<&SegmentSizes>,
    frame_rate: f64,
) -> anyhow::Result<(Vec<u8>, Vec<Rendition>)> {
    let (audio_peak, audio_average) = audio_segments.map(peak_and_average).transpose()?.unwrap_or((0, 0));
    let has_audio = audio_segments.is_some();
    let renditions = rungs
        .iter()
        .zip(rung_segments)
        .zip(video_codecs)
        .map(|((rung, segments), codec)| {
            let (bandwidth, average_bandwidth) = peak_and_average(segments)?;
            Ok(Rendition {
                name: rung.name.clone(),
                width: rung.width,
                height: rung.height,
                bandwidth: bandwidth + audio_peak,
                average_bandwidth: average_bandwidth + audio_average,
                codecs: codecs(codec.clone(), has_audio),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((render(&renditions, frame_rate, has_audio)?, renditions))
}

fn codecs(video_codec: String, has_audio: bool) -> String {
    if has_audio { format!("{video_codec},{AUDIO_CODEC}") } else { video_codec }
}

fn render(renditions: &[Rendition], frame_rate: f64, has_audio: bool) -> anyhow::Result<Vec<u8>> {
    let playlist = MasterPlaylist {
        version: Some(3),
        independent_segments: true,
        alternatives: has_audio.then(audio_rendition).into_iter().collect(),
        variants: renditions
            .iter()
            .map(|r| VariantStream {
                uri: format!("{}/{PLAYLIST}", r.name),
                bandwidth: r.bandwidth,
                average_bandwidth: Some(r.average_bandwidth),
                codecs: Some(r.codecs.clone()),
                resolution: Some(Resolution { width: u64::from(r.width), height: u64::from(r.height) }),
                frame_rate: Some((frame_rate * 1000.0).round() / 1000.0),
                audio: has_audio.then(|| AUDIO_GROUP.into()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut bytes = Vec::new();
    playlist.write_to(&mut bytes)?;
    Ok(bytes)
}

fn audio_rendition() -> AlternativeMedia {
    AlternativeMedia {
        media_type: AlternativeMediaType::Audio,
        uri: Some(format!("{AUDIO_RENDITION}/{PLAYLIST}")),
        group_id: AUDIO_GROUP.into(),
        name: AUDIO_NAME.into(),
        default: true,
        autoselect: true,
        channels: Some("2".into()),
        ..Default::default()
    }
}

/// `(peak, average)` bits per second over the rung's segments, and the first segment's name.
fn measure(rung_dir: &Path) -> anyhow::Result<(u64, u64, String)> {
    let raw =
        std::fs::read(rung_dir.join(PLAYLIST)).with_context(|| format!("reading {}/{PLAYLIST}", rung_dir.display()))?;
    let playlist = m3u8_rs::parse_media_playlist_res(&raw)
        .map_err(|e| anyhow::anyhow!("ffmpeg wrote an unreadable playlist: {e}"))?;
    anyhow::ensure!(
        !playlist.segments.is_empty(),
        "ffmpeg wrote a playlist without segments in {}",
        rung_dir.display()
    );
    let sizes = playlist
        .segments
        .iter()
        .map(|segment| {
            let bytes = std::fs::metadata(rung_dir.join(&segment.uri))
                .with_context(|| format!("segment {}", segment.uri))?
                .len();
            Ok((bytes, f64::from(segment.duration)))
        })
        .collect::<anyhow::Result<SegmentSizes>>()?;
    let (peak, average) = peak_and_average(&sizes)?;
    Ok((peak, average, playlist.segments[0].uri.clone()))
}

/// Peak and mean bits per second over segments of `(bytes, seconds)`.
fn peak_and_average(segments: &SegmentSizes) -> anyhow::Result<(u64, u64)> {
    anyhow::ensure!(!segments.is_empty(), "a rendition without segments");
    let (mut peak, mut total_bits, mut total_seconds) = (0.0_f64, 0.0_f64, 0.0_f64);
    for &(bytes, seconds) in segments {
        let (bits, seconds) = (bytes as f64 * 8.0, seconds.max(0.001));
        peak = peak.max(bits / seconds);
        total_bits += bits;
        total_seconds += seconds;
    }
    Ok((peak.ceil() as u64, (total_bits / total_seconds).ceil() as u64))
}

/// `avc1.PPCCLL` (RFC 6381) from the first SPS in `segment`: profile, constraint flags, level.
pub fn video_codec_of(segment: &Path) -> anyhow::Result<String> {
    let ts = std::fs::read(segment).with_context(|| format!("reading {}", segment.display()))?;
    let sps = sequence_parameter_set(&video_elementary_stream(&ts))
        .with_context(|| format!("no H.264 SPS in {}", segment.display()))?;
    Ok(format!("avc1.{:02x}{:02x}{:02x}", sps[0], sps[1], sps[2]))
}

const TS_PACKET: usize = 188;

/// The start of the first video PES in an MPEG-TS segment, reassembled from its
/// packets' payloads: enough for the parameter sets at the head of the first keyframe.
fn video_elementary_stream(ts: &[u8]) -> Vec<u8> {
    const ENOUGH: usize = 4096;
    let mut video_pid = None;
    let mut es = Vec::new();
    for packet in ts.chunks_exact(TS_PACKET).take_while(|p| p[0] == 0x47) {
        let pid = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
        let unit_start = packet[1] & 0x40 != 0;
        let payload_at = match (packet[3] >> 4) & 0b11 {
            0b01 => 4,
            0b11 => 5 + usize::from(packet[4]),
            _ => continue,
        };
        let Some(payload) = packet.get(payload_at..) else { continue };
        match video_pid {
            None if unit_start && payload.len() > 9 && payload[..3] == [0, 0, 1] && payload[3] & 0xf0 == 0xe0 => {
                video_pid = Some(pid);
                es.extend_from_slice(payload.get(9 + usize::from(payload[8])..).unwrap_or_default());
            }
            Some(video) if video == pid && !unit_start => es.extend_from_slice(payload),
            Some(video) if video == pid => break,
            _ => {}
        }
        if es.len() >= ENOUGH {
            break;
        }
    }
    es
}

/// The first three bytes after the header of the first SPS NAL unit in an Annex B stream.
fn sequence_parameter_set(annex_b: &[u8]) -> Option<[u8; 3]> {
    annex_b.windows(7).find(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 7).map(|w| [w[4], w[5], w[6]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codec_string_comes_from_the_sps() {
        // start code, SPS header (0x67), High (100), no constraints, level 3.1, then a slice.
        let stream = [0, 0, 0, 1, 0x67, 100, 0, 31, 0xAC, 0, 0, 1, 0x65, 0x88];
        assert_eq!(sequence_parameter_set(&stream), Some([100, 0, 31]));
        // Constrained Baseline: profile 66 with constraint_set1 (0xC0 with set0).
        assert_eq!(sequence_parameter_set(&[0, 0, 1, 0x27, 66, 0xC0, 30]), Some([66, 0xC0, 30]));
        assert_eq!(sequence_parameter_set(&[0, 0, 1, 0x65, 1, 2, 3]), None);
    }

    /// A TS packet of `pid` carrying `payload`, stuffed to 188 bytes with an adaptation field.
    fn ts_packet(pid: u16, unit_start: bool, payload: &[u8]) -> Vec<u8> {
        let stuffing = TS_PACKET - 4 - payload.len();
        let mut packet = vec![0x47, (u8::from(unit_start) << 6) | (pid >> 8) as u8, pid as u8];
        if stuffing == 0 {
            packet.push(0x10);
        } else {
            packet.push(0x30);
            packet.push((stuffing - 1) as u8);
            packet.extend(std::iter::repeat_n(0xff, stuffing - 1));
        }
        packet.extend_from_slice(payload);
        packet
    }

    #[test]
    fn the_sps_is_found_across_ts_packets_of_the_video_pid_only() {
        // An audio PES with SPS-like bytes must be ignored; the video PES (stream 0xE0, a
        // 5-byte PES header extension) splits its SPS over two packets, with an audio
        // packet between them.
        let audio = ts_packet(0x101, true, &[0, 0, 1, 0xc0, 0, 0, 0x80, 0, 0, 0, 0, 1, 0x67, 77, 0, 40]);
        let video_head =
            ts_packet(0x100, true, &[0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 1, 2, 3, 4, 5, 0, 0, 0, 1, 0x67, 100]);
        let video_tail = ts_packet(0x100, false, &[0, 40, 0xac]);
        let ts = [audio.clone(), video_head, audio, video_tail].concat();
        assert_eq!(sequence_parameter_set(&video_elementary_stream(&ts)), Some([100, 0, 40]));
    }

    #[test]
    fn bandwidth_is_measured_from_segments() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.m3u8"),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXTINF:6.0,\nseg_000.ts\n#EXTINF:2.0,\nseg_001.ts\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("seg_000.ts"), vec![0u8; 6000]).unwrap(); // 8000 bit/s
        std::fs::write(dir.path().join("seg_001.ts"), vec![0u8; 3000]).unwrap(); // 12000 bit/s
        assert_eq!(measure(dir.path()).unwrap(), (12000, 9000, "seg_000.ts".to_owned()));
    }
}
