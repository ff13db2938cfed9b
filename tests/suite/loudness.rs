//! Loudness normalisation: a loud and a quiet upload both play at the configured
//! integrated loudness (-16 LUFS by default) with true peaks under -1 dBTP, measured
//! with ffmpeg's `ebur128` filter on every audio rendition the streamer serves.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::TestApp;

const TARGET_LUFS: f64 = -16.0;

/// 20 s of 640x360 with a tone over pink noise, the tone at `tone_volume` and the
/// noise at `noise_amplitude`: the source's loudness.
fn source(dir: &Path, name: &str, tone_volume: f64, noise_amplitude: f64) -> PathBuf {
    let path = dir.join(name);
    let graph = format!("[1:a]volume={tone_volume}[tone];[tone][2:a]amix=inputs=2:normalize=0[a]");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-f", "lavfi", "-i", &format!("anoisesrc=color=pink:amplitude={noise_amplitude}:sample_rate=48000")])
        .args(["-filter_complex", &graph, "-map", "0:v", "-map", "[a]", "-t", "20"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// `(integrated LUFS, true peak dBTP)` of `input` as `ebur128` measures it.
fn loudness(input: &str) -> (f64, f64) {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i", input, "-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    let summary = log.rsplit_once("Summary:").map(|(_, s)| s.to_owned()).unwrap_or_default();
    let value = |label: &str| {
        summary
            .lines()
            .find_map(|l| l.trim().strip_prefix(label)?.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {label} in {log}"))
    };
    (value("I:"), value("Peak:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loud_and_quiet_uploads_play_at_the_target_loudness() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let sources = [("loud.mp4", 6.0, 0.5), ("quiet.mp4", 0.02, 0.01)];
    let mut uploaded = Vec::new();
    for (name, tone, noise) in sources {
        let path = source(app.dir.path(), name, tone, noise);
        let (lufs, _) = loudness(&path.display().to_string());
        uploaded.push((name, lufs, app.upload_accepted(&token, &path, name).await));
    }
    let (loud, quiet) = (uploaded[0].1, uploaded[1].1);
    assert!(loud > TARGET_LUFS + 5.0 && quiet < TARGET_LUFS - 20.0, "sources at {loud:.1} and {quiet:.1} LUFS");

    let mut off = Vec::new();
    for (name, source_lufs, id) in &uploaded {
        let video: Value = app.wait_for_status(&token, id, &["ready", "failed"], Duration::from_secs(300)).await;
        assert_eq!(video["status"], "ready", "{video}");
        let master_url = app.url(video["master_url"].as_str().unwrap());
        let master = app.http.get(&master_url).send().await.unwrap().bytes().await.unwrap();
        let master = m3u8_rs::parse_master_playlist_res(&master).unwrap();
        let base = master_url.rsplit_once('/').unwrap().0;
        assert_eq!(master.alternatives.len(), 2, "{name}: the shared and the low-rate audio");
        for audio in &master.alternatives {
            let uri = audio.uri.as_deref().unwrap();
            let (lufs, peak) = loudness(&format!("{base}/{uri}"));
            if (lufs - TARGET_LUFS).abs() > 1.0 || peak > -1.0 {
                off.push(format!("{name} ({source_lufs:.1} LUFS) {uri}: {lufs:.1} LUFS, true peak {peak:.1} dBTP"));
            }
        }
    }
    assert!(off.is_empty(), "not at {TARGET_LUFS} LUFS under -1 dBTP:\n{}", off.join("\n"));
}
