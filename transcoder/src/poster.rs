//! The poster: a representative frame from about 10% into the video (ffmpeg's
//! `thumbnail` filter picks the most typical of the next frames, which skips black
//! frames and fades), scaled like the top rung.

use std::path::Path;
use std::time::Duration;

use crate::ffmpeg::{self, FfmpegError, Limits};
use crate::ladder::Rung;

pub async fn extract(source: &Path, duration_s: f64, top: &Rung, dest: &Path) -> Result<(), FfmpegError> {
    // Early enough to exist in short clips, late enough to skip fade-ins and black leaders.
    let at = (duration_s * 0.1).min(duration_s - 0.5).max(0.0);
    let (width, height) = fit_within(top.width, top.height, 1280);
    let args = [
        "-y".to_owned(),
        "-ss".into(),
        format!("{at:.3}"),
        "-i".into(),
        source.display().to_string(),
        "-frames:v".into(),
        "1".into(),
        "-vf".into(),
        format!("thumbnail=50,scale={width}:{height},setsar=1"),
        "-q:v".into(),
        "3".into(),
        dest.display().to_string(),
    ];
    let limits = Limits { stall: Duration::from_secs(60), wall_clock: Duration::from_secs(120) };
    ffmpeg::run(args.to_vec(), limits, |_| {}).await
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
