//! Playable in seconds: a video plays from its start while its ladder is still being
//! encoded, through growing (EVENT) playlists, and a worker's death mid-encode takes
//! nothing a viewer was shown away.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use m3u8_rs::{MediaPlaylist, MediaPlaylistType};
use serde_json::Value;

use crate::support::{TestApp, WorkerProcess, eventually, job_of, make_clip, probe_video};

const DEADLINE: Duration = Duration::from_secs(300);

/// Polls the video until it is playable; it must still be encoding then.
async fn playable_while_processing(app: &TestApp, token: &str, id: &str) -> Value {
    eventually(DEADLINE, "the video to become playable", || async {
        let video = app.get_json(&format!("/api/v1/videos/{id}"), token).await;
        assert_ne!(video["status"], "ready", "the video was finished before it was ever seen playable: {video}");
        assert_ne!(video["status"], "failed", "{video}");
        (video["playable"] == true).then_some(video)
    })
    .await
}

async fn media_playlist(app: &TestApp, url: &str) -> (MediaPlaylist, String) {
    let response = app.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let cache = response.headers()["cache-control"].to_str().unwrap().to_owned();
    let body = response.bytes().await.unwrap();
    (m3u8_rs::parse_media_playlist_res(&body).expect("a media playlist"), cache)
}

fn is_growing(playlist: &MediaPlaylist) -> bool {
    playlist.playlist_type == Some(MediaPlaylistType::Event) && !playlist.end_list
}

/// Decodes one segment fetched over HTTP; it must decode without a single error.
async fn decodes(app: &TestApp, dir: &Path, url: &str) {
    let response = app.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable", "{url}");
    let path = dir.join("segment.ts");
    std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
    let decoded =
        Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "{url}: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_upload_plays_from_its_start_while_it_is_encoded() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "long.mp4", 1920, 1080, 60, true);
    let id = app.upload_accepted(&token, &clip, "Long").await;

    let video = playable_while_processing(&app, &token, &id).await;
    assert_eq!(video["status"], "processing", "{video}");
    assert!(video["progress"]["percent"].as_f64().unwrap() < 100.0, "the live progress stays: {video}");
    assert_eq!(video["poster_url"], Value::Null, "the poster is made at the end: {video}");
    let master_url = app.url(video["master_url"].as_str().expect("a playable public video has a master URL"));
    let response = app.http.get(&master_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, no-cache", "a provisional master is not cached");
    let master = m3u8_rs::parse_master_playlist_res(&response.bytes().await.unwrap()).expect("a master playlist");
    let base = master_url.rsplit_once('/').unwrap().0.to_owned();
    let names: Vec<&str> = master.variants.iter().map(|v| v.uri.split('/').next().unwrap()).collect();
    assert_eq!(names, ["1080p", "720p", "480p", "360p", "240p"]);
    for variant in &master.variants {
        assert!(variant.codecs.as_deref().unwrap().starts_with("avc1."), "CODECS from the first segment's SPS");
        assert!(variant.resolution.is_some() && variant.frame_rate == Some(30.0));
        assert!(variant.bandwidth > variant.average_bandwidth.unwrap());
    }
    let audio = master.alternatives.iter().filter_map(|a| a.uri.clone());
    let playlists: Vec<String> = master.variants.iter().map(|v| v.uri.clone()).chain(audio).collect();
    assert_eq!(playlists.len(), 7, "five rungs and the two audio renditions");

    // Every rendition is served from its first segment while the job runs.
    let mut first_reads = Vec::new();
    for uri in &playlists {
        let url = format!("{base}/{uri}");
        let (playlist, cache) = media_playlist(&app, &url).await;
        assert!(is_growing(&playlist), "{url} is an EVENT playlist without ENDLIST while encoding: {playlist:?}");
        assert_eq!(cache, "public, no-cache", "{url}");
        let first = &playlist.segments[0].uri;
        decodes(&app, app.dir.path(), &format!("{}/{first}", url.rsplit_once('/').unwrap().0)).await;
        first_reads.push((url, playlist));
    }
    let still = app.get_json(&format!("/api/v1/videos/{id}"), &token).await;
    assert_eq!(still["status"], "processing", "all of it was read while encoding: {still}");

    // The top rung's playlist grows between two reads, through the streamer.
    let (url, first) = &first_reads[0];
    eventually(DEADLINE, "the playlist to grow", || async {
        let (now, _) = media_playlist(&app, url).await;
        assert!(is_growing(&now) || now.segments.len() > first.segments.len(), "it ended without growing");
        (is_growing(&now) && now.segments.len() > first.segments.len()).then_some(())
    })
    .await;

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["playable"], true);
    let response = app.http.get(&master_url).send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=60", "the finished master is cached as before");
    let finished = m3u8_rs::parse_master_playlist_res(&response.bytes().await.unwrap()).expect("a master playlist");
    for (early, measured) in master.variants.iter().zip(&finished.variants) {
        assert_eq!(
            (&early.uri, &early.codecs, early.resolution),
            (&measured.uri, &measured.codecs, measured.resolution)
        );
        assert_ne!(early.average_bandwidth, measured.average_bandwidth, "the finished master has measured rates");
    }
    for (url, growing) in &first_reads {
        let (finished, cache) = media_playlist(&app, url).await;
        assert_eq!(finished.playlist_type, Some(MediaPlaylistType::Vod), "{url}");
        assert!(finished.end_list, "{url}");
        assert_eq!(cache, "public, max-age=60", "{url}");
        for (shown, kept) in growing.segments.iter().zip(&finished.segments) {
            assert_eq!((&shown.uri, shown.duration), (&kept.uri, kept.duration), "{url}: what was shown stays");
        }
    }
    for variant in &master.variants {
        let url = format!("{base}/{}", variant.uri);
        let frames: f64 = probe_video(&url)["streams"][0]["nb_read_packets"].as_str().unwrap().parse().unwrap();
        assert_eq!(frames, 1800.0, "{url}: every frame of the 60 s source, as in the one-pass path");
        let decoded = Command::new("ffmpeg").args(["-v", "error", "-i", &url, "-f", "null", "-"]).output().unwrap();
        assert!(
            decoded.status.success() && decoded.stderr.is_empty(),
            "{url}: {}",
            String::from_utf8_lossy(&decoded.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_encode_takes_no_segment_a_viewer_was_shown() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "takeover.mp4", 1280, 720, 40, true);
    let id = app.upload_accepted(&token, &clip, "Takeover").await;
    // A preset slow enough that the encode is still running when it is first playable.
    let beat = [
        ("STREAMBOX_WORKER_HEARTBEAT_SECS", "1"),
        ("STREAMBOX_WORKER_MISSED_HEARTBEATS", "3"),
        ("STREAMBOX_X264_PRESET", "medium"),
    ];
    let mut doomed = WorkerProcess::spawn(&app, &beat);

    let video = playable_while_processing(&app, &token, &id).await;
    let master_url = app.url(video["master_url"].as_str().unwrap());
    let base = master_url.rsplit_once('/').unwrap().0.to_owned();
    let url = format!("{base}/720p/index.m3u8");
    let (shown, _) = media_playlist(&app, &url).await;
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    assert!(is_growing(&shown), "the worker was killed mid-encode");
    let mut seen = Vec::new();
    for segment in &shown.segments {
        let body = app.http.get(format!("{base}/720p/{}", segment.uri)).send().await.unwrap().bytes().await.unwrap();
        seen.push((segment.uri.clone(), body));
    }

    // While another worker takes the job over, what was shown stays, and never shrinks.
    let _survivor = WorkerProcess::spawn(&app, &beat);
    eventually(DEADLINE, "the taken-over video to be ready", || async {
        let (now, _) = media_playlist(&app, &url).await;
        assert!(now.segments.len() >= shown.segments.len(), "the playlist shrank during the takeover");
        for (uri, body) in &seen {
            let again = app.http.get(format!("{base}/720p/{uri}")).send().await.unwrap();
            assert_eq!(again.status(), 200, "{uri} was shown and must stay fetchable");
            assert_eq!(&again.bytes().await.unwrap(), body, "{uri} was not rewritten");
        }
        let video = app.get_json(&format!("/api/v1/videos/{id}"), &token).await;
        assert_ne!(video["status"], "failed", "{video}");
        (video["status"] == "ready").then_some(())
    })
    .await;
    let (finished, _) = media_playlist(&app, &url).await;
    assert!(finished.end_list && finished.segments.len() == 7, "40 s in 6 s segments: {finished:?}");
    let (state, attempts, errors) = job_of(&app, &id).await;
    assert_eq!((state.as_str(), attempts), ("done", 2), "taken over once: {errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fails_for_good_withdraws_what_it_published() {
    let app = TestApp::spawn_with(&[("STREAMBOX_MAX_ATTEMPTS", "1"), ("STREAMBOX_X264_PRESET", "veryfast")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "doomed.mp4", 1280, 720, 60, true);
    let id = app.upload_accepted(&token, &clip, "Doomed").await;
    let video = playable_while_processing(&app, &token, &id).await;
    let master_url = app.url(video["master_url"].as_str().unwrap());
    assert_eq!(app.http.get(&master_url).send().await.unwrap().status(), 200);

    // This test's ffmpeg (its output is under this app's data directory) dies mid-encode,
    // and the job has no attempt left.
    let killed = Command::new("pkill")
        .args(["-KILL", "-f", &format!("ffmpeg.*{}.*{id}", app.dir.path().display())])
        .status()
        .unwrap();
    assert!(killed.success(), "the encode was running");
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "failed", "{video}");
    assert_eq!(video["playable"], false, "{video}");
    assert_eq!(video["master_url"], Value::Null, "{video}");
    assert_eq!(app.http.get(&master_url).send().await.unwrap().status(), 404, "its media are gone");
    let left = app.state.storage.list(&format!("hls/{id}/")).await.unwrap();
    assert!(left.is_empty(), "what it published is withdrawn: {left:?}");
}
