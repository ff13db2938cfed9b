//! The streamer's HTTP, as players and CDNs see it: ranges, HEAD, validators, cache
//! headers, CORS, compression, request coalescing, redirects, deletion, originals.

mod support;

use std::time::Duration;

use reqwest::header;
use reqwest::{Method, StatusCode};
use support::{TestApp, eventually};
use uuid::Uuid;

/// A public ready video whose 480p segment is `len` known bytes.
async fn video_with_segment(app: &TestApp, owner: Uuid, len: usize) -> (Uuid, Vec<u8>) {
    let video = app.ready_video(owner, "public").await;
    let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    app.state
        .storage
        .put_bytes(&format!("hls/{video}/480p/seg_000.ts"), bytes.clone().into(), "video/mp2t")
        .await
        .unwrap();
    (video, bytes)
}

async fn get(app: &TestApp, path: &str, headers: &[(header::HeaderName, &str)]) -> reqwest::Response {
    request(app, Method::GET, path, headers).await
}

async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(header::HeaderName, &str)],
) -> reqwest::Response {
    let mut request = app.http.request(method, app.url(path));
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_answer_ranges_head_and_validators() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let (video, bytes) = video_with_segment(&app, owner.id, 1000).await;
    let path = format!("/hls/{video}/480p/seg_000.ts");

    let whole = get(&app, &path, &[]).await;
    assert_eq!(whole.status(), StatusCode::OK);
    let headers = whole.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "video/mp2t");
    assert_eq!(headers[header::CONTENT_LENGTH], "1000");
    assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    let e_tag = headers[header::ETAG].to_str().unwrap().to_owned();
    assert!(e_tag.starts_with('"') && e_tag.ends_with('"'), "a strong ETag: {e_tag}");
    let last_modified = headers[header::LAST_MODIFIED].to_str().unwrap().to_owned();
    assert_eq!(whole.bytes().await.unwrap(), bytes);

    for (range, first, last) in
        [("bytes=0-99", 0, 99), ("bytes=900-", 900, 999), ("bytes=-100", 900, 999), ("bytes=990-5000", 990, 999)]
    {
        let partial = get(&app, &path, &[(header::RANGE, range)]).await;
        assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(partial.headers()[header::CONTENT_RANGE], format!("bytes {first}-{last}/1000"), "{range}");
        assert_eq!(partial.headers()[header::CONTENT_LENGTH], (last - first + 1).to_string(), "{range}");
        assert_eq!(partial.bytes().await.unwrap(), bytes[first..=last], "{range}");
    }
    let outside = get(&app, &path, &[(header::RANGE, "bytes=1000-")]).await;
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(outside.headers()[header::CONTENT_RANGE], "bytes */1000");

    let head = request(&app, Method::HEAD, &path, &[]).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "1000");
    assert_eq!(head.headers()[header::ETAG], e_tag.as_str());
    assert!(head.bytes().await.unwrap().is_empty());

    let unchanged = get(&app, &path, &[(header::IF_NONE_MATCH, &e_tag)]).await;
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.headers()[header::ETAG], e_tag.as_str());
    assert!(unchanged.bytes().await.unwrap().is_empty());
    let since = get(&app, &path, &[(header::IF_MODIFIED_SINCE, &last_modified)]).await;
    assert_eq!(since.status(), StatusCode::NOT_MODIFIED);
    let changed = get(&app, &path, &[(header::IF_NONE_MATCH, "\"something-else\"")]).await;
    assert_eq!(changed.status(), StatusCode::OK);

    let playlist = get(&app, &format!("/hls/{video}/480p/index.m3u8"), &[]).await;
    assert_eq!(playlist.headers()[header::CACHE_CONTROL], "public, max-age=60");
    assert_eq!(playlist.headers()[header::CONTENT_TYPE], "application/vnd.apple.mpegurl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_on_other_origins_may_play_and_playlists_are_compressed() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let (video, _) = video_with_segment(&app, owner.id, 1000).await;
    let segment = format!("/hls/{video}/480p/seg_000.ts");

    let preflight = request(
        &app,
        Method::OPTIONS,
        &segment,
        &[
            (header::ORIGIN, "https://player.example"),
            (header::ACCESS_CONTROL_REQUEST_METHOD, "GET"),
            (header::ACCESS_CONTROL_REQUEST_HEADERS, "range"),
        ],
    )
    .await;
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(preflight.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().contains("range"));

    let cross = get(&app, &segment, &[(header::ORIGIN, "https://player.example"), (header::RANGE, "bytes=0-9")]).await;
    assert_eq!(cross.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(cross.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let exposed = cross.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap().to_lowercase();
    assert!(exposed.contains("content-range") && exposed.contains("etag"), "{exposed}");

    // A master playlist big enough to be worth compressing.
    let variants: String = (0..20)
        .map(|i| format!("#EXT-X-STREAM-INF:BANDWIDTH={},RESOLUTION=854x480\n480p/index.m3u8\n", 1000 + i))
        .collect();
    app.state
        .storage
        .put_bytes(
            &format!("hls/{video}/master.m3u8"),
            format!("#EXTM3U\n{variants}").into(),
            "application/vnd.apple.mpegurl",
        )
        .await
        .unwrap();
    let compressed = get(&app, &format!("/hls/{video}/master.m3u8"), &[(header::ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(compressed.status(), StatusCode::OK);
    assert_eq!(compressed.headers()[header::CONTENT_ENCODING], "gzip");
    let media = get(&app, &segment, &[(header::ACCEPT_ENCODING, "gzip")]).await;
    assert!(media.headers().get(header::CONTENT_ENCODING).is_none(), "segments are not recompressed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_misses_for_one_segment_fetch_it_once() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let (video, bytes) = video_with_segment(&app, owner.id, 2 * 1024 * 1024).await;
    let path = format!("/hls/{video}/480p/seg_000.ts");
    // The video's access decision is cached first, so only the segment is cold.
    assert_eq!(get(&app, &format!("/hls/{video}/poster.jpg"), &[]).await.status(), StatusCode::OK);

    let before = app.state.storage.gets_issued();
    let requests = (0..50).map(|_| {
        let (http, url) = (app.http.clone(), app.url(&path));
        tokio::spawn(async move { http.get(url).send().await.unwrap().bytes().await.unwrap() })
    });
    for response in futures::future::join_all(requests).await {
        assert!(response.unwrap() == bytes, "every client got the whole segment");
    }
    assert_eq!(app.state.storage.gets_issued() - before, 1, "one storage GET for 50 concurrent requests");
    get(&app, &path, &[]).await;
    assert_eq!(app.state.storage.gets_issued() - before, 1, "later requests are served from memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_video_stops_being_served_at_once() {
    // Access decisions would be remembered for a minute: only the change notice can stop them.
    let app = TestApp::spawn_with(&[("STREAMBOX_STREAM_ACCESS_TTL_SECS", "60")]).await;
    let owner = app.user("creator").await;
    let (video, _) = video_with_segment(&app, owner.id, 1000).await;
    let path = format!("/hls/{video}/480p/seg_000.ts");
    assert_eq!(get(&app, &path, &[]).await.status(), StatusCode::OK, "cached");

    let deleted =
        app.http.delete(app.url(&format!("/api/v1/videos/{video}"))).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    eventually(Duration::from_secs(2), "the deleted video to stop being served", || async {
        (get(&app, &path, &[]).await.status() == StatusCode::NOT_FOUND).then_some(())
    })
    .await;

    // The same holds for a video made private: its cached public access is gone.
    let (other, _) = video_with_segment(&app, owner.id, 1000).await;
    let other_path = format!("/hls/{other}/480p/seg_000.ts");
    assert_eq!(get(&app, &other_path, &[]).await.status(), StatusCode::OK);
    let private = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{other}")))
        .bearer_auth(&owner.token)
        .json(&serde_json::json!({ "visibility": "private" }))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), StatusCode::OK);
    eventually(Duration::from_secs(2), "the now-private video to need a token", || async {
        (get(&app, &other_path, &[]).await.status() == StatusCode::FORBIDDEN).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_can_be_redirected_to_presigned_storage_urls() {
    let app = TestApp::spawn_with(&[("STREAMBOX_SEGMENT_REDIRECT", "presigned")]).await;
    let owner = app.user("creator").await;
    let (video, bytes) = video_with_segment(&app, owner.id, 1000).await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = no_redirects.get(app.url(&format!("/hls/{video}/480p/seg_000.ts"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with(app.state.storage.endpoint()) && location.contains("X-Amz-Signature="), "{location}");
    let direct = reqwest::get(&location).await.unwrap();
    assert_eq!(direct.status(), StatusCode::OK);
    assert_eq!(direct.bytes().await.unwrap(), bytes);
    // Playlists are still served (and rewritten when needed) by the streamer.
    let playlist = no_redirects.get(app.url(&format!("/hls/{video}/480p/index.m3u8"))).send().await.unwrap();
    assert_eq!(playlist.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_download_their_original_with_ranges() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let video = app.ready_video(owner.id, "public").await;
    let original: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    app.state
        .storage
        .put_bytes(&format!("raw/{video}/source"), original.clone().into(), "application/octet-stream")
        .await
        .unwrap();
    let path = format!("/api/v1/videos/{video}/original");

    let whole = app.http.get(app.url(&path)).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert!(whole.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment"));
    assert_eq!(whole.bytes().await.unwrap(), original);
    let tail = app
        .http
        .get(app.url(&path))
        .bearer_auth(&owner.token)
        .header(header::RANGE, "bytes=-1000")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.headers()[header::CONTENT_RANGE], "bytes 99000-99999/100000");
    assert_eq!(tail.bytes().await.unwrap(), original[99_000..]);
    let stranger = app.user("creator").await;
    let refused = app.http.get(app.url(&path)).bearer_auth(&stranger.token).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}
