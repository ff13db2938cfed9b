//! The poster: a representative frame from about 10% into the video (ffmpeg's
//! `thumbnail` filter picks the most typical of the next frames, which skips black
//! frames and fades), scaled like the top rung, made in the ladder's own ffmpeg run.
//! The first frame is written first, so the output starts at once (see
//! [`StillOutput`]); the chosen frame replaces it.

use std::path::Path;

use crate::encode::{StillKind, StillOutput};
use crate::ladder::Rung;

/// Frames the `thumbnail` filter compares.
const CANDIDATES: u32 = 50;

pub fn output(duration_s: f64, frame_rate: f64, top: &Rung, dest: &Path) -> StillOutput {
    // Early enough that the candidates exist even in short clips.
    let window = f64::from(CANDIDATES) / frame_rate.max(1.0);
    let at = (duration_s * 0.1).min(duration_s - window).max(0.0);
    let (width, height) = fit_within(top.width, top.height, 1280);
    StillOutput {
        // The window bounds the branch: after it, trim drops frames without looking at them.
        filter: format!(
            "split[poster_first][poster_window];\
             [poster_first]trim=end_frame=1,scale={width}:{height},setsar=1[poster_start];\
             [poster_window]trim=start={at:.3}:duration={window:.3},thumbnail={CANDIDATES},\
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

    #[test]
    fn posters_stay_within_1280() {
        assert_eq!(fit_within(1920, 1080, 1280), (1280, 720));
        assert_eq!(fit_within(1080, 1920, 1280), (720, 1280));
        assert_eq!(fit_within(854, 480, 1280), (854, 480));
    }
}
