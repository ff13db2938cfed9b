//! The streamer's HTTP, as players and CDNs see it: ranges, HEAD, validators, cache
//! headers, CORS, compression, request coalescing, redirects, deletion, originals.

use std::time::Duration;

use reqwest::header;
use reqwest::{Method, StatusCode};
use uuid::Uuid;

use crate::support::{TestApp, eventually};

/// How long a change notice may take to reach the streamer. It is pushed at once
/// (LISTEN/NOTIFY), so this only bounds a loaded machine; the access decision itself
/// would be remembered for ten minutes (`STREAMBOX_STREAM_ACCESS_TTL_SECS` below), so a
/// notice that never arrives still fails.
const NOTICE_DEADLINE: Duration = Duration::from_secs(20);

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
    // Access decisions would be remembered for ten minutes: only the change notice can stop them.
    let app = TestApp::spawn_with(&[("STREAMBOX_STREAM_ACCESS_TTL_SECS", "600")]).await;
    let owner = app.user("creator").await;
    let (video, _) = video_with_segment(&app, owner.id, 1000).await;
    let path = format!("/hls/{video}/480p/seg_000.ts");
    assert_eq!(get(&app, &path, &[]).await.status(), StatusCode::OK, "cached");

    let deleted =
        app.http.delete(app.url(&format!("/api/v1/videos/{video}"))).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    eventually(NOTICE_DEADLINE, "the deleted video to stop being served", || async {
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
    eventually(NOTICE_DEADLINE, "the now-private video to need a token", || async {
        (get(&app, &other_path, &[]).await.status() == StatusCode::FORBIDDEN).then_some(())
    })
    .await;
}

/// While change notices do not arrive (the listener reconnecting), an access decision is
/// remembered for `STREAMBOX_STREAM_ACCESS_TTL_SECS` and no longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_change_notice_an_access_decision_lasts_its_ttl() {
    let ttl = Duration::from_secs(10);
    let app = TestApp::spawn_with(&[("STREAMBOX_STREAM_ACCESS_TTL_SECS", "10")]).await;
    let owner = app.user("creator").await;
    let (video, _) = video_with_segment(&app, owner.id, 1000).await;
    let path = format!("/hls/{video}/480p/seg_000.ts");
    let decided = tokio::time::Instant::now();
    assert_eq!(get(&app, &path, &[]).await.status(), StatusCode::OK, "public: decided and remembered");

    // The video goes private with its notice lost: the trigger is off (this test's own
    // database), as if the streamer's listener were down when it fired.
    sqlx::query("ALTER TABLE videos DISABLE TRIGGER videos_changed").execute(app.db()).await.unwrap();
    sqlx::query("UPDATE videos SET visibility = 'private' WHERE id = $1").bind(video).execute(app.db()).await.unwrap();
    let remembered = get(&app, &path, &[]).await.status();
    if decided.elapsed() < ttl {
        assert_eq!(remembered, StatusCode::OK, "within the TTL the remembered decision stands");
    }
    // After it, the decision is read again: the video needs a token now.
    eventually(ttl * 6, "the remembered decision to expire", || async {
        (get(&app, &path, &[]).await.status() == StatusCode::FORBIDDEN).then_some(())
    })
    .await;
    assert!(decided.elapsed() >= ttl, "re-read after {:?}, before the TTL", decided.elapsed());
}

/// A refusal never rests on an old decision: a video that turned public is served at once,
/// even before (here: without) its change notice, though decisions last a long TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_that_turned_public_is_served_before_its_notice_arrives() {
    let app = TestApp::spawn_with(&[("STREAMBOX_STREAM_ACCESS_TTL_SECS", "600")]).await;
    let owner = app.user("creator").await;
    let (video, _) = video_with_segment(&app, owner.id, 1000).await;
    sqlx::query("ALTER TABLE videos DISABLE TRIGGER videos_changed").execute(app.db()).await.unwrap();
    sqlx::query("UPDATE videos SET visibility = 'private' WHERE id = $1").bind(video).execute(app.db()).await.unwrap();
    let path = format!("/hls/{video}/480p/seg_000.ts");
    assert_eq!(get(&app, &path, &[]).await.status(), StatusCode::FORBIDDEN, "private: decided and remembered");
    sqlx::query("UPDATE videos SET visibility = 'public' WHERE id = $1").bind(video).execute(app.db()).await.unwrap();
    // Within a minute: the remembered refusal would otherwise stand for ten.
    eventually(Duration::from_secs(60), "the public video to be served", || async {
        (get(&app, &path, &[]).await.status() == StatusCode::OK).then_some(())
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
async fn only_public_segments_are_redirected_to_a_cdn_base_url() {
    let app = TestApp::spawn_with(&[("STREAMBOX_SEGMENT_REDIRECT", "https://cdn.example/bucket/")]).await;
    let owner = app.user("creator").await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let (public, _) = video_with_segment(&app, owner.id, 1000).await;
    let response = no_redirects.get(app.url(&format!("/hls/{public}/480p/seg_000.ts"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[header::LOCATION],
        format!("https://cdn.example/bucket/hls/{public}/480p/seg_000.ts")
    );

    // A CDN serves whoever asks: token media never goes there, it is served here, privately.
    for visibility in ["unlisted", "private"] {
        let video = app.ready_video(owner.id, visibility).await;
        let urls: serde_json::Value = app
            .http
            .get(app.url(&format!("/api/v1/videos/{video}/playback")))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = urls["master_url"].as_str().unwrap().split_once("?token=").unwrap().1.to_owned();
        let segment = format!("/hls/{video}/480p/seg_000.ts?token={token}");
        let response = no_redirects.get(app.url(&segment)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{visibility}: {:?}", response.headers().get(header::LOCATION));
        assert_eq!(response.headers()[header::CACHE_CONTROL], "private, max-age=3600", "{visibility}");
        assert_eq!(response.text().await.unwrap(), crate::support::fixture_marker(video, "segment"), "{visibility}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_encode_is_served_byte_exact_in_ranges_and_privately_with_its_token() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let clip = crate::support::make_clip(app.dir.path(), "real.mp4", 640, 360, 4, true);
    let response = app.upload(Some(&owner.token), &clip, "Real").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let video = app.wait_for_status(&owner.token, &id, &["ready", "failed"], Duration::from_secs(180)).await;
    assert_eq!(video["status"], "ready", "{video}");

    // Every segment the playlists name, video and audio: whole, in two ranges, by HEAD.
    let master = get(&app, &format!("/hls/{id}/master.m3u8"), &[]).await.bytes().await.unwrap();
    let master = m3u8_rs::parse_master_playlist_res(&master).unwrap();
    let audio = master.alternatives.iter().filter_map(|a| a.uri.clone());
    let playlists: Vec<String> = master.variants.iter().map(|v| v.uri.clone()).chain(audio).collect();
    let expected = ["360p/index.m3u8", "240p/index.m3u8", "360p/iframes.m3u8", "240p/iframes.m3u8"];
    assert_eq!(playlists, [&expected[..], &["audio/index.m3u8", "audio_low/index.m3u8"]].concat());
    let mut first_segment = None;
    for playlist in &playlists {
        let rendition = playlist.split('/').next().unwrap();
        let media = get(&app, &format!("/hls/{id}/{playlist}"), &[]).await.bytes().await.unwrap();
        let media = m3u8_rs::parse_media_playlist_res(&media).unwrap();
        assert!(!media.segments.is_empty(), "{playlist}");
        for segment in &media.segments {
            let path = format!("/hls/{id}/{rendition}/{}", segment.uri);
            let whole = get(&app, &path, &[]).await;
            assert_eq!(whole.status(), StatusCode::OK, "{path}");
            assert_eq!(whole.headers()[header::CONTENT_TYPE], "video/mp2t");
            assert_eq!(whole.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
            let whole = whole.bytes().await.unwrap();
            let stored = app.state.storage.head(&format!("hls/{id}/{rendition}/{}", segment.uri)).await.unwrap();
            assert_eq!(Some(whole.len() as u64), stored.map(|m| m.len), "{path}: the stored object's size");
            assert!(
                whole.len() % 188 == 0 && whole.chunks(188).all(|packet| packet[0] == 0x47),
                "{path} is an MPEG-TS stream"
            );
            let half = whole.len() / 2;
            let front = get(&app, &path, &[(header::RANGE, &format!("bytes=0-{}", half - 1))]).await;
            assert_eq!(front.status(), StatusCode::PARTIAL_CONTENT);
            let back = get(&app, &path, &[(header::RANGE, &format!("bytes={half}-"))]).await;
            assert_eq!(
                back.headers()[header::CONTENT_RANGE],
                format!("bytes {half}-{}/{}", whole.len() - 1, whole.len())
            );
            let joined = [front.bytes().await.unwrap(), back.bytes().await.unwrap()].concat();
            assert!(joined == whole, "{path}: two ranges are the whole segment");
            let head = request(&app, Method::HEAD, &path, &[]).await;
            assert_eq!(head.headers()[header::CONTENT_LENGTH], whole.len().to_string());
            first_segment.get_or_insert((path, whole));
        }
    }
    // What was served decodes.
    let (path, segment) = first_segment.unwrap();
    let file = app.dir.path().join("served.ts");
    std::fs::write(&file, &segment).unwrap();
    let decoded = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "{path}: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );

    // Made private, the same bytes come only with the token, and not for shared caches.
    let private = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{id}")))
        .bearer_auth(&owner.token)
        .json(&serde_json::json!({ "visibility": "private" }))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), StatusCode::OK);
    eventually(NOTICE_DEADLINE, "the private video to need a token", || async {
        (get(&app, &path, &[]).await.status() == StatusCode::FORBIDDEN).then_some(())
    })
    .await;
    let urls: serde_json::Value = app.get_json(&format!("/api/v1/videos/{id}/playback"), &owner.token).await;
    let token = urls["master_url"].as_str().unwrap().split_once("?token=").unwrap().1.to_owned();
    let with_token = get(&app, &format!("{path}?token={token}"), &[]).await;
    assert_eq!(with_token.status(), StatusCode::OK);
    assert_eq!(with_token.headers()[header::CACHE_CONTROL], "private, max-age=3600");
    assert!(with_token.bytes().await.unwrap() == segment);
    // The I-frame playlist's byte ranges carry the token too.
    let iframes = get(&app, &format!("/hls/{id}/240p/iframes.m3u8?token={token}"), &[]).await.bytes().await.unwrap();
    let iframes = m3u8_rs::parse_media_playlist_res(&iframes).unwrap();
    assert!(iframes.i_frames_only && !iframes.segments.is_empty());
    for entry in &iframes.segments {
        assert!(entry.uri.ends_with(&format!("?token={token}")) && entry.byte_range.is_some(), "{entry:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_over_the_cache_limit_stream_from_storage_every_time() {
    let app = TestApp::spawn_with(&[("STREAMBOX_STREAM_CACHE_MAX_OBJECT_BYTES", "65536")]).await;
    let owner = app.user("creator").await;
    let (video, bytes) = video_with_segment(&app, owner.id, 200_000).await;
    let (large, small) = (format!("/hls/{video}/480p/seg_000.ts"), format!("/hls/{video}/poster.jpg"));
    // The access decision first, so only objects are counted.
    assert_eq!(get(&app, &small, &[]).await.status(), StatusCode::OK);

    let before = app.state.storage.gets_issued();
    for _ in 0..3 {
        let response = get(&app, &large, &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.bytes().await.unwrap() == bytes);
    }
    let tail = get(&app, &large, &[(header::RANGE, "bytes=-10")]).await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap(), bytes[bytes.len() - 10..]);
    assert!(
        app.state.storage.gets_issued() - before >= 4,
        "every request for the large object goes to storage: {} GETs for 4 requests",
        app.state.storage.gets_issued() - before
    );
    // A small object is still cached: asked again, it costs no GET.
    let before = app.state.storage.gets_issued();
    for _ in 0..3 {
        assert_eq!(get(&app, &small, &[]).await.status(), StatusCode::OK);
    }
    assert_eq!(app.state.storage.gets_issued() - before, 0, "the poster stays in memory");
    // An object of exactly the limit is not over it: cached too.
    let (at_limit, _) = video_with_segment(&app, owner.id, 65_536).await;
    let at_limit = format!("/hls/{at_limit}/480p/seg_000.ts");
    assert_eq!(get(&app, &at_limit, &[]).await.status(), StatusCode::OK);
    let before = app.state.storage.gets_issued();
    assert_eq!(get(&app, &at_limit, &[]).await.bytes().await.unwrap().len(), 65_536);
    assert_eq!(app.state.storage.gets_issued() - before, 0, "an object of exactly the limit stays in memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_configured_origins_may_fetch_media() {
    let app = TestApp::spawn_with(&[("STREAMBOX_CORS_ORIGINS", "https://player.example, https://other.example")]).await;
    let owner = app.user("creator").await;
    let (video, _) = video_with_segment(&app, owner.id, 1000).await;
    let segment = format!("/hls/{video}/480p/seg_000.ts");
    for origin in ["https://player.example", "https://other.example"] {
        let allowed = get(&app, &segment, &[(header::ORIGIN, origin)]).await;
        assert_eq!(allowed.status(), StatusCode::OK);
        assert_eq!(allowed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        let preflight = request(
            &app,
            Method::OPTIONS,
            &segment,
            &[(header::ORIGIN, origin), (header::ACCESS_CONTROL_REQUEST_METHOD, "GET")],
        )
        .await;
        assert_eq!(preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
    }
    let stranger = get(&app, &segment, &[(header::ORIGIN, "https://evil.example")]).await;
    assert!(stranger.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{:?}", stranger.headers());
    let preflight = request(
        &app,
        Method::OPTIONS,
        &segment,
        &[(header::ORIGIN, "https://evil.example"), (header::ACCESS_CONTROL_REQUEST_METHOD, "GET")],
    )
    .await;
    assert!(preflight.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
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
