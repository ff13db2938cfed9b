//! A real browser plays a video while it is still being encoded, a chunked video
//! across its chunk boundaries, a ladder of fragmented-MP4 segments, a video's caption
//! tracks, a source's audio languages and embedded captions, and an encrypted private
//! video: headless Chromium (Debian's, driven by playwright-core
//! from tests/browser) with the dev frontend's HLS.js, against a real worker,
//! PostgreSQL, Redis, S3 endpoint and ffmpeg.

use crate::support::browser::run_script;
use crate::support::{TestApp, make_clip, make_clip_with_tracks};

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
    let chunks = app.video_chunks(&id).await;
    assert_eq!(chunks, 3, "the video was encoded in three chunks");

    let report = run_script("play_chunks.mjs", &[app.base.clone(), id.clone(), token.clone(), "12".into()]).await;
    assert_eq!(report["ended"], true, "it played to the end: {report}");
    assert_eq!(report["stalls"], serde_json::json!([]), "no stall: {report}");
    assert_eq!(report["errors"], serde_json::json!([]), "no error: {report}");
    let levels: Vec<i64> = report["switchedTo"].as_array().unwrap().iter().map(|s| s[1].as_i64().unwrap()).collect();
    assert!(levels.contains(&0) && levels.contains(&1), "it switched between both levels: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_plays_an_fmp4_ladder_to_its_end_switching_levels() {
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_SEGMENT_FORMAT", "fmp4"),
        ("STREAMBOX_CHUNK_SECONDS", "0"),
        ("STREAMBOX_LADDER", "360:800,240:400"),
    ])
    .await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "fmp4.mp4", 640, 360, 24, true);
    let id = app.upload_accepted(&token, &clip, "Fragmented").await;
    let video = app.wait_for_status(&token, &id, &["ready"], std::time::Duration::from_secs(180)).await;
    let master = app.url(video["master_url"].as_str().unwrap());
    let variant = app.http.get(master.replace("master.m3u8", "360p/index.m3u8")).send().await.unwrap();
    let variant = variant.text().await.unwrap();
    assert!(variant.contains("#EXT-X-MAP:URI=\"init_360p.mp4") && variant.contains(".m4s"), "{variant}");

    // Switching level every 6 s, a segment's length.
    let report = run_script("play_chunks.mjs", &[app.base.clone(), id.clone(), token.clone(), "6".into()]).await;
    assert_eq!(report["ended"], true, "it played to the end: {report}");
    assert_eq!(report["stalls"], serde_json::json!([]), "no stall: {report}");
    assert_eq!(report["errors"], serde_json::json!([]), "no error: {report}");
    let levels: Vec<i64> = report["switchedTo"].as_array().unwrap().iter().map(|s| s[1].as_i64().unwrap()).collect();
    assert!(levels.contains(&0) && levels.contains(&1), "it switched between both levels: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_a_caption_track_on_time_and_switches_language() {
    let app = TestApp::spawn_with(&[("STREAMBOX_LADDER", "240:400,144:200")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "captioned.mp4", 320, 240, 12, true);
    let id = app.upload_accepted(&token, &clip, "Captioned").await;
    app.wait_for_status(&token, &id, &["ready"], std::time::Duration::from_secs(180)).await;
    for (lang, label, first, second) in
        [("en", "English", "Hello", "Second"), ("fr", "Français", "Bonjour", "Deuxième")]
    {
        let srt = format!("1\n00:00:02,000 --> 00:00:04,000\n{first}\n\n2\n00:00:07,000 --> 00:00:10,000\n{second}\n");
        let uploaded = app
            .http
            .post(app.url(&format!("/api/v1/videos/{id}/captions/{lang}")))
            .query(&[("label", label)])
            .bearer_auth(&token)
            .body(srt)
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), 201);
    }

    let args = [app.base.clone(), id.clone(), token.clone(), "en".into(), "fr".into()];
    let report = run_script("play_captions.mjs", &args).await;
    assert_eq!(report["tracks"], serde_json::json!([["en", "English"], ["fr", "Français"]]), "{report}");
    let cues = report["cues"].as_array().unwrap();
    let at = |lang: &str, text: &str| {
        cues.iter().find(|c| c[1] == lang && c[2] == text).and_then(|c| c[0].as_f64()).unwrap_or_else(|| {
            panic!("the {lang} cue {text:?} never became active: {report}");
        })
    };
    // timeupdate fires every ~250 ms: a cue is seen within that of its start.
    let hello = at("en", "Hello");
    assert!((2.0..2.6).contains(&hello), "the first cue became active at {hello} s, not at 2 s: {report}");
    let second = at("fr", "Deuxième");
    assert!((7.0..7.6).contains(&second), "after the switch, the second cue became active at {second} s: {report}");
    assert!(!cues.iter().any(|c| c[1] == "en" && c[2] == "Second"), "the first language was switched off: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_plays_an_encrypted_private_video_and_its_key_needs_the_token() {
    let app = TestApp::spawn_with(&[("STREAMBOX_LADDER", "240:400,144:200"), ("STREAMBOX_ENCRYPTION", "on")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "sealed.mp4", 320, 240, 8, true);
    let id = app.upload_accepted(&token, &clip, "Sealed").await;
    let private = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{id}")))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "visibility": "private" }))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), 200);
    app.wait_for_status(&token, &id, &["ready"], std::time::Duration::from_secs(180)).await;

    let report = run_script("play_encrypted.mjs", &[app.base.clone(), id.clone(), token.clone()]).await;
    assert_eq!(report["bareKey"], serde_json::json!([403, "playback_token_required"]), "{report}");
    assert_eq!(report["ended"], true, "it played to the end: {report}");
    assert_eq!(report["errors"], serde_json::json!([]), "no error: {report}");
    let keys = report["keysLoaded"].as_array().unwrap();
    assert!(!keys.is_empty(), "HLS.js loaded the key: {report}");
    assert!(
        keys.iter().all(|uri| uri.as_str().unwrap().contains(&format!("/hls/{id}/key?token="))),
        "with the token: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_switches_audio_language_and_shows_the_embedded_captions() {
    // 2 s segments: audio fragments keep loading after the switch.
    let app = TestApp::spawn_with(&[("STREAMBOX_LADDER", "240:400,144:200"), ("STREAMBOX_SEGMENT_SECONDS", "2")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip_with_tracks(app.dir.path(), "languages.mp4", 320, 240, 12);
    let id = app.upload_accepted(&token, &clip, "Two languages").await;
    app.wait_for_status(&token, &id, &["ready"], std::time::Duration::from_secs(180)).await;

    let report = run_script("play_audio_tracks.mjs", &[app.base.clone(), id, token, "en".into(), "es".into()]).await;
    assert_eq!(report["fatal"], serde_json::Value::Null, "{report}");
    assert_eq!(
        report["audioTracks"],
        serde_json::json!([["fr", "French", true], ["en", "English", false]]),
        "the default track first: {report}"
    );
    assert_eq!(report["subtitleTracks"], serde_json::json!([["es", "Spanish"]]), "{report}");
    assert!(report["switchedAt"].is_number(), "HLS.js switched to English: {report}");
    // Audio fragments in the order they loaded: French first, then (from the switch) English only.
    let fragments: Vec<&str> = report["fragments"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(fragments.first(), Some(&"audio"), "French played first: {report}");
    let switched = fragments.iter().position(|f| *f == "audio_2").unwrap_or_else(|| panic!("no English: {report}"));
    assert!(fragments[switched..].iter().all(|f| *f == "audio_2"), "then English only: {report}");
    let cues = report["cues"].as_array().unwrap();
    let shown = |text: &str| cues.iter().find(|c| c[1] == "es" && c[2] == text).and_then(|c| c[0].as_f64());
    // Cues at 1-4 s and 5-6.5 s; timeupdate fires every ~250 ms.
    assert!(shown("Hola").is_some_and(|at| (1.0..4.0).contains(&at)), "the embedded caption showed: {report}");
    assert!(shown("Adiós").is_some_and(|at| (5.0..5.6).contains(&at)), "its next cue on time: {report}");
}
