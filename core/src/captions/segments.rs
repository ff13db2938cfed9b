//! A caption track as an HLS subtitle rendition: a VOD playlist of WebVTT segments of
//! [`SEGMENT_MS`] each. A cue is written into every segment it overlaps (players drop
//! the repeats). Every segment carries `X-TIMESTAMP-MAP`, tying its cue times to the
//! MPEG-TS clock of the video's segments: local time 0 is the video's first picture,
//! whose presentation timestamp the caller reads from the first published segment.
//! Without one (a first segment whose timestamp cannot be read) the map is left out,
//! and players count cue times from the start of the video's timeline.

use m3u8_rs::{MediaPlaylist, MediaPlaylistType, MediaSegment};

use super::webvtt::{self, Cue};

/// How long each caption segment is.
pub const SEGMENT_MS: u64 = 10_000;

/// One segment file: its index and WebVTT body.
pub struct Segment {
    /// Its place in the playlist, from 0.
    pub index: usize,
    /// The WebVTT text.
    pub body: String,
}

/// The segments of `cues`, with local time 0 at MPEG-TS time `first_pts` (90 kHz).
pub fn segments(cues: &[Cue], first_pts: Option<u64>) -> Vec<Segment> {
    let end = cues.iter().map(|c| c.end_ms).max().unwrap_or_default();
    let count = end.div_ceil(SEGMENT_MS).max(1) as usize;
    (0..count)
        .map(|index| {
            let (from, to) = (index as u64 * SEGMENT_MS, (index as u64 + 1) * SEGMENT_MS);
            let mut body = String::from("WEBVTT\n");
            if let Some(pts) = first_pts {
                body.push_str(&format!("X-TIMESTAMP-MAP=MPEGTS:{pts},LOCAL:00:00:00.000\n"));
            }
            for (id, cue) in cues.iter().enumerate().filter(|(_, c)| c.start_ms < to && c.end_ms > from) {
                webvtt::write_cue(&mut body, id + 1, cue);
            }
            Segment { index, body }
        })
        .collect()
}

/// The VOD playlist naming `segments` (`name_of` gives each one's file name); the last
/// ends with the last cue.
pub fn playlist(cues: &[Cue], segments: &[Segment], name_of: impl Fn(usize) -> String) -> anyhow::Result<Vec<u8>> {
    let end = cues.iter().map(|c| c.end_ms).max().unwrap_or_default();
    let playlist = MediaPlaylist {
        version: Some(3),
        target_duration: SEGMENT_MS / 1000,
        playlist_type: Some(MediaPlaylistType::Vod),
        end_list: true,
        segments: segments
            .iter()
            .map(|s| {
                let from = s.index as u64 * SEGMENT_MS;
                let ms = end.saturating_sub(from).clamp(1, SEGMENT_MS);
                MediaSegment { uri: name_of(s.index), duration: ms as f32 / 1000.0, ..Default::default() }
            })
            .collect(),
        ..Default::default()
    };
    let mut bytes = Vec::new();
    playlist.write_to(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start_ms: u64, end_ms: u64, text: &str) -> Cue {
        Cue { start_ms, end_ms, text: text.into() }
    }

    #[test]
    fn each_segment_maps_its_clock_and_holds_the_cues_it_overlaps() {
        let cues = [cue(1_000, 2_000, "a"), cue(9_500, 10_500, "b"), cue(21_000, 22_000, "c")];
        assert!(!segments(&cues, None)[0].body.contains("X-TIMESTAMP-MAP"), "no map without a timestamp");
        let made = segments(&cues, Some(126_000));
        assert_eq!(made.len(), 3);
        assert!(made.iter().all(|s| s.body.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n")));
        assert!(made[0].body.contains("\na\n") && made[0].body.contains("\nb\n"));
        assert!(made[1].body.contains("\n2\n00:00:09.500 --> 00:00:10.500\nb\n") && !made[1].body.contains("\na\n"));
        assert!(made[2].body.contains("\nc\n"));
        let text = String::from_utf8(playlist(&cues, &made, |i| format!("r1_{i:03}.vtt")).unwrap()).unwrap();
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.contains("#EXT-X-ENDLIST"), "{text}");
        assert!(text.contains("#EXTINF:10,\nr1_000.vtt") || text.contains("#EXTINF:10.0"), "{text}");
        assert!(text.contains("#EXTINF:2,\nr1_002.vtt") || text.contains("#EXTINF:2.0"), "{text}");
    }
}
