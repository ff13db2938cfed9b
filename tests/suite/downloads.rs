//! The downloadable MP4: made without a second encode on the one-run and the chunked
//! path, it decodes in full, lasts the source's duration and has its index first, is
//! served in ranges with validators under the title's name, plays in a browser before
//! it is all fetched, and goes only to those the owner and the visibility allow.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use streambox_base::ids::VideoId;
use streambox_storage::layout::keys;

use crate::support::{TestApp, fixture_marker, make_clip};

const TRANSCODE: Duration = Duration::from_secs(180);

async fn download(
    app: &TestApp,
    id: &str,
    token: Option<&str>,
    headers: &[(header::HeaderName, &str)],
) -> reqwest::Response {
    let mut request = app.http.get(app.url(&format!("/api/v1/videos/{id}/download")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.send().await.unwrap()
}

/// The `code` of a JSON error answer, after checking its status.
async fn refused(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body["code"].as_str().unwrap().to_owned()
}

/// The names of the file's top-level MP4 boxes, in order.
fn top_level_boxes(bytes: &[u8]) -> Vec<String> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as u64;
        let size = match size {
            1 => u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap()),
            0 => (bytes.len() - at) as u64,
            size => size,
        };
        boxes.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        assert!(size >= 8, "a box of {size} bytes at {at}");
        at += size as usize;
    }
    assert_eq!(at, bytes.len(), "the boxes cover the file exactly");
    boxes
}

/// Checks the MP4 at `path` as a player would take it; returns ffprobe's view of it.
fn check_mp4(path: &Path, source_s: f64, height: u64) -> Value {
    let boxes = top_level_boxes(&std::fs::read(path).unwrap());
    let moov = boxes.iter().position(|b| b == "moov").expect("a moov box");
    let mdat = boxes.iter().position(|b| b == "mdat").expect("an mdat box");
    assert!(moov < mdat, "the index comes before the media (faststart): {boxes:?}");

    let decoded =
        Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(path).args(["-f", "null", "-"]).output().unwrap();
    assert!(decoded.status.success(), "ffmpeg could not decode the download");
    assert_eq!(String::from_utf8_lossy(&decoded.stderr), "", "the download decodes without errors");

    let probed = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type,codec_name,height:format=duration", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    let probed: Value = serde_json::from_slice(&probed.stdout).unwrap();
    let duration: f64 = probed["format"]["duration"].as_str().unwrap().parse().unwrap();
    // Two frames at 30 fps.
    assert!((duration - source_s).abs() <= 2.0 / 30.0, "the download lasts {duration} s, the source {source_s} s");
    let streams = probed["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").expect("a picture");
    assert_eq!(video["codec_name"], "h264", "{probed}");
    assert_eq!(video["height"], height, "{probed}");
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").expect("sound");
    assert_eq!(audio["codec_name"], "aac", "{probed}");
    probed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_video_downloads_as_a_faststart_mp4_of_its_720p_rung_in_ranges() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let clip = make_clip(app.dir.path(), "trip.mp4", 1280, 720, 8, true);
    let id = app.upload_accepted(&owner.token, &clip, "Zürich trip").await;
    let video = app.wait_for_status(&owner.token, &id, &["ready", "failed"], TRANSCODE).await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!((video["has_download"].clone(), video["downloadable"].clone()), (json!(true), json!(false)), "{video}");

    let whole = download(&app, &id, Some(&owner.token), &[]).await;
    assert_eq!(whole.status(), StatusCode::OK);
    let headers = whole.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "video/mp4");
    assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"Z_rich trip.mp4\"; filename*=UTF-8''Z%C3%BCrich%20trip.mp4"
    );
    // Others may not download it: the owner fetching it is no one else's to cache.
    assert!(headers[header::CACHE_CONTROL].to_str().unwrap().starts_with("private"), "{headers:?}");
    let bytes = whole.bytes().await.unwrap();
    assert_eq!(headers[header::CONTENT_LENGTH], bytes.len().to_string());
    let path = app.dir.path().join("download.mp4");
    std::fs::write(&path, &bytes).unwrap();
    let probed = check_mp4(&path, 8.0, 720);
    println!("one-run download: {} bytes, {probed}", bytes.len());

    let len = bytes.len();
    let ranged = download(&app, &id, Some(&owner.token), &[(header::RANGE, "bytes=100-199")]).await;
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.headers()[header::CONTENT_RANGE], format!("bytes 100-199/{len}"));
    assert_eq!(ranged.bytes().await.unwrap(), bytes[100..200]);
    let tail = download(&app, &id, Some(&owner.token), &[(header::RANGE, "bytes=-10")]).await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap(), bytes[len - 10..]);
    let past = download(&app, &id, Some(&owner.token), &[(header::RANGE, &format!("bytes={len}-"))]).await;
    assert_eq!(past.headers()[header::CONTENT_RANGE], format!("bytes */{len}"));
    assert_eq!(refused(past, StatusCode::RANGE_NOT_SATISFIABLE).await, "range_not_satisfiable");

    let e_tag = headers[header::ETAG].to_str().unwrap();
    let again = download(&app, &id, Some(&owner.token), &[(header::IF_NONE_MATCH, e_tag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let head = app
        .http
        .head(app.url(&format!("/api/v1/videos/{id}/download")))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], len.to_string());
    assert!(head.bytes().await.unwrap().is_empty());

    // Deleting the video deletes its download.
    let key = keys::download(VideoId(id.parse().unwrap()));
    assert!(app.state.storage.head(&key).await.unwrap().is_some());
    let deleted =
        app.http.delete(app.url(&format!("/api/v1/videos/{id}"))).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(app.state.storage.head(&key).await.unwrap().is_none(), "the download was deleted with the video");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_video_gets_its_download_too() {
    let app = TestApp::spawn_with(&[("STREAMBOX_CHUNK_SECONDS", "12"), ("STREAMBOX_LADDER", "360:800,240:400")]).await;
    let owner = app.user("creator").await;
    let clip = make_clip(app.dir.path(), "long.mp4", 640, 360, 36, true);
    let id = app.upload_accepted(&owner.token, &clip, "Long").await;
    let video = app.wait_for_status(&owner.token, &id, &["ready", "failed"], TRANSCODE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let chunks = app.video_chunks(&id).await;
    assert_eq!(chunks, 3, "the video was encoded in three chunks");

    let response = download(&app, &id, Some(&owner.token), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.unwrap();
    let path = app.dir.path().join("chunked.mp4");
    std::fs::write(&path, &bytes).unwrap();
    // No 720p rung: the largest below it.
    let probed = check_mp4(&path, 36.0, 360);
    println!("chunked download: {} bytes, {probed}", bytes.len());
}

#[tokio::test]
async fn downloads_follow_the_owners_choice_and_the_videos_visibility() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let other = app.user("creator").await;
    let admin = app.user("admin").await;

    // Public, but the owner has not allowed downloads: they and admins still may.
    let public = app.video_with_download(owner.id, "public", false).await.to_string();
    for token in [None, Some(other.token.as_str())] {
        let code = refused(download(&app, &public, token, &[]).await, StatusCode::FORBIDDEN).await;
        assert_eq!(code, "download_not_allowed");
    }
    for token in [&owner.token, &admin.token] {
        let response = download(&app, &public, Some(token), &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), fixture_marker(public.parse().unwrap(), "download"));
    }

    // Allowed with the video's own update route, and shown in its JSON.
    let changed = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{public}")))
        .bearer_auth(&owner.token)
        .json(&json!({ "downloadable": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.json::<Value>().await.unwrap()["downloadable"], true);
    let changed_by_other = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{public}")))
        .bearer_auth(&other.token)
        .json(&json!({ "downloadable": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed_by_other.status(), StatusCode::FORBIDDEN);
    let anyone = download(&app, &public, None, &[]).await;
    assert_eq!(anyone.status(), StatusCode::OK);
    assert_eq!(anyone.headers()[header::CACHE_CONTROL], "public, max-age=300");

    // Unlisted: anyone with the id. Private: its owner and admins only, never cached
    // by others, and to a stranger it does not exist.
    let unlisted = app.video_with_download(owner.id, "unlisted", true).await.to_string();
    assert_eq!(download(&app, &unlisted, None, &[]).await.status(), StatusCode::OK);
    let private = app.video_with_download(owner.id, "private", true).await.to_string();
    for token in [None, Some(other.token.as_str())] {
        assert_eq!(refused(download(&app, &private, token, &[]).await, StatusCode::NOT_FOUND).await, "not_found");
    }
    let own = download(&app, &private, Some(&owner.token), &[]).await;
    assert_eq!(own.status(), StatusCode::OK);
    assert!(own.headers()[header::CACHE_CONTROL].to_str().unwrap().starts_with("private"));
    assert_eq!(download(&app, &private, Some(&admin.token), &[]).await.status(), StatusCode::OK);

    // Not finished, or finished without a download: a code saying which.
    let processing = app.video_with_download(owner.id, "public", true).await;
    sqlx::query("UPDATE videos SET status = 'processing', playable = true WHERE id = $1")
        .bind(processing)
        .execute(app.db())
        .await
        .unwrap();
    let code = refused(download(&app, &processing.to_string(), None, &[]).await, StatusCode::CONFLICT).await;
    assert_eq!(code, "not_ready");
    let older = app.ready_video(owner.id, "public").await.to_string();
    let code = refused(download(&app, &older, Some(&owner.token), &[]).await, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "download_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_plays_a_download_before_the_server_has_sent_all_of_it() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let clip = make_clip(app.dir.path(), "play.mp4", 1280, 720, 20, true);
    let id = app.upload_accepted(&owner.token, &clip, "Play me").await;
    let video = app.wait_for_status(&owner.token, &id, &["ready", "failed"], TRANSCODE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let allowed = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{id}")))
        .bearer_auth(&owner.token)
        .json(&json!({ "downloadable": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);

    let report = crate::support::browser::run_script("play_download.mjs", &[app.base.clone(), id.clone()]).await;
    assert_eq!(report["playing"], true, "the video played: {report}");
    let (sent, total) = (report["sentAtPlaying"].as_u64().unwrap(), report["total"].as_u64().unwrap());
    assert!(sent < total / 2, "it played after {sent} of {total} bytes: {report}");
    // The index came first: the browser never had to fetch the file's end to start.
    let ranges = report["rangesAtPlaying"].as_array().unwrap();
    assert!(ranges.iter().all(|r| r.is_null() || r == "bytes=0-"), "ranges asked for before playing: {report}");
}
