//! Private playback and path handling on the streamer: tokens scoped to one video
//! travel through every playlist; no path reaches another object's bytes.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::support::{TEST_JWT_SECRET, TestApp, fixture_marker};

async fn playback(app: &TestApp, token: &str, video: Uuid) -> Value {
    let response =
        app.http.get(app.url(&format!("/api/v1/videos/{video}/playback"))).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_video_plays_only_through_its_own_token() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let private = app.ready_video(owner.id, "private").await;
    let other = app.ready_video(owner.id, "private").await;

    let urls = playback(&app, &owner.token, private).await;
    assert!(urls["expires_at"].is_string());
    let master_url = app.url(urls["master_url"].as_str().unwrap());
    let token = master_url.split_once("?token=").unwrap().1.to_owned();

    // Follow the playlists the way a player does: every URI carries the token.
    let master = app.http.get(&master_url).send().await.unwrap();
    assert_eq!(master.status(), 200);
    assert_eq!(master.headers()["cache-control"], "private, no-store");
    let master = m3u8_rs::parse_master_playlist_res(&master.bytes().await.unwrap()).unwrap();
    let variant_uri = &master.variants[0].uri;
    assert_eq!(variant_uri, &format!("480p/index.m3u8?token={token}"));
    let variant_url = app.url(&format!("/hls/{private}/{variant_uri}"));
    let variant = app.http.get(&variant_url).send().await.unwrap().bytes().await.unwrap();
    let variant = m3u8_rs::parse_media_playlist_res(&variant).unwrap();
    let segment_uri = &variant.segments[0].uri;
    assert_eq!(segment_uri, &format!("seg_000.ts?token={token}"));
    let segment = app.http.get(app.url(&format!("/hls/{private}/480p/{segment_uri}"))).send().await.unwrap();
    assert_eq!(segment.status(), 200);
    // Token media must stay out of shared caches: a CDN would hand it to anyone.
    assert_eq!(segment.headers()["cache-control"], "private, max-age=3600", "a token segment");
    assert_eq!(segment.text().await.unwrap(), fixture_marker(private, "segment"));
    let poster = app.http.get(app.url(&format!("/hls/{private}/poster.jpg?token={token}"))).send().await.unwrap();
    assert_eq!(poster.status(), 200);
    assert_eq!(poster.headers()["cache-control"], "private, max-age=3600", "a token poster");

    // The scrub-preview track sends the player to its sprite with the token too, and
    // that URL opens the sprite.
    let track = app.http.get(app.url(&format!("/hls/{private}/storyboard.vtt?token={token}"))).send().await.unwrap();
    assert_eq!(track.status(), 200);
    assert_eq!(track.headers()["cache-control"], "private, no-store");
    let track = track.text().await.unwrap();
    let sprite_uri = track
        .lines()
        .find(|l| l.starts_with("storyboard.jpg"))
        .and_then(|l| l.split_once('#'))
        .map(|(uri, _)| uri.to_owned())
        .unwrap_or_else(|| panic!("no sprite reference in {track}"));
    assert_eq!(sprite_uri, format!("storyboard.jpg?token={token}"), "{track}");
    let sprite = app.http.get(app.url(&format!("/hls/{private}/{sprite_uri}"))).send().await.unwrap();
    assert_eq!(sprite.status(), 200);
    assert_eq!(sprite.headers()["cache-control"], "private, max-age=3600", "a token sprite");
    assert_eq!(sprite.text().await.unwrap(), fixture_marker(private, "sprite"));
    let bare = app.http.get(app.url(&format!("/hls/{private}/storyboard.jpg"))).send().await.unwrap();
    assert_eq!(bare.status(), 403, "the sprite needs the token the track gave");

    // The same token opens nothing else.
    for path in [
        format!("/hls/{other}/master.m3u8"),
        format!("/hls/{other}/480p/seg_000.ts"),
        format!("/hls/{other}/poster.jpg"),
    ] {
        let response = app.http.get(app.url(&format!("{path}?token={token}"))).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }

    // An expired token for the right video is refused too.
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": private, "iat": 1, "exp": 2, "iss": "streambox", "aud": "streambox-playback" }),
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let response = app.http.get(app.url(&format!("/hls/{private}/master.m3u8?token={expired}"))).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_playback_token");

    // Others cannot obtain a token for a private video.
    let stranger = app.user("creator").await;
    let response = app
        .http
        .get(app.url(&format!("/api/v1/videos/{private}/playback")))
        .bearer_auth(&stranger.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

/// Sends `path` byte for byte (no client-side normalisation) and returns status and body.
async fn raw_get(app: &TestApp, path: &str) -> (u16, String) {
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_attempts_never_return_another_objects_bytes() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let public = app.ready_video(owner.id, "public").await;
    let private = app.ready_video(owner.id, "private").await;
    let urls = playback(&app, &owner.token, public).await;
    let master_url = urls["master_url"].as_str().unwrap_or_else(|| panic!("a public video has a master URL: {urls}"));
    assert_eq!(master_url, format!("/hls/{public}/master.m3u8"), "public videos need no token");
    assert_eq!(raw_get(&app, master_url).await.0, 200, "and the URL plays as it is");

    let attempts = [
        format!("/hls/{public}/../{private}/master.m3u8"),
        format!("/hls/{public}/480p/../../{private}/480p/seg_000.ts"),
        format!("/hls/{public}/%2e%2e%2f{private}/master.m3u8"),
        format!("/hls/{public}/480p/%2e%2e%2f%2e%2e%2f{private}%2f480p%2fseg_000.ts"),
        format!("/hls/{public}/..%2f..%2fraw%2f{private}/source"),
        format!("/hls/{public}/480p/..%2f..%2f..%2fraw%2f{public}%2fsource"),
        format!("/hls/..%2f{private}/master.m3u8"),
        format!("/hls/%2e%2e/{private}/poster.jpg"),
        "/hls/%2fetc%2fpasswd/master.m3u8".to_owned(),
        format!("/hls/{public}/%2fetc%2fpasswd/index.m3u8"),
        format!("/hls/{public}/480p/%2Fetc%2Fpasswd"),
        "/hls//etc/passwd".to_owned(),
        format!("/hls/{private}/480p/seg_000.ts"),
        format!("/hls/{public}/480p/seg_000.ts/../../../{private}/480p/seg_000.ts"),
    ];
    for path in attempts {
        let (status, body) = raw_get(&app, &path).await;
        assert!(matches!(status, 400 | 403 | 404), "{path}: {status}");
        assert!(!body.contains(&fixture_marker(private, "segment")), "{path} leaked the private segment");
        assert!(!body.contains("FIXTURE source"), "{path} leaked a source");
        assert!(!body.contains("root:"), "{path} leaked a file");
    }
    // And the legitimate path still works.
    let (status, body) = raw_get(&app, &format!("/hls/{public}/480p/seg_000.ts")).await;
    assert_eq!(status, 200);
    assert!(body.contains(&fixture_marker(public, "segment")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_edits_and_deletes_and_deletion_removes_every_object() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let video = app.ready_video(owner.id, "public").await;

    let edited = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{video}")))
        .bearer_auth(&owner.token)
        .json(
            &json!({ "title": "  New title ", "description": "Shot at dawn\nfrom the pier ", "visibility": "private" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!((edited["title"].as_str(), edited["visibility"].as_str()), (Some("New title"), Some("private")));
    let shown = app.get_json(&format!("/api/v1/videos/{video}"), &owner.token).await;
    assert_eq!(
        (shown["title"].as_str(), shown["description"].as_str()),
        (Some("New title"), Some("Shot at dawn\nfrom the pier")),
        "the edit is kept, trimmed"
    );
    assert!(edited["master_url"].is_null(), "a private video has no direct URL");
    let (status, _) = raw_get(&app, &format!("/hls/{video}/master.m3u8")).await;
    assert_eq!(status, 403, "now private: no token, no playlist");

    let bad = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{video}")))
        .bearer_auth(&owner.token)
        .json(&json!({ "title": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    let deleted =
        app.http.delete(app.url(&format!("/api/v1/videos/{video}"))).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    for prefix in [format!("raw/{video}/"), format!("hls/{video}/"), format!("thumbs/{video}/")] {
        assert!(app.state.storage.list(&prefix).await.unwrap().is_empty(), "{prefix} left behind");
    }
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM videos WHERE id = $1").bind(video).fetch_one(app.db()).await.unwrap();
    assert_eq!(rows, 0);
    let again =
        app.http.get(app.url(&format!("/api/v1/videos/{video}"))).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(again.status(), 404);
}
