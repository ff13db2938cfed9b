//! What an attacker's probe found, each answered: a source that changes after its
//! upload, bodies and clients that never end, tokens that outlive the access they
//! granted, inputs spelled to slip past a check, and faults that answered 500.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use streambox_base::ids::VideoId;
use streambox_queue::TranscodeJob;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestApp, eventually};

const TRANSCODE: Duration = Duration::from_secs(120);

/// A queued video of `owner` whose stored source is `source`, delivered to the worker
/// as an upload would be (the upload checks are what this bypasses).
async fn queued_video_with_source(app: &TestApp, owner: uuid::Uuid, source: Vec<u8>) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO videos (id, owner_id, title, status, source_bytes) VALUES ($1, $2, 'Probe', 'queued', $3)",
    )
    .bind(id)
    .bind(owner)
    .bind(source.len() as i64)
    .execute(app.db())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO transcode_jobs (id, video_id, state, attempts, max_attempts) VALUES ($1, $2, 'queued', 0, 3)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(id)
    .execute(app.db())
    .await
    .unwrap();
    app.state.storage.put_bytes(&format!("raw/{id}/source"), source.into(), "application/octet-stream").await.unwrap();
    app.state.queue.enqueue(TranscodeJob::new(VideoId(id))).await.unwrap();
    id
}

/// An HLS playlist naming a local file, `len` bytes long.
fn playlist_naming(target: &str, len: usize) -> Vec<u8> {
    let mut playlist = format!("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\nfile://{target}\n#EXT-X-ENDLIST\n");
    assert!(playlist.len() < len, "the clip is larger than the playlist");
    playlist.push_str(&"#".repeat(len - playlist.len()));
    playlist.into_bytes()
}

#[tokio::test]
async fn a_presigned_url_used_again_after_completion_changes_nothing_the_pipeline_reads() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let clip = std::fs::read(crate::support::make_clip(app.dir.path(), "mine.mp4", 320, 240, 2, true)).unwrap();
    let granted: Value =
        app.presign(&token, &json!({ "title": "Mine", "size": clip.len() })).await.json().await.unwrap();
    let (url, id) = (granted["upload_url"].as_str().unwrap(), granted["id"].as_str().unwrap());
    app.http.put(url).body(clip.clone()).send().await.unwrap().error_for_status().unwrap();
    let completed =
        app.http.post(app.url(granted["complete_url"].as_str().unwrap())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(completed.status(), StatusCode::ACCEPTED);

    // The URL is still valid: the attacker swaps in a playlist naming someone else's files.
    let secret = app.dir.path().join("objects/streambox/hls/victim/480p/seg_000.ts");
    let swapped = playlist_naming(&secret.display().to_string(), clip.len());
    let put = app.http.put(url).body(swapped).send().await.unwrap();
    assert!(put.status().is_success(), "the URL itself still takes a PUT: {}", put.status());

    let video = app.wait_for_status(&token, id, &["ready", "failed"], TRANSCODE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let stored = app.state.storage.get(&format!("raw/{id}/source")).await.unwrap().unwrap();
    let stored = stored.body.collect().await.unwrap().into_bytes();
    assert!(stored == clip, "the source the pipeline read is the file that was completed");
}

#[tokio::test]
async fn a_stored_source_that_became_a_playlist_fails_without_ffmpeg_reading_what_it_names() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    // A private segment of another video, on the local disk of an `all` process.
    let victim = crate::support::make_clip(app.dir.path(), "victim.ts", 320, 240, 2, true);
    let id = queued_video_with_source(&app, owner.id, playlist_naming(&victim.display().to_string(), 400)).await;
    let video = app.wait_for_status(&owner.token, &id.to_string(), &["ready", "failed"], TRANSCODE).await;
    assert_eq!(video["status"], "failed", "{video}");
    let error = video["error"].as_str().unwrap();
    assert!(error.contains("not a video container"), "{error}");
    let (state, attempts, _) = crate::support::job_of(&app, &id.to_string()).await;
    assert_eq!((state.as_str(), attempts), ("dead", 1), "a permanent failure, not retried");
}

#[tokio::test]
async fn errors_people_see_name_no_server_paths() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let id = queued_video_with_source(&app, owner.id, crate::support::fake_video()).await;
    let video = app.wait_for_status(&owner.token, &id.to_string(), &["ready", "failed"], TRANSCODE).await;
    assert_eq!(video["status"], "failed", "{video}");
    let (_, _, errors) = crate::support::job_of(&app, &id.to_string()).await;
    let root = std::path::absolute(app.dir.path()).unwrap().display().to_string();
    for shown in [video["error"].to_string(), errors.to_string()] {
        assert!(!shown.contains(&root) && !shown.contains("/work/"), "{shown}");
    }
}

#[tokio::test]
async fn a_clip_shorter_than_a_second_becomes_ready() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let dir = app.dir.path();
    let clip = dir.join("blink.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440", "-t", "0.4", "-c:v", "libx264", "-c:a", "aac"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(made.success());
    let uploaded: Value = app.upload(Some(&token), &clip, "Blink").await.json().await.unwrap();
    let video = app.wait_for_status(&token, uploaded["id"].as_str().unwrap(), &["ready", "failed"], TRANSCODE).await;
    assert_eq!(video["status"], "ready", "{video}");
}

#[tokio::test]
async fn json_bodies_are_bounded_where_file_bodies_are_not() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let title = "x".repeat(1 << 20);
    let sent = app.presign(&token, &json!({ "title": title, "size": 10 })).await;
    assert_eq!(sent.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(sent.json::<Value>().await.unwrap()["code"].is_string());
}

/// Opens a tus upload and starts a PATCH whose body never finishes.
async fn stalled_patch(app: &TestApp, token: &str) -> tokio::net::TcpStream {
    let created = app
        .http
        .post(app.url("/api/v1/uploads/tus"))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "100000")
        .header("upload-metadata", "title U2xvdw==")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let mut socket = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 100000\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(b"\0\0\0\x18ftypisom").await.unwrap();
    socket
}

#[tokio::test]
async fn slow_uploads_hold_no_database_connection() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        stalled.push(stalled_patch(&app, &token).await);
    }
    // Every PATCH has taken its upload's lease: they are all waiting on their clients.
    eventually(Duration::from_secs(30), "every PATCH to hold its lease", || async {
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM uploads WHERE writer IS NOT NULL")
            .fetch_one(app.db())
            .await
            .unwrap();
        (held == 20).then_some(())
    })
    .await;
    let idle: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(idle, 0, "no connection waits inside a transaction on a client");
    for _ in 0..20 {
        let listed = app.http.get(app.url("/api/v1/videos")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(listed.status(), StatusCode::OK, "{}", listed.text().await.unwrap());
    }
    drop(stalled);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = TestApp::spawn().await;
    let mut socket = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server still holds a connection whose headers never came");
}

#[tokio::test]
async fn a_visibility_change_revokes_playback_tokens_handed_out_before_it() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let id = app.ready_video(owner.id, "unlisted").await;
    let playback = app.get_json(&format!("/api/v1/videos/{id}/playback"), &owner.token).await;
    let master = playback["master_url"].as_str().unwrap().to_owned();
    assert_eq!(app.http.get(app.url(&master)).send().await.unwrap().status(), StatusCode::OK);
    let segment = master.replace("master.m3u8", "480p/seg_000.ts");
    assert_eq!(app.http.get(app.url(&segment)).send().await.unwrap().status(), StatusCode::OK);

    let made_private = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{id}")))
        .bearer_auth(&owner.token)
        .json(&json!({ "visibility": "private" }))
        .send()
        .await
        .unwrap();
    assert_eq!(made_private.status(), StatusCode::OK);
    for url in [&master, &segment] {
        eventually(Duration::from_secs(30), "the old token to be refused", || async {
            let status = app.http.get(app.url(url)).send().await.unwrap().status();
            (status == StatusCode::FORBIDDEN).then_some(())
        })
        .await;
    }
    let fresh = app.get_json(&format!("/api/v1/videos/{id}/playback"), &owner.token).await;
    let fresh = fresh["master_url"].as_str().unwrap();
    assert_eq!(app.http.get(app.url(fresh)).send().await.unwrap().status(), StatusCode::OK, "the owner's new token");
}

#[tokio::test]
async fn an_absurd_page_number_is_a_client_error() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin").await;
    for page in ["9223372036854775807", "-9223372036854775808", "0"] {
        let listed = app
            .http
            .get(app.url(&format!("/api/v1/admin/jobs?page={page}&per_page=200")))
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), StatusCode::BAD_REQUEST, "page {page}");
        assert_eq!(listed.json::<Value>().await.unwrap()["code"], "invalid_query");
    }
}

#[tokio::test]
async fn answers_the_framework_gives_itself_have_the_json_error_shape() {
    let app = TestApp::spawn().await;
    let check = |response: reqwest::Response, status: StatusCode, code: &'static str| async move {
        assert_eq!(response.status(), status);
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(content_type.as_deref(), Some("application/json"), "{status}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    };
    check(app.http.get(app.url("/no/such/route")).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let wrong_method = app.http.delete(app.url("/api/v1/auth/login")).send().await.unwrap();
    assert!(wrong_method.headers().contains_key("allow"), "a 405 still says what is allowed");
    check(wrong_method, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let long = app.http.get(app.url(&format!("/api/v1/search?q={}", "a".repeat(9000)))).send().await.unwrap();
    check(long, StatusCode::URI_TOO_LONG, "uri_too_long").await;
    let big_header = app.http.get(app.url("/healthz")).header("x-padding", "p".repeat(40_000)).send().await.unwrap();
    check(big_header, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large").await;
}

#[tokio::test]
async fn an_id_has_one_spelling_in_every_path() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let id = app.ready_video(owner.id, "public").await;
    let spellings =
        [format!("{{{id}}}"), format!("urn:uuid:{id}"), id.simple().to_string(), id.to_string().to_uppercase()];
    for other in &spellings {
        let shown = app.http.get(app.url(&format!("/api/v1/videos/{other}"))).send().await.unwrap();
        assert_eq!(shown.status(), StatusCode::BAD_REQUEST, "{other}");
        let deleted = app
            .http
            .delete(app.url(&format!("/api/v1/videos/{other}")))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::BAD_REQUEST, "{other}");
    }
    let still = app.http.get(app.url(&format!("/api/v1/videos/{id}"))).send().await.unwrap();
    assert_eq!(still.status(), StatusCode::OK, "no other spelling deleted it");
}

#[tokio::test]
async fn header_numbers_are_plain_digits() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let created = app
        .http
        .post(app.url("/api/v1/uploads/tus"))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "+100")
        .header("upload-metadata", "title U2lnbg==")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::BAD_REQUEST);
    assert_eq!(created.json::<Value>().await.unwrap()["code"], "invalid_header");
}

#[tokio::test]
async fn a_range_with_a_stale_if_range_gets_the_whole_object() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let id = app.ready_video(owner.id, "public").await;
    let url = app.url(&format!("/hls/{id}/480p/seg_000.ts"));
    let whole = app.http.get(&url).send().await.unwrap();
    let e_tag = whole.headers()["etag"].to_str().unwrap().to_owned();
    let ranged = |if_range: String| app.http.get(&url).header("range", "bytes=0-3").header("if-range", if_range).send();
    assert_eq!(ranged(e_tag).await.unwrap().status(), StatusCode::PARTIAL_CONTENT);
    let stale = ranged("\"stale\"".into()).await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(stale.bytes().await.unwrap(), crate::support::fixture_marker(id, "segment").as_bytes());
}

#[tokio::test]
async fn invisible_and_reordering_characters_are_refused_in_what_people_read() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let register = |name: &str| {
        let email = format!("u-{}@example.org", uuid::Uuid::new_v4().simple());
        app.http
            .post(app.url("/api/v1/auth/register"))
            .json(&json!({ "email": email, "password": "correct horse battery staple", "display_name": name }))
            .send()
    };
    assert_eq!(register("Admin").await.unwrap().status(), StatusCode::CREATED);
    for name in ["Admin\u{200b}", "\u{feff}Admin", "Ad\u{202e}nim"] {
        let refused = register(name).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert_eq!(refused.json::<Value>().await.unwrap()["code"], "invalid_field");
    }
    let titled = app.presign(&owner.token, &json!({ "title": "holiday\u{202e}4pm.exe", "size": 10 })).await;
    assert_eq!(titled.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let video = app.ready_video(owner.id, "public").await;
    let commented = app
        .http
        .post(app.url(&format!("/api/v1/videos/{video}/comments")))
        .bearer_auth(&owner.token)
        .json(&json!({ "body": "first\u{2066}!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(commented.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_upload_while_storage_is_away_is_a_retryable_503() {
    let storage = crate::support::SwitchableProxy::start("http://127.0.0.1:9").await;
    storage.set_up(false);
    let app = TestApp::spawn_with(&[("S3_ENDPOINT", storage.url.as_str())]).await;
    let token = app.signed_in_user().await;
    let clip = std::fs::read(crate::support::make_clip(app.dir.path(), "away.mp4", 320, 240, 1, true)).unwrap();
    let refused = app.upload_buffered(&token, &clip, "Away").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "storage_unavailable");
    let videos: i64 = sqlx::query_scalar("SELECT count(*) FROM videos").fetch_one(app.db()).await.unwrap();
    assert_eq!(videos, 0, "nothing half-made is left");
}

#[tokio::test]
async fn two_tabs_refreshing_at_once_keep_the_session() {
    let app = TestApp::spawn().await;
    let user = app.user("creator").await;
    let refreshes = (0..8).map(|_| {
        app.http.post(app.url("/api/v1/auth/refresh")).json(&json!({ "refresh_token": user.refresh_token })).send()
    });
    let answers = futures::future::join_all(refreshes).await;
    let mut successors = Vec::new();
    for answer in answers {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "a racing refresh signs the user out");
        successors.push(answer.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned());
    }
    successors.sort();
    successors.dedup();
    assert_eq!(successors.len(), 1, "every tab got the same successor");
    let next = app.http.post(app.url("/api/v1/auth/refresh")).json(&json!({ "refresh_token": successors[0] })).send();
    assert_eq!(next.await.unwrap().status(), StatusCode::OK, "the session goes on");
}

#[tokio::test]
async fn signing_out_ends_the_access_token_too() {
    let app = TestApp::spawn().await;
    let user = app.user("creator").await;
    let me = || app.http.get(app.url("/api/v1/me")).bearer_auth(&user.token).send();
    assert_eq!(me().await.unwrap().status(), StatusCode::OK);
    let out =
        app.http.post(app.url("/api/v1/auth/logout")).json(&json!({ "refresh_token": user.refresh_token })).send();
    assert_eq!(out.await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(me().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let again = app.login(&user.email, &user.password).await;
    let token = again.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let fresh = app.http.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK, "a new session works");
}
