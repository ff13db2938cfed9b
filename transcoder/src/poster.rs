//! The poster: a representative frame from about 10% into the video (ffmpeg's
//! `thumbnail` filter picks the most typical of the next frames, which skips black
//! frames and fades), scaled like the top rung, made in the ladder's own ffmpeg run.
//! The first frame is written first, so the output starts at once (see
//! [`StillOutput`]); the chosen frame replaces it.

use std::path::Path;

use crate::encode::{StillKind, StillOutput};
use crate::ladder::Rung;

/// Frames the `thumbnail` filter compares.
const CANDIDATES: u64 = 50;

/// `frame_rate` is the ladder's constant output rate: the graph has normalised the
/// source to it before the poster's branch, so frames are counted, not timed. Exactly
/// `CANDIDATES` frames reach `thumbnail`: one more would be "chosen" on its own at the
/// end of the window and replace the poster.
pub fn output(duration_s: f64, frame_rate: f64, top: &Rung, dest: &Path) -> StillOutput {
    let (first, end) = window(duration_s, frame_rate);
    still(first, end, top, dest)
}

/// The poster's branch of a chunk's run, if the chunk holds the start of the poster's
/// window (`[first_frame, end_frame)` are the chunk's frames; its first is the
/// placeholder). The window ends with the chunk if it would run past it.
pub fn output_in_chunk(
    duration_s: f64,
    frame_rate: f64,
    top: &Rung,
    dest: &Path,
    first_frame: u64,
    end_frame: Option<u64>,
) -> Option<StillOutput> {
    let (first, end) = window(duration_s, frame_rate);
    let holds = first >= first_frame && end_frame.is_none_or(|e| first < e);
    holds.then(|| {
        let end = end_frame.map_or(end, |e| end.min(e));
        still(first - first_frame, end - first_frame, top, dest)
    })
}

/// The frames `[first, end)` the poster is chosen from, counted from the video's start.
fn window(duration_s: f64, frame_rate: f64) -> (u64, u64) {
    let frames = (duration_s * frame_rate).floor() as u64;
    // Early enough that the candidates exist even in short clips.
    let first = ((frames as f64 * 0.1) as u64).min(frames.saturating_sub(CANDIDATES));
    (first, first + CANDIDATES)
}

/// The poster's branch, choosing among the frames `[first, end)` of what reaches it.
fn still(first: u64, end: u64, top: &Rung, dest: &Path) -> StillOutput {
    let candidates = end - first;
    let (width, height) = fit_within(top.width, top.height, 1280);
    StillOutput {
        // After the window, trim drops frames without looking at them.
        filter: format!(
            "split[poster_first][poster_window];\
             [poster_first]trim=end_frame=1,scale={width}:{height},setsar=1[poster_start];\
             [poster_window]trim=start_frame={first}:end_frame={end},thumbnail={candidates},\
             scale={width}:{height},setsar=1[poster_best];\
             [poster_start][poster_best]concat=n=2:v=1:a=0"
        ),
        path: dest.to_owned(),
        kind: StillKind::Latest,
    }
}

/// Scales `(w, h)` down so the longer side is at most `max`, keeping dimensions even.
fn fit_within(w: u32, h: u32, max: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= max {
        return (w, h);
    }
    let scale = |n: u32| ((f64::from(n) * f64::from(max) / f64::from(long) / 2.0).round() as u32 * 2).max(2);
    (scale(w), scale(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(duration_s: f64, frame_rate: f64) -> String {
        let top = crate::ladder::plan(
            &crate::probe::SourceInfo {
                duration_s,
                display_width: 1920,
                display_height: 1080,
                frame_rate: "30".into(),
                frame_rate_value: frame_rate,
                native_frame_rate: frame_rate,
                audio_tracks: Vec::new(),
                subtitle_tracks: Vec::new(),
                video_codec: "h264".into(),
                audio_codec: None,
                bitrate: None,
                hdr: None,
            },
            &[(1080, 5000)],
        );
        let filter = output(duration_s, frame_rate, &top[0], Path::new("p.jpg")).filter;
        filter.split("[poster_window]").nth(2).unwrap().split(',').next().unwrap().to_owned()
    }

    #[test]
    fn the_window_is_fifty_frames_from_ten_percent_in() {
        assert_eq!(window(600.0, 30.0), "trim=start_frame=1800:end_frame=1850");
        assert_eq!(window(10.0, 29.97), "trim=start_frame=29:end_frame=79");
        // Too short to start 10% in: the window ends with the video.
        assert_eq!(window(2.0, 30.0), "trim=start_frame=6:end_frame=56");
        assert_eq!(window(1.0, 30.0), "trim=start_frame=0:end_frame=50");
    }

    #[test]
    fn a_chunk_makes_the_poster_only_if_it_holds_the_windows_start() {
        let top = &crate::ladder::plan(
            &crate::probe::SourceInfo {
                duration_s: 600.0,
                display_width: 1920,
                display_height: 1080,
                frame_rate: "30".into(),
                frame_rate_value: 30.0,
                native_frame_rate: 30.0,
                audio_tracks: Vec::new(),
                subtitle_tracks: Vec::new(),
                video_codec: "h264".into(),
                audio_codec: None,
                bitrate: None,
                hdr: None,
            },
            &[(1080, 5000)],
        )[0];
        let dest = Path::new("p.jpg");
        // The window is frames 1800..1850.
        assert!(output_in_chunk(600.0, 30.0, top, dest, 0, Some(1800)).is_none());
        assert!(output_in_chunk(600.0, 30.0, top, dest, 1850, None).is_none());
        let inside = output_in_chunk(600.0, 30.0, top, dest, 1200, Some(3000)).unwrap().filter;
        assert!(inside.contains("trim=start_frame=600:end_frame=650,thumbnail=50"), "{inside}");
        let cut = output_in_chunk(600.0, 30.0, top, dest, 1800, Some(1820)).unwrap().filter;
        assert!(cut.contains("trim=start_frame=0:end_frame=20,thumbnail=20"), "{cut}");
    }

    #[test]
    fn posters_stay_within_1280() {
        assert_eq!(fit_within(1920, 1080, 1280), (1280, 720));
        assert_eq!(fit_within(1080, 1920, 1280), (720, 1280));
        assert_eq!(fit_within(854, 480, 1280), (854, 480));
    }
}
