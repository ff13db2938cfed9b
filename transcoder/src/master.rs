//! The master playlist, written by us from what ffmpeg actually produced:
//! BANDWIDTH is the measured peak segment bitrate (RFC 8216's: the highest rate of any
//! run of segments lasting 0.5 to 1.5 target durations), AVERAGE-BANDWIDTH the mean,
//! and CODECS is read from each rung's own sequence parameter set (x264 may settle on
//! a lower profile than asked, e.g. Constrained Baseline at the `ultrafast` preset).
//! With sound, every variant names the audio group it plays (`crate::audio`), and its
//! BANDWIDTH and AVERAGE-BANDWIDTH include that audio's (the group's highest, when the
//! source has several tracks: a player may pick any), as a player downloads both. Each
//! group lists every audio track (`LANGUAGE`, `NAME`), the default one `DEFAULT=YES`.
//! Every variant is SDR (`VIDEO-RANGE`): HDR sources are tone-mapped before encoding.
//! Each finished rung also has an I-frame variant (`EXT-X-I-FRAME-STREAM-INF`, `crate::iframes`)
//! whose BANDWIDTH is measured over its keyframes the same way, unless the video is
//! encrypted (`crate::encryption`: byte ranges of a whole-segment cipher do not decrypt).
//!
//! While the ladder is still encoding, a provisional master makes the video playable:
//! CODECS from each rung's first segment, BANDWIDTH from the rung's rate cap and
//! AVERAGE-BANDWIDTH from its target rate (each plus its audio's); the finished master
//! replaces it with the measured figures.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use m3u8_rs::{
    AlternativeMedia, AlternativeMediaType, MasterPlaylist, MediaSegment, QuotedOrUnquoted, Resolution, VariantStream,
};
use streambox_db::videos::Rendition;

use crate::audio::{self, AudioRendition};
use crate::ladder::Rung;
use crate::rates::{SegmentSizes, peak_and_average};
use crate::tracks::AudioTrack;
use crate::{fmp4, iframes};
use streambox_storage::layout::{self, IFRAME_PLAYLIST, MASTER, PLAYLIST};

/// Measures every rung (and the audio renditions of `tracks` they play) under `out`,
/// writes each rung's I-frame playlist (with `trick_play`) and the master playlist in
/// `out`, returns the renditions.
pub fn write(
    out: &Path,
    rungs: &[Rung],
    frame_rate: f64,
    tracks: &[AudioTrack],
    trick_play: bool,
) -> anyhow::Result<Vec<Rendition>> {
    let has_audio = !tracks.is_empty();
    let mut measured = Vec::new();
    for output in audio::outputs(rungs, tracks.len()) {
        let (peak, average, _) = measure(&out.join(&output.folder))?;
        measured.push((output.group, (peak, average)));
    }
    let audio_rates = group_rates(measured);
    let mut variants = Vec::with_capacity(rungs.len());
    for rung in rungs {
        let rung_dir = out.join(&rung.name);
        let (bandwidth, average_bandwidth, first_segment) = measure(&rung_dir)?;
        let video_codec = video_codec_of(&rung_dir, &first_segment)?;
        let iframes = match trick_play {
            true => Some(peak_and_average(&iframes::write(&rung_dir)?)?),
            false => None,
        };
        variants.push(Variant::measured(
            rung,
            (bandwidth, average_bandwidth),
            video_codec,
            has_audio,
            &audio_rates,
            iframes,
        )?);
    }
    std::fs::write(out.join(MASTER), render(&variants, tracks, frame_rate)?).context("writing the master playlist")?;
    Ok(variants.into_iter().map(|v| v.rendition).collect())
}

/// Each group's `(peak, mean)`: the highest of its tracks' renditions.
fn group_rates(measured: Vec<(AudioRendition, (u64, u64))>) -> HashMap<&'static str, (u64, u64)> {
    let mut rates: HashMap<&'static str, (u64, u64)> = HashMap::new();
    for (group, (peak, mean)) in measured {
        let rate = rates.entry(group.name).or_default();
        *rate = (rate.0.max(peak), rate.1.max(mean));
    }
    rates
}

/// The master for a ladder still being encoded, from what is known once every rung has
/// its first segment (`video_codecs[i]` is rung `i`'s, read from that segment).
pub fn provisional(
    rungs: &[Rung],
    video_codecs: &[String],
    frame_rate: f64,
    tracks: &[AudioTrack],
) -> anyhow::Result<Vec<u8>> {
    let has_audio = !tracks.is_empty();
    let variants: Vec<Variant> = rungs
        .iter()
        .zip(video_codecs)
        .map(|(rung, codec)| {
            let audio = has_audio.then(|| audio::of(rung));
            let audio_bps = audio.map_or(0, |a| u64::from(a.kbps) * 1000);
            Variant {
                rendition: Rendition {
                    name: rung.name.clone(),
                    width: rung.width,
                    height: rung.height,
                    bandwidth: u64::from(rung.max_kbps()) * 1000 + audio_bps,
                    average_bandwidth: u64::from(rung.video_kbps) * 1000 + audio_bps,
                    codecs: codecs(codec.clone(), has_audio),
                },
                audio,
                iframes: None,
            }
        })
        .collect();
    render(&variants, tracks, frame_rate)
}

/// The finished master of a chunked video, measured over each whole rung as
/// [`write`] measures one run's: `rung_segments[i]`, `iframe_segments[i]` (its I-frame
/// playlist's entries; none without trick play) and `video_codecs[i]` are rung `i`'s,
/// `audio` each audio rendition's of the source's `tracks` (none for a silent video).
pub fn measured(
    rungs: &[Rung],
    rung_segments: &[SegmentSizes],
    iframe_segments: Option<&[SegmentSizes]>,
    video_codecs: &[String],
    audio: &[(audio::Output, SegmentSizes)],
    tracks: &[AudioTrack],
    frame_rate: f64,
) -> anyhow::Result<(Vec<u8>, Vec<Rendition>)> {
    let measured = audio
        .iter()
        .map(|(output, sizes)| Ok((output.group, peak_and_average(sizes)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let audio_rates = group_rates(measured);
    let has_audio = !audio.is_empty();
    let variants = rungs
        .iter()
        .zip(rung_segments)
        .zip(video_codecs)
        .enumerate()
        .map(|(i, ((rung, segments), codec))| {
            let iframes = iframe_segments.map(|all| peak_and_average(&all[i])).transpose()?;
            Variant::measured(rung, peak_and_average(segments)?, codec.clone(), has_audio, &audio_rates, iframes)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let body = render(&variants, tracks, frame_rate)?;
    Ok((body, variants.into_iter().map(|v| v.rendition).collect()))
}

/// A rung as the master lists it, with the audio it plays (`None`: silent) and its
/// I-frame playlist's `(peak, mean)` bit rates once it is finished.
struct Variant {
    rendition: Rendition,
    audio: Option<AudioRendition>,
    iframes: Option<(u64, u64)>,
}

impl Variant {
    /// A finished rung from what was measured: its video's `(peak, mean)` bit rates and
    /// codec, each audio rendition's `(peak, mean)` (with `has_audio`; the rung's own is
    /// added to its figures) and its I-frame playlist's.
    fn measured(
        rung: &Rung,
        (peak, mean): (u64, u64),
        video_codec: String,
        has_audio: bool,
        audio_rates: &HashMap<&str, (u64, u64)>,
        iframes: Option<(u64, u64)>,
    ) -> anyhow::Result<Self> {
        let audio = has_audio.then(|| audio::of(rung));
        let (audio_peak, audio_mean) = match audio {
            Some(a) => *audio_rates.get(a.name).with_context(|| format!("no {} measured", a.name))?,
            None => (0, 0),
        };
        Ok(Self {
            rendition: Rendition {
                name: rung.name.clone(),
                width: rung.width,
                height: rung.height,
                bandwidth: peak + audio_peak,
                average_bandwidth: mean + audio_mean,
                codecs: codecs(video_codec, has_audio),
            },
            audio,
            iframes,
        })
    }
}

fn codecs(video_codec: String, has_audio: bool) -> String {
    if has_audio { format!("{video_codec},{}", audio::CODEC) } else { video_codec }
}

fn render(variants: &[Variant], tracks: &[AudioTrack], frame_rate: f64) -> anyhow::Result<Vec<u8>> {
    let mut groups: Vec<AudioRendition> = Vec::new();
    for audio in variants.iter().filter_map(|v| v.audio) {
        if !groups.contains(&audio) {
            groups.push(audio);
        }
    }
    let alternatives = groups
        .into_iter()
        .flat_map(|group| tracks.iter().enumerate().map(move |(position, track)| (group, position, track)))
        .map(|(group, position, track)| audio_rendition(group, position, track))
        .collect();
    let playlist = MasterPlaylist {
        version: Some(3),
        independent_segments: true,
        alternatives,
        variants: variants
            .iter()
            .map(|Variant { rendition: r, audio, .. }| VariantStream {
                uri: format!("{}/{PLAYLIST}", r.name),
                bandwidth: r.bandwidth,
                average_bandwidth: Some(r.average_bandwidth),
                codecs: Some(r.codecs.clone()),
                resolution: Some(resolution(r)),
                frame_rate: Some((frame_rate * 1000.0).round() / 1000.0),
                audio: audio.map(|a| a.name.into()),
                other_attributes: Some(sdr()),
                ..Default::default()
            })
            .chain(variants.iter().filter_map(iframe_variant))
            .collect(),
        ..Default::default()
    };
    let mut bytes = Vec::new();
    playlist.write_to(&mut bytes)?;
    Ok(bytes)
}

/// A rung's `EXT-X-I-FRAME-STREAM-INF`: its picture only (no audio, no FRAME-RATE).
fn iframe_variant(variant: &Variant) -> Option<VariantStream> {
    let ((bandwidth, average_bandwidth), r) = (variant.iframes?, &variant.rendition);
    Some(VariantStream {
        is_i_frame: true,
        uri: format!("{}/{IFRAME_PLAYLIST}", r.name),
        bandwidth,
        average_bandwidth: Some(average_bandwidth),
        codecs: r.codecs.split(',').next().map(String::from),
        resolution: Some(resolution(r)),
        other_attributes: Some(sdr()),
        ..Default::default()
    })
}

fn resolution(r: &Rendition) -> Resolution {
    Resolution { width: u64::from(r.width), height: u64::from(r.height) }
}

/// `VIDEO-RANGE=SDR`, which m3u8-rs has no field for.
fn sdr() -> HashMap<String, QuotedOrUnquoted> {
    HashMap::from([("VIDEO-RANGE".to_owned(), QuotedOrUnquoted::Unquoted("SDR".into()))])
}

/// Source track `track` (at `position`, 0 the default) in the audio group `group`.
fn audio_rendition(group: AudioRendition, position: usize, track: &AudioTrack) -> AlternativeMedia {
    let default = position == 0;
    AlternativeMedia {
        media_type: AlternativeMediaType::Audio,
        uri: Some(format!("{}/{PLAYLIST}", layout::audio_rendition_name(group.name, position))),
        group_id: group.name.into(),
        language: track.language.as_ref().map(ToString::to_string),
        name: if group == audio::LOW { track.low_name.clone() } else { track.name.clone() },
        default,
        autoselect: true,
        channels: Some("2".into()),
        // m3u8-rs leaves a false DEFAULT out; it is written for players that want it said.
        other_attributes: (!default)
            .then(|| HashMap::from([("DEFAULT".to_owned(), QuotedOrUnquoted::Unquoted("NO".into()))])),
        ..Default::default()
    }
}

/// `(peak, average)` bits per second over the rung's segments, and the first segment.
fn measure(rung_dir: &Path) -> anyhow::Result<(u64, u64, MediaSegment)> {
    let raw =
        std::fs::read(rung_dir.join(PLAYLIST)).with_context(|| format!("reading {}/{PLAYLIST}", rung_dir.display()))?;
    let playlist = m3u8_rs::parse_media_playlist_res(&raw)
        .map_err(|e| anyhow::anyhow!("ffmpeg wrote an unreadable playlist: {e}"))?;
    anyhow::ensure!(
        !playlist.segments.is_empty(),
        "ffmpeg wrote a playlist without segments in {}",
        rung_dir.display()
    );
    let segments = playlist
        .segments
        .iter()
        .map(|segment| {
            let bytes = std::fs::metadata(rung_dir.join(&segment.uri))
                .with_context(|| format!("segment {}", segment.uri))?
                .len();
            Ok((bytes, f64::from(segment.duration)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sizes = SegmentSizes { segments, target_duration: playlist.target_duration };
    let (peak, average) = peak_and_average(&sizes)?;
    Ok((peak, average, playlist.segments[0].clone()))
}

/// `avc1.PPCCLL` (RFC 6381) of the rung in `rung_dir` whose first segment is `first`:
/// from its fMP4 initialization segment's `avcC`, or from the first SPS in an MPEG-TS
/// segment (profile, constraint flags, level).
pub fn video_codec_of(rung_dir: &Path, first: &MediaSegment) -> anyhow::Result<String> {
    if let Some(init) = &first.map {
        let bytes = std::fs::read(rung_dir.join(&init.uri)).with_context(|| format!("reading {}", init.uri))?;
        return fmp4::video_codec(&bytes).with_context(|| format!("no H.264 configuration in {}", init.uri));
    }
    let segment = rung_dir.join(&first.uri);
    let ts = std::fs::read(&segment).with_context(|| format!("reading {}", segment.display()))?;
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
             #EXTINF:6.0,\nseg_000.ts\n#EXTINF:3.0,\nseg_001.ts\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("seg_000.ts"), vec![0u8; 6000]).unwrap(); // 8000 bit/s
        std::fs::write(dir.path().join("seg_001.ts"), vec![0u8; 4500]).unwrap(); // 12000 bit/s
        let (peak, average, first) = measure(dir.path()).unwrap();
        assert_eq!((peak, average, first.uri.as_str()), (12000, 9334, "seg_000.ts"));
    }

    #[test]
    fn every_variant_is_sdr_and_the_low_rung_plays_the_low_rate_audio() {
        use crate::ladder::Level;
        let rung = |name: &str, video_kbps| Rung {
            name: name.into(),
            width: 2,
            height: 2,
            video_kbps,
            level: Level { idc: 30 },
        };
        let rungs = [rung("360p", 800), rung("240p", 80)];
        let codecs = ["avc1.64001e".to_owned(), "avc1.64000d".to_owned()];
        let original = crate::tracks::audio(&[crate::tracks::Probed {
            stream: 1,
            codec: Some("aac"),
            language: None,
            title: None,
            default: false,
        }]);
        let text = String::from_utf8(provisional(&rungs, &codecs, 30.0, &original).unwrap()).unwrap();
        let master = m3u8_rs::parse_master_playlist_res(text.as_bytes()).unwrap();
        let groups: Vec<_> = master.alternatives.iter().map(|a| (a.group_id.as_str(), a.uri.as_deref())).collect();
        assert_eq!(groups, [("audio", Some("audio/index.m3u8")), ("audio_low", Some("audio_low/index.m3u8"))]);
        let audio: Vec<_> = master.variants.iter().map(|v| (v.uri.as_str(), v.audio.as_deref(), v.bandwidth)).collect();
        assert_eq!(
            audio,
            [("360p/index.m3u8", Some("audio"), 984_000), ("240p/index.m3u8", Some("audio_low"), 133_000)]
        );
        assert_eq!(text.matches("VIDEO-RANGE=SDR").count(), 2, "{text}");
        assert!(
            text.contains("GROUP-ID=\"audio\",NAME=\"Original\",DEFAULT=YES")
                && text.contains("GROUP-ID=\"audio_low\",NAME=\"Original (low bit rate)\",DEFAULT=YES"),
            "a single track is named as it always was: {text}"
        );
    }

    #[test]
    fn every_group_lists_every_track_with_its_language_and_one_default() {
        use crate::ladder::Level;
        use crate::tracks::{Probed, audio as tracks_of};
        let rung = |name: &str, video_kbps| Rung {
            name: name.into(),
            width: 2,
            height: 2,
            video_kbps,
            level: Level { idc: 30 },
        };
        let probed = |stream, language| Probed {
            stream,
            codec: Some("aac"),
            language: Some(language),
            title: None,
            default: false,
        };
        let tracks = tracks_of(&[probed(1, "fra"), probed(2, "eng")]);
        let rungs = [rung("360p", 800), rung("240p", 80)];
        let codecs = ["avc1.64001e".to_owned(), "avc1.64000d".to_owned()];
        let text = String::from_utf8(provisional(&rungs, &codecs, 30.0, &tracks).unwrap()).unwrap();
        let master = m3u8_rs::parse_master_playlist_res(text.as_bytes()).unwrap();
        let listed: Vec<_> = master
            .alternatives
            .iter()
            .map(|a| (a.group_id.as_str(), a.language.as_deref(), a.name.as_str(), a.default, a.uri.as_deref()))
            .collect();
        assert_eq!(
            listed,
            [
                ("audio", Some("fr"), "French", true, Some("audio/index.m3u8")),
                ("audio", Some("en"), "English", false, Some("audio_2/index.m3u8")),
                ("audio_low", Some("fr"), "French", true, Some("audio_low/index.m3u8")),
                ("audio_low", Some("en"), "English", false, Some("audio_low_2/index.m3u8")),
            ]
        );
        assert_eq!(text.matches("DEFAULT=YES").count(), 2, "one default per group: {text}");
        assert_eq!(text.matches("DEFAULT=NO").count(), 2, "{text}");
    }

    #[test]
    fn a_finished_rung_lists_its_iframe_playlist_with_its_picture_only() {
        use crate::ladder::Level;
        let rungs = [Rung { name: "360p".into(), width: 640, height: 360, video_kbps: 700, level: Level { idc: 30 } }];
        let sizes = |segments: Vec<(u64, f64)>| SegmentSizes { segments, target_duration: 6 };
        let video = [sizes(vec![(600_000, 6.0)])];
        let iframes = [sizes(vec![(30_000, 2.0), (15_000, 2.0), (15_000, 2.0)])];
        let audio = audio::outputs(&rungs, 1).into_iter().map(|o| (o, sizes(vec![(96_000, 6.0)]))).collect::<Vec<_>>();
        let tracks = crate::tracks::audio(&[crate::tracks::Probed {
            stream: 1,
            codec: Some("aac"),
            language: None,
            title: None,
            default: false,
        }]);
        let (body, _) =
            measured(&rungs, &video, Some(&iframes[..]), &["avc1.64001e".into()], &audio, &tracks, 30.0).unwrap();
        let text = String::from_utf8(body).unwrap();
        let line =
            text.lines().find(|l| l.starts_with("#EXT-X-I-FRAME-STREAM-INF:")).unwrap_or_else(|| panic!("{text}"));
        // The peak of runs of 3 to 9 s: the first 4 s.
        assert_eq!(
            line,
            "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,AVERAGE-BANDWIDTH=80000,CODECS=\"avc1.64001e\",\
             RESOLUTION=640x360,VIDEO-RANGE=SDR,URI=\"360p/iframes.m3u8\""
        );
        let (encrypted, _) = measured(&rungs, &video, None, &["avc1.64001e".into()], &audio, &tracks, 30.0).unwrap();
        let encrypted = String::from_utf8(encrypted).unwrap();
        assert!(!encrypted.contains("I-FRAME") && encrypted.contains("360p/index.m3u8"), "{encrypted}");
    }
}
