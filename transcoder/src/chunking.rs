//! How a long source is cut into parts: its picture in chunks of about
//! `STREAMBOX_CHUNK_SECONDS`, each starting on the frame where the one-run encode
//! starts a segment (so chunks hold whole segments, numbered as that encode numbers
//! them), its audio once, and the finishing step.

use streambox_db::chunks::{ChunkKind, NewChunk};

/// What the plan depends on.
#[derive(Debug, Clone, Copy)]
pub struct ChunkSettings {
    pub chunk_seconds: u32,
    pub segment_seconds: u32,
    /// Frames between keyframes (`encode::gop_frames`).
    pub gop_frames: u32,
}

/// The parts of a source `duration_s` long at `frame_rate`, or `None` when it is
/// encoded in one run: chunking is off, or the source is shorter than two chunks.
/// A remainder shorter than half a chunk joins the last chunk; a longer one is a chunk.
pub fn plan(duration_s: f64, frame_rate: f64, has_audio: bool, settings: ChunkSettings) -> Option<Vec<NewChunk>> {
    let ChunkSettings { chunk_seconds, segment_seconds, gop_frames } = settings;
    if chunk_seconds == 0 || segment_seconds == 0 {
        return None;
    }
    let length = f64::from(chunk_seconds);
    if duration_s < 2.0 * length {
        return None;
    }
    let whole = (duration_s / length).floor() as u32;
    let count = if duration_s - f64::from(whole) * length >= length / 2.0 { whole + 1 } else { whole };
    if count < 2 {
        return None;
    }
    // Chunk m starts where segment m * (chunk / segment) starts in one run: the first
    // keyframe at or after m * chunk seconds.
    let gop = u64::from(gop_frames.max(1));
    let first_frame = |m: u32| ((f64::from(m) * length * frame_rate - 1e-6) / gop as f64).ceil() as u64 * gop;
    let segments_per_chunk = chunk_seconds / segment_seconds;
    let mut parts: Vec<NewChunk> = (0..count)
        .map(|m| {
            let (first, end) = (first_frame(m), (m + 1 < count).then(|| first_frame(m + 1)));
            let start_s = first as f64 / frame_rate;
            let end_s = end.map_or(duration_s, |e| e as f64 / frame_rate);
            NewChunk {
                kind: ChunkKind::Video,
                first_frame: first as i64,
                end_frame: end.map(|e| e as i64),
                start_s,
                duration_s: (end_s - start_s).max(0.0),
                first_segment: (m * segments_per_chunk) as i32,
            }
        })
        .collect();
    let whole_source =
        |kind| NewChunk { kind, first_frame: 0, end_frame: None, start_s: 0.0, duration_s, first_segment: 0 };
    if has_audio {
        parts.push(whole_source(ChunkKind::Audio));
    }
    parts.push(whole_source(ChunkKind::Finish));
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIXTY: ChunkSettings = ChunkSettings { chunk_seconds: 60, segment_seconds: 6, gop_frames: 60 };

    fn ranges(parts: &[NewChunk]) -> Vec<(ChunkKind, i64, Option<i64>, i32)> {
        parts.iter().map(|p| (p.kind, p.first_frame, p.end_frame, p.first_segment)).collect()
    }

    #[test]
    fn short_sources_and_chunking_off_are_one_run() {
        assert!(plan(119.0, 30.0, true, SIXTY).is_none(), "under two chunks");
        assert_eq!(plan(120.0, 30.0, true, SIXTY).map(|p| p.len()), Some(4), "two chunks, audio, finish");
        assert!(plan(3600.0, 30.0, true, ChunkSettings { chunk_seconds: 0, ..SIXTY }).is_none(), "off");
    }

    #[test]
    fn a_long_source_is_chunked_on_segment_boundaries_then_audio_then_finish() {
        let parts = plan(150.0, 30.0, true, SIXTY).unwrap();
        assert_eq!(
            ranges(&parts),
            [
                (ChunkKind::Video, 0, Some(1800), 0),
                (ChunkKind::Video, 1800, Some(3600), 10),
                (ChunkKind::Video, 3600, None, 20),
                (ChunkKind::Audio, 0, None, 0),
                (ChunkKind::Finish, 0, None, 0),
            ]
        );
        assert_eq!(parts[2].start_s, 120.0);
        assert_eq!(parts[2].duration_s, 30.0);
    }

    #[test]
    fn a_short_remainder_joins_the_last_chunk_and_silence_has_no_audio_part() {
        let parts = plan(140.0, 30.0, false, SIXTY).unwrap();
        assert_eq!(
            ranges(&parts),
            [(ChunkKind::Video, 0, Some(1800), 0), (ChunkKind::Video, 1800, None, 10), (ChunkKind::Finish, 0, None, 0)]
        );
        assert_eq!(parts[1].duration_s, 80.0);
    }

    /// At 29.97 fps a 2 s GOP is 60 frames (2.002 s): one run starts its segment 10 on
    /// the first keyframe at or after 60 s, frame 1800, and so does chunk 1.
    #[test]
    fn chunks_start_on_the_keyframe_one_run_starts_the_segment_on() {
        let parts = plan(200.0, 30000.0 / 1001.0, true, SIXTY).unwrap();
        assert_eq!(parts[1].first_frame, 1800);
        assert!((parts[1].start_s - 60.06).abs() < 1e-9, "{}", parts[1].start_s);
    }
}
