//! A real browser plays a video while it is still being encoded, and a chunked video
//! across its chunk boundaries: headless Chromium (Debian's, driven by playwright-core
//! from tests/browser) with the dev frontend's HLS.js, against a real worker,
//! PostgreSQL, Redis, S3 endpoint and ffmpeg.

use crate::support::browser::run_script;
use crate::support::{TestApp, make_clip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_plays_a_video_while_it_is_encoded_and_on_past_its_end() {
    // The default preset: the encode takes longer than the first 8 s of playback.
    let app = TestApp::spawn_with(&[("STREAMBOX_X264_PRESET", "veryfast")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "growing.mp4", 1280, 720, 60, true);
    let id = app.upload_accepted(&token, &clip, "Growing").await;
    crate::support::eventually(std::time::Duration::from_secs(120), "the video to become playable", || async {
        let video = app.get_json(&format!("/api/v1/videos/{id}"), &token).await;
        assert!(matches!(video["status"].as_str(), Some("queued" | "processing")), "seen before ready: {video}");
        (video["playable"] == true).then_some(())
    })
    .await;

    let report = run_script("play_growing.mjs", &[app.base.clone(), id.clone(), token.clone()]).await;
    assert_eq!(report["passed8WhileProcessing"], true, "playback passed 8 s before the job finished: {report}");
    let ready_at = report["readyAt"].as_f64().expect("the job finished while the browser played");
    assert!(report["lastTime"].as_f64().unwrap() >= ready_at + 5.0, "it played on past the job's end: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_plays_a_chunked_video_across_its_boundaries_switching_levels() {
    let app = TestApp::spawn_with(&[("STREAMBOX_CHUNK_SECONDS", "12"), ("STREAMBOX_LADDER", "360:800,240:400")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "chunks.mp4", 640, 360, 36, true);
    let id = app.upload_accepted(&token, &clip, "Chunks").await;
    app.wait_for_status(&token, &id, &["ready"], std::time::Duration::from_secs(180)).await;
    let chunks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transcode_chunks c JOIN transcode_jobs j ON j.id = c.job_id
         WHERE j.video_id = $1::uuid AND c.kind = 'video'",
    )
    .bind(&id)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(chunks, 3, "the video was encoded in three chunks");

    let report = run_script("play_chunks.mjs", &[app.base.clone(), id.clone(), token.clone(), "12".into()]).await;
    assert_eq!(report["ended"], true, "it played to the end: {report}");
    assert_eq!(report["stalls"], serde_json::json!([]), "no stall: {report}");
    assert_eq!(report["errors"], serde_json::json!([]), "no error: {report}");
    let levels: Vec<i64> = report["switchedTo"].as_array().unwrap().iter().map(|s| s[1].as_i64().unwrap()).collect();
    assert!(levels.contains(&0) && levels.contains(&1), "it switched between both levels: {report}");
}
