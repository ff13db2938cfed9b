//! Trick play: each rung's I-frame playlist (`EXT-X-I-FRAMES-ONLY`), whose entries are
//! byte ranges of the rung's own segments, one per keyframe. A range runs from the
//! packet after the previous frame (so it holds the PAT and PMT ffmpeg writes before
//! every keyframe) to the keyframe's last packet, and lasts until the next keyframe.
//! Keyframes are found in the MPEG-TS itself: the video PES whose adaptation field has
//! the random access indicator, which ffmpeg sets on every keyframe. In fragmented MP4
//! each keyframe is a fragment of its own (`crate::fmp4`): its range is that fragment,
//! and the playlist names the rung's initialization segment (`EXT-X-MAP`).

use std::path::Path;

use anyhow::Context;
use m3u8_rs::{ByteRange, Map, MediaPlaylist, MediaPlaylistType, MediaSegment};
use streambox_db::chunks::KeyframeRecord;
use streambox_storage::layout::{IFRAME_PLAYLIST, PLAYLIST};

use crate::fmp4;
use crate::rates::SegmentSizes;

const TS_PACKET: usize = 188;
/// The 90 kHz clock of MPEG-TS timestamps.
const TS_CLOCK: f64 = 90_000.0;

/// The keyframes of one MPEG-TS segment lasting `seconds`, in order.
pub fn keyframes(ts: &[u8], seconds: f64) -> Vec<KeyframeRecord> {
    // (first packet, packet after the last, pts) of each keyframe's PES.
    let mut found: Vec<(usize, usize, u64)> = Vec::new();
    let (mut video_pid, mut last_video, mut in_keyframe) = (None, None::<usize>, false);
    for (index, packet) in ts.chunks_exact(TS_PACKET).enumerate().take_while(|(_, p)| p[0] == 0x47) {
        let pid = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
        let unit_start = packet[1] & 0x40 != 0;
        let (payload_at, random_access) = match (packet[3] >> 4) & 0b11 {
            0b01 => (4, false),
            0b11 => (5 + usize::from(packet[4]), packet[4] > 0 && packet[5] & 0x40 != 0),
            _ => continue,
        };
        let payload = packet.get(payload_at..).unwrap_or_default();
        let video_start = unit_start && payload.len() > 13 && payload[..3] == [0, 0, 1] && payload[3] & 0xf0 == 0xe0;
        if video_start && video_pid.is_none() {
            video_pid = Some(pid);
        }
        if video_pid != Some(pid) {
            continue;
        }
        if unit_start {
            in_keyframe = video_start && random_access && payload[7] & 0x80 != 0;
            if in_keyframe {
                found.push((last_video.map_or(0, |i| i + 1), index + 1, pts(&payload[9..14])));
            }
        } else if in_keyframe && let Some(keyframe) = found.last_mut() {
            keyframe.1 = index + 1;
        }
        last_video = Some(index);
    }
    let first_pts = found.first().map_or(0, |k| k.2);
    let starts: Vec<f64> = found.iter().map(|k| pts_seconds(k.2.wrapping_sub(first_pts))).collect();
    found
        .iter()
        .enumerate()
        .map(|(i, &(first, end, _))| {
            let until = starts.get(i + 1).copied().unwrap_or(seconds);
            KeyframeRecord {
                offset: (first * TS_PACKET) as u64,
                length: ((end - first) * TS_PACKET) as u64,
                seconds: (until - starts[i]).max(0.001),
            }
        })
        .collect()
}

/// A 33-bit PES timestamp from its five bytes.
fn pts(bytes: &[u8]) -> u64 {
    (u64::from(bytes[0] >> 1) & 0x07) << 30
        | u64::from(bytes[1]) << 22
        | u64::from(bytes[2] >> 1) << 15
        | u64::from(bytes[3]) << 7
        | u64::from(bytes[4] >> 1)
}

fn pts_seconds(ticks: u64) -> f64 {
    (ticks & ((1 << 33) - 1)) as f64 / TS_CLOCK
}

/// The I-frame playlist over `segments` (each a segment's name and its keyframes; fMP4
/// ones need the `init` segment named), and its entries' sizes for measuring its BANDWIDTH.
pub fn playlist(
    segments: &[(String, Vec<KeyframeRecord>)],
    init: Option<&Map>,
) -> anyhow::Result<(Vec<u8>, SegmentSizes)> {
    let entries: Vec<(&str, &KeyframeRecord)> =
        segments.iter().flat_map(|(uri, keyframes)| keyframes.iter().map(move |k| (uri.as_str(), k))).collect();
    anyhow::ensure!(!entries.is_empty(), "a rung without keyframes");
    let target_duration = entries.iter().map(|(_, k)| k.seconds.round() as u64).max().unwrap_or(1).max(1);
    let playlist = MediaPlaylist {
        // EXT-X-MAP in an I-frame playlist needs version 5.
        version: Some(if init.is_some() { 5 } else { 4 }),
        target_duration,
        media_sequence: 0,
        i_frames_only: true,
        independent_segments: true,
        playlist_type: Some(MediaPlaylistType::Vod),
        end_list: true,
        segments: entries
            .iter()
            .enumerate()
            .map(|(i, (uri, k))| MediaSegment {
                uri: (*uri).to_owned(),
                duration: k.seconds as f32,
                byte_range: Some(ByteRange { length: k.length, offset: Some(k.offset) }),
                map: init.filter(|_| i == 0).cloned(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut bytes = Vec::new();
    playlist.write_to(&mut bytes)?;
    let sizes =
        SegmentSizes { segments: entries.iter().map(|(_, k)| (k.length, k.seconds)).collect(), target_duration };
    Ok((bytes, sizes))
}

/// Each segment's name and its keyframes, in playlist order.
type SegmentKeyframes = Vec<(String, Vec<KeyframeRecord>)>;

/// The keyframes of every segment ffmpeg listed in `rung_dir`'s playlist, and its
/// initialization segment when they are fMP4 (cut by `fmp4::isolate_keyframes` already).
fn of_rung(rung_dir: &Path) -> anyhow::Result<(SegmentKeyframes, Option<Map>)> {
    let raw = std::fs::read(rung_dir.join(PLAYLIST)).with_context(|| format!("reading {PLAYLIST}"))?;
    let media = m3u8_rs::parse_media_playlist_res(&raw)
        .map_err(|e| anyhow::anyhow!("ffmpeg wrote an unreadable playlist: {e}"))?;
    let init = media.segments.first().and_then(|s| s.map.clone());
    let track = match &init {
        Some(map) => {
            let bytes = std::fs::read(rung_dir.join(&map.uri)).with_context(|| format!("reading {}", map.uri))?;
            Some(fmp4::Track::of_init(&bytes).with_context(|| format!("reading {}", map.uri))?)
        }
        None => None,
    };
    let keyframes = media
        .segments
        .iter()
        .map(|segment| {
            let bytes =
                std::fs::read(rung_dir.join(&segment.uri)).with_context(|| format!("segment {}", segment.uri))?;
            let seconds = f64::from(segment.duration);
            let found = match &track {
                Some(track) => {
                    fmp4::keyframes(&bytes, seconds, track).with_context(|| format!("segment {}", segment.uri))?
                }
                None => keyframes(&bytes, seconds),
            };
            Ok((segment.uri.clone(), found))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((keyframes, init))
}

/// Writes `rung_dir`'s I-frame playlist beside its playlist; returns its entries' sizes.
pub fn write(rung_dir: &Path) -> anyhow::Result<SegmentSizes> {
    let (segments, init) = of_rung(rung_dir)?;
    let (body, sizes) = playlist(&segments, init.as_ref())?;
    std::fs::write(rung_dir.join(IFRAME_PLAYLIST), body).context("writing an I-frame playlist")?;
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TS packet of `pid`, its adaptation field flagging random access when `key`.
    fn packet(pid: u16, unit_start: bool, key: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x47, (u8::from(unit_start) << 6) | (pid >> 8) as u8, pid as u8];
        let stuffing = TS_PACKET - 4 - payload.len();
        p.push(0x30);
        p.push((stuffing - 1) as u8);
        p.push(if key { 0x40 } else { 0 });
        p.extend(std::iter::repeat_n(0xff, stuffing - 2));
        p.extend_from_slice(payload);
        p
    }

    /// A video PES header with `pts` (90 kHz).
    fn pes(pts: u64) -> Vec<u8> {
        let b = |shift: u32, mask: u64| ((pts >> shift) & mask) as u8;
        vec![
            0,
            0,
            1,
            0xe0,
            0,
            0,
            0x80,
            0x80,
            5,
            0x21 | (b(30, 7) << 1),
            b(22, 0xff),
            (b(15, 0x7f) << 1) | 1,
            b(7, 0xff),
            (b(0, 0x7f) << 1) | 1,
        ]
    }

    #[test]
    fn each_keyframe_is_a_range_from_its_psi_to_its_last_packet() {
        let psi = packet(0, true, false, &[0, 0]);
        let ts = [
            psi.clone(),
            packet(0x100, true, true, &pes(126_000)),
            packet(0x100, false, false, &[1]),
            packet(0x100, true, false, &pes(129_000)),
            psi.clone(),
            packet(0x100, true, true, &pes(306_000)),
            packet(0x100, false, false, &[2]),
            packet(0x100, false, false, &[3]),
            packet(0x100, true, false, &pes(309_000)),
        ]
        .concat();
        let found = keyframes(&ts, 6.0);
        let at = |i: u64| i * TS_PACKET as u64;
        assert_eq!(
            found,
            [
                KeyframeRecord { offset: 0, length: at(3), seconds: 2.0 },
                KeyframeRecord { offset: at(4), length: at(4), seconds: 4.0 },
            ]
        );
        let (body, sizes) = playlist(&[("seg_000.ts".into(), found)], None).unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("#EXT-X-I-FRAMES-ONLY"), "{text}");
        assert!(text.contains(&format!("#EXT-X-BYTERANGE:{}@{}\n", at(4), at(4))), "{text}");
        assert_eq!(sizes.target_duration, 4);
        assert!(!text.contains("EXT-X-MAP") && text.contains("#EXT-X-VERSION:4"), "{text}");
    }

    #[test]
    fn an_fmp4_iframe_playlist_names_its_initialization_segment_once() {
        let keyframe = |offset| KeyframeRecord { offset, length: 900, seconds: 2.0 };
        let segments = [("seg_000.m4s".to_owned(), vec![keyframe(40), keyframe(5000)])];
        let init = Map { uri: "init_720p.mp4".into(), ..Default::default() };
        let (body, _) = playlist(&segments, Some(&init)).unwrap();
        let text = String::from_utf8(body).unwrap();
        assert_eq!(text.matches("#EXT-X-MAP:URI=\"init_720p.mp4\"").count(), 1, "{text}");
        assert!(text.contains("#EXT-X-VERSION:5") && text.contains("#EXT-X-BYTERANGE:900@5000"), "{text}");
    }
}
