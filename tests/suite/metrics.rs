//! `/metrics`: after an upload, a transcode, segment requests and a failure, the
//! figures moved as they should, every series is labelled by route template (never by
//! a video's id), and Prometheus's own linter accepts the exposition.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, fake_video, free_port, make_clip};

const DEADLINE: Duration = Duration::from_secs(180);

async fn scrape(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

/// The value of the series written exactly `series` (name and labels as rendered), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_an_upload_a_transcode_segment_requests_and_a_failure() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let before = scrape(&app).await;
    assert_eq!(value(&before, "streambox_upload_bytes_total{protocol=\"multipart\"}"), 0.0);

    let clip = make_clip(app.dir.path(), "measured.mp4", 640, 360, 4, true);
    let clip_bytes = std::fs::metadata(&clip).unwrap().len() as f64;
    let id = app.upload_accepted(&token, &clip, "Measured").await;
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let rungs = video["renditions"].as_array().unwrap().len();

    let refused = app.upload_buffered(&token, &fake_video(), "Notes").await;
    assert_eq!(refused.status(), StatusCode::ACCEPTED, "it starts like a video, so it is taken");
    let broken = refused.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let failed = app.wait_for_status(&token, &broken, &["ready", "failed"], DEADLINE).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    let playback = app.get_json(&format!("/api/v1/videos/{id}/playback"), &token).await;
    let master_url = app.url(playback["master_url"].as_str().unwrap());
    let master = app.http.get(&master_url).send().await.unwrap().text().await.unwrap();
    let variant_uri = master.lines().find(|l| l.ends_with(".m3u8")).unwrap().to_owned();
    let variant_url = format!("{}/{variant_uri}", master_url.rsplit_once('/').unwrap().0);
    let variant = app.http.get(&variant_url).send().await.unwrap().text().await.unwrap();
    let segment = variant.lines().find(|l| l.ends_with(".ts")).unwrap();
    let segment_url = format!("{}/{segment}", variant_url.rsplit_once('/').unwrap().0);
    let mut segment_bytes = 0.0;
    for _ in 0..3 {
        let body = app.http.get(&segment_url).send().await.unwrap().bytes().await.unwrap();
        segment_bytes += body.len() as f64;
    }

    let after = scrape(&app).await;
    let uploads = "streambox_http_requests_total{route=\"/api/v1/uploads\",method=\"POST\",status=\"2xx\"}";
    assert_eq!(value(&after, uploads), 2.0, "{after}");
    let segments =
        "streambox_http_requests_total{route=\"/hls/{video_id}/{rendition}/{file}\",method=\"GET\",status=\"2xx\"}";
    assert!(value(&after, segments) >= 3.0, "{after}");
    assert!(
        value(&after, "streambox_http_request_duration_seconds_count{route=\"/api/v1/uploads\",method=\"POST\"}")
            >= 2.0
    );
    let uploaded = value(&after, "streambox_upload_bytes_total{protocol=\"multipart\"}");
    assert_eq!(uploaded, clip_bytes + fake_video().len() as f64, "{after}");
    assert_eq!(value(&after, "streambox_uploads_active{protocol=\"multipart\"}"), 0.0);
    assert_eq!(value(&after, &format!("streambox_transcode_duration_seconds_count{{rungs=\"{rungs}\"}}")), 1.0);
    assert!(value(&after, &format!("streambox_transcode_speed_ratio_sum{{rungs=\"{rungs}\"}}")) > 0.0);
    assert_eq!(value(&after, "streambox_transcode_failures_total{class=\"permanent\"}"), 1.0, "{after}");
    assert_eq!(value(&after, "streambox_jobs{state=\"done\"}"), 1.0);
    assert_eq!(value(&after, "streambox_jobs{state=\"dead\"}"), 1.0);
    assert_eq!(value(&after, "streambox_jobs{state=\"queued\"}"), 0.0);
    assert_eq!(value(&after, "streambox_oldest_queued_job_age_seconds"), 0.0);
    // The first request for the segment fetched it; the next two came from the cache.
    assert!(value(&after, "streambox_stream_cache_hits_total") >= 2.0, "{after}");
    assert!(value(&after, "streambox_stream_cache_misses_total") >= 1.0, "{after}");
    assert!(value(&after, "streambox_stream_cache_bytes") > 0.0);
    assert!(value(&after, "streambox_stream_bytes_total") >= segment_bytes, "{after}");
    assert_eq!(value(&after, "streambox_dependency_up{dependency=\"redis\"}"), 1.0);
    assert_eq!(value(&after, "streambox_dependency_up{dependency=\"transcode_worker\"}"), 1.0);
    assert_eq!(value(&after, "streambox_ready"), 1.0);
    assert!(value(&after, "streambox_db_connections{state=\"idle\"}") >= 1.0);
    assert!(!after.contains(&id) && !after.contains(&broken), "no series names a video");

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/test installs it)");
    promtool.stdin.take().unwrap().write_all(after.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[tokio::test]
async fn metrics_move_to_their_own_port_or_go_away_when_configured() {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let apart = TestApp::spawn_with(&[("STREAMBOX_METRICS_BIND", bind.as_str())]).await;
    let public = apart.http.get(apart.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND, "not on the service's own port");
    let private = apart.http.get(format!("http://{bind}/metrics")).send().await.unwrap();
    assert_eq!(private.status(), StatusCode::OK);
    assert!(private.text().await.unwrap().contains("# TYPE streambox_http_requests_total counter"));

    let off = TestApp::spawn_with(&[("STREAMBOX_METRICS", "false")]).await;
    assert_eq!(off.http.get(off.url("/metrics")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}
