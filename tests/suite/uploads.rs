//! Uploads: limits and validation, resumable (tus) uploads that survive a restart of
//! the upload service, direct-to-storage uploads, the visibility each way of uploading
//! chooses, and what an abandoned upload leaves behind (nothing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, WorkerProcess, eventually, fake_video, make_clip};

const TUS: &str = "/api/v1/uploads/tus";

/// A clip of about 20 MB: more than two 8 MiB storage parts.
fn large_clip(dir: &Path) -> PathBuf {
    let path = dir.join("large.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=30,noise=alls=25:allf=t")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-qp", "20", "-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success());
    path
}

fn metadata(title: &str) -> String {
    format!("title {},filename {}", STANDARD.encode(title), STANDARD.encode("../../etc/passwd.mp4"))
}

/// Multipart uploads still in progress in the embedded S3 endpoint (s3s-fs keeps their
/// parts as `.upload_id-*` files in its root).
fn parts_in_progress(app: &TestApp) -> usize {
    let root = app.dir.path().join("objects");
    std::fs::read_dir(&root)
        .map(|entries| {
            entries.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".upload_id-")).count()
        })
        .unwrap_or(0)
}

async fn raw_objects(app: &TestApp) -> Vec<String> {
    app.state.storage.list("raw/").await.unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(app.db()).await.unwrap()
}

async fn tus_create(app: &TestApp, base: &str, token: &str, length: u64, title: &str) -> reqwest::Response {
    app.http
        .post(format!("{base}{TUS}"))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", length.to_string())
        .header("upload-metadata", metadata(title))
        .send()
        .await
        .unwrap()
}

/// The upload `id` became a video private to its owner: they see it, ready, as private;
/// anyone else is told there is no such video (a ready public one would be shown); and
/// its `video.created` event said private.
async fn assert_private_to_its_owner(app: &TestApp, token: &str, id: &str) {
    let video = app.wait_for_status(token, id, &["ready", "failed"], Duration::from_secs(120)).await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["visibility"], "private", "{video}");
    let anonymous = app.http.get(app.url(&format!("/api/v1/videos/{id}"))).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::NOT_FOUND);
    let announced: String = sqlx::query_scalar(
        "SELECT data #>> '{video,visibility}' FROM events WHERE type = 'video.created' AND resource_id = $1",
    )
    .bind(uuid::Uuid::parse_str(id).unwrap())
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(announced, "private");
}

async fn tus_patch(app: &TestApp, url: &str, token: &str, offset: u64, body: Vec<u8>) -> reqwest::Response {
    app.http
        .patch(url)
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn tus_offset(app: &TestApp, url: &str, token: &str) -> u64 {
    let head = app.http.head(url).bearer_auth(token).header("tus-resumable", "1.0.0").send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["cache-control"], "no-store");
    head.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn oversized_non_video_and_badly_titled_uploads_are_refused_and_leave_nothing() {
    let app = TestApp::spawn_with(&[("STREAMBOX_MAX_UPLOAD_BYTES", "100000")]).await;
    let token = app.signed_in_user().await;
    let expect = |response: &Value, code: &str| assert_eq!(response["code"], code, "{response}");

    // Over the limit by its Content-Length.
    let mut big = fake_video();
    big.resize(150_000, b'x');
    let refused = app.upload_buffered(&token, &big, "Too big").await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    expect(&refused.json().await.unwrap(), "too_large");

    // Over the limit while streaming (chunked: no Content-Length to go by).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = {
        let mut head = b"--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nStreamed\r\n--b\r\n\
            Content-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n"
            .to_vec();
        head.extend_from_slice(&fake_video());
        let mut chunks = vec![Ok(head)];
        chunks.extend((0..4).map(|_| Ok(vec![b'x'; 40_000])));
        chunks.push(Ok(b"\r\n--b--\r\n".to_vec()));
        chunks
    };
    let refused = app
        .http
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=b")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    expect(&refused.json().await.unwrap(), "too_large");

    // A text file named .mp4.
    let refused = app.upload_buffered(&token, b"these are my shopping notes, not a video", "Notes").await;
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    expect(&refused.json().await.unwrap(), "not_a_video");

    // Titles: empty, too long, control characters; the field is named.
    for title in ["", &"t".repeat(201), "bell\u{7}"] {
        let refused = app.upload_buffered(&token, &fake_video(), title).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{title:?}");
        let body: Value = refused.json().await.unwrap();
        expect(&body, "invalid_field");
        assert!(body["message"].as_str().unwrap().starts_with("title"), "{body}");
    }

    // The same through tus: over the limit at creation, no title, junk content.
    assert_eq!(tus_create(&app, &app.base, &token, 100_001, "Big").await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let untitled = app
        .http
        .post(app.url(TUS))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "1000")
        .send()
        .await
        .unwrap();
    assert_eq!(untitled.status(), StatusCode::UNPROCESSABLE_ENTITY);
    expect(&untitled.json().await.unwrap(), "invalid_field");
    let created = tus_create(&app, &app.base, &token, 1000, "Notes").await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let url = app.url(created.headers()["location"].to_str().unwrap());
    let refused = tus_patch(&app, &url, &token, 0, vec![b'n'; 1000]).await;
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        app.http.head(&url).bearer_auth(&token).header("tus-resumable", "1.0.0").send().await.unwrap().status(),
        404
    );

    assert!(raw_objects(&app).await.is_empty());
    assert_eq!(parts_in_progress(&app), 0);
    assert_eq!(count(&app, "SELECT count(*) FROM videos").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM uploads").await, 0);
}

#[tokio::test]
async fn a_multipart_upload_cut_off_mid_body_leaves_no_parts_objects_or_video() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    // 12 MiB then the client fails: one 8 MiB part has reached storage by then.
    let (tx, rx) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let request = app
        .http
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=b")
        .body(reqwest::Body::wrap_stream(rx))
        .send();
    let sender = tokio::spawn(async move {
        let mut tx = tx;
        let mut head = b"--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nCut\r\n--b\r\n\
            Content-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n"
            .to_vec();
        head.extend_from_slice(&fake_video());
        tx.send(Ok(head)).await.unwrap();
        for _ in 0..12 {
            tx.send(Ok(vec![b'x'; 1024 * 1024])).await.unwrap();
        }
        tx
    });
    let request = tokio::spawn(request);
    let mut tx = sender.await.unwrap();
    eventually(Duration::from_secs(20), "a part to reach storage", || async {
        (parts_in_progress(&app) > 0).then_some(())
    })
    .await;
    tx.send(Err(std::io::Error::other("the client went away"))).await.unwrap();
    drop(tx);
    assert!(request.await.unwrap().is_err(), "the request failed on the client's side");

    eventually(Duration::from_secs(20), "the abandoned parts to be aborted", || async {
        (parts_in_progress(&app) == 0).then_some(())
    })
    .await;
    assert!(raw_objects(&app).await.is_empty());
    assert_eq!(count(&app, "SELECT count(*) FROM videos").await, 0);
}

#[tokio::test]
async fn a_tus_upload_resumes_after_a_dropped_connection_and_a_restart_of_the_upload_service() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let clip = std::fs::read(large_clip(app.dir.path())).unwrap();
    let length = clip.len() as u64;

    let upload_service = WorkerProcess::spawn_mode(&app, "upload", &[]).ready().await;
    let options =
        app.http.request(reqwest::Method::OPTIONS, format!("{}{TUS}", upload_service.base)).send().await.unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(options.headers()["tus-version"], "1.0.0");
    assert!(options.headers()["tus-extension"].to_str().unwrap().contains("creation-with-upload"));

    // Created with its first 100 kB (creation-with-upload).
    let first = 100_000;
    let created = app
        .http
        .post(format!("{}{TUS}", upload_service.base))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", length.to_string())
        .header("upload-metadata", metadata("Resumed"))
        .header("content-type", "application/offset+octet-stream")
        .body(clip[..first].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["tus-resumable"], "1.0.0");
    assert_eq!(created.headers()["upload-offset"], first.to_string().as_str());
    assert!(created.headers().contains_key("upload-expires"));
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let url = format!("{}{location}", upload_service.base);
    let id = location.rsplit('/').next().unwrap().to_owned();

    // The next request drops its connection after about half the file.
    let half = clip.len() / 2;
    let (tx, rx) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let dropped = app
        .http
        .patch(&url)
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", first.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(rx));
    let dropped = tokio::spawn(dropped.send());
    let mut tx = tx;
    for chunk in clip[first..half].chunks(256 * 1024) {
        tx.send(Ok(chunk.to_vec())).await.unwrap();
    }
    const PART: u64 = 8 * 1024 * 1024;
    eventually(Duration::from_secs(20), "a full part to be stored", || async {
        (tus_offset(&app, &url, &token).await >= PART).then_some(())
    })
    .await;
    tx.send(Err(std::io::Error::other("connection lost"))).await.ok();
    drop(tx);
    assert!(dropped.await.unwrap().is_err());
    // What arrived after the part is kept too (the tail), once the server sees the end.
    let stored = eventually(Duration::from_secs(20), "the bytes after the part to be kept", || async {
        Some(tus_offset(&app, &url, &token).await).filter(|&offset| offset > PART)
    })
    .await;
    assert!(stored <= half as u64, "{stored}");

    // The upload service dies; another one takes over and knows the offset.
    drop(upload_service);
    let upload_service = WorkerProcess::spawn_mode(&app, "upload", &[]).ready().await;
    let url = format!("{}{location}", upload_service.base);
    assert_eq!(tus_offset(&app, &url, &token).await, stored);
    // A wrong offset is refused.
    let wrong = tus_patch(&app, &url, &token, stored - 1, vec![0; 10]).await;
    assert_eq!(wrong.status(), StatusCode::CONFLICT);
    assert_eq!(wrong.json::<Value>().await.unwrap()["code"], "offset_mismatch");

    let finished = tus_patch(&app, &url, &token, stored, clip[stored as usize..].to_vec()).await;
    assert_eq!(finished.status(), StatusCode::NO_CONTENT);
    assert_eq!(finished.headers()["upload-offset"], length.to_string().as_str());
    // Asked again (a client that lost the answer), it is finished, not restarted.
    assert_eq!(tus_offset(&app, &url, &token).await, length);

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], Duration::from_secs(120)).await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["title"], "Resumed");
    assert_eq!(count(&app, &format!("SELECT count(*) FROM transcode_jobs WHERE video_id = '{id}'")).await, 1);
    assert_eq!(count(&app, &format!("SELECT attempts::bigint FROM transcode_jobs WHERE video_id = '{id}'")).await, 1);
    let source = app.state.storage.head(&format!("raw/{id}/source")).await.unwrap().unwrap();
    assert_eq!(source.len, length, "the source is the file, byte for byte in length");
    let stored_source = app.state.storage.get(&format!("raw/{id}/source")).await.unwrap().unwrap();
    assert!(stored_source.body.collect().await.unwrap().into_bytes() == clip, "the source is the file");
    assert_eq!(raw_objects(&app).await, vec![format!("raw/{id}/source")], "the tail object is gone");
    assert_eq!(parts_in_progress(&app), 0);
}

#[tokio::test]
async fn tus_uploads_can_be_terminated_and_expire() {
    let app = TestApp::spawn_with(&[("STREAMBOX_UPLOAD_EXPIRY_SECS", "2"), ("STREAMBOX_RECONCILE_SECS", "1")]).await;
    let token = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let clip = std::fs::read(large_clip(app.dir.path())).unwrap();

    let mut urls = Vec::new();
    for title in ["Terminated", "Expired"] {
        let created = tus_create(&app, &app.base, &token, clip.len() as u64, title).await;
        let url = app.url(created.headers()["location"].to_str().unwrap());
        let sent = tus_patch(&app, &url, &token, 0, clip[..9 * 1024 * 1024].to_vec()).await;
        assert_eq!(sent.status(), StatusCode::NO_CONTENT);
        urls.push(url);
    }
    assert_eq!(parts_in_progress(&app), 2);
    // Someone else's upload is not theirs to see, write or end.
    let head = app.http.head(&urls[0]).bearer_auth(&other).header("tus-resumable", "1.0.0").send().await.unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    assert_eq!(tus_patch(&app, &urls[0], &other, 9 * 1024 * 1024, vec![0; 10]).await.status(), 404);
    let delete = |token: &str| app.http.delete(&urls[0]).bearer_auth(token).header("tus-resumable", "1.0.0").send();
    assert_eq!(delete(&other).await.unwrap().status(), StatusCode::NOT_FOUND);
    // Without the protocol header: 412.
    assert_eq!(app.http.delete(&urls[0]).bearer_auth(&token).send().await.unwrap().status(), 412);
    assert_eq!(delete(&token).await.unwrap().status(), StatusCode::NO_CONTENT);

    // The other one expires; the reconciler removes its parts and tail.
    eventually(Duration::from_secs(30), "the expired upload to be discarded", || async {
        (count(&app, "SELECT count(*) FROM uploads").await == 0 && parts_in_progress(&app) == 0).then_some(())
    })
    .await;
    assert!(raw_objects(&app).await.is_empty());
    assert_eq!(count(&app, "SELECT count(*) FROM videos").await, 0);
}

#[tokio::test]
async fn a_presigned_upload_goes_straight_to_storage_and_is_checked_before_it_is_queued() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let clip = std::fs::read(make_clip(app.dir.path(), "direct.mp4", 640, 360, 3, true)).unwrap();

    assert_eq!(app.presign(&token, &json!({ "title": "", "size": 10 })).await.status(), 422);
    assert_eq!(app.presign(&token, &json!({ "title": "Zero", "size": 0 })).await.status(), 422);
    let huge = app.presign(&token, &json!({ "title": "Huge", "size": 6u64 << 30 })).await;
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE, "one PUT takes at most 5 GiB: tus is for larger files");
    assert_eq!(huge.json::<Value>().await.unwrap()["code"], "too_large_for_one_put");
    let granted: Value =
        app.presign(&token, &json!({ "title": "Direct", "size": clip.len() })).await.json().await.unwrap();
    let id = granted["id"].as_str().unwrap().to_owned();
    let complete = || app.http.post(app.url(granted["complete_url"].as_str().unwrap())).bearer_auth(&token).send();

    // Nothing uploaded yet.
    let early = complete().await.unwrap();
    assert_eq!(early.status(), StatusCode::CONFLICT);
    assert_eq!(early.json::<Value>().await.unwrap()["code"], "upload_missing");

    // The URL takes exactly the declared size.
    let url = granted["upload_url"].as_str().unwrap();
    let short = app.http.put(url).body(clip[..100].to_vec()).send().await.unwrap();
    assert!(!short.status().is_success(), "a body of another size is refused by storage");
    let put = app.http.put(url).body(clip.clone()).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());

    let first: Value = complete().await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["status"], "queued");
    let again = complete().await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED, "completing twice answers the same");
    assert_eq!(count(&app, &format!("SELECT count(*) FROM transcode_jobs WHERE video_id = '{id}'")).await, 1);
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], Duration::from_secs(60)).await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["visibility"], "public", "an upload that does not choose is public");

    // Junk sent straight to storage is caught at completion and removed.
    let notes = b"these are my shopping notes".to_vec();
    let granted: Value =
        app.presign(&token, &json!({ "title": "Notes", "size": notes.len() })).await.json().await.unwrap();
    app.http.put(granted["upload_url"].as_str().unwrap()).body(notes).send().await.unwrap().error_for_status().unwrap();
    let refused =
        app.http.post(app.url(granted["complete_url"].as_str().unwrap())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let junk_id = granted["id"].as_str().unwrap();
    assert!(app.state.storage.head(&format!("raw/{junk_id}/source")).await.unwrap().is_none());
    assert_eq!(count(&app, "SELECT count(*) FROM uploads").await, 0);
}

#[tokio::test]
async fn a_form_upload_with_its_size_streams_into_one_write_and_the_size_must_be_exact() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let clip = std::fs::read(large_clip(app.dir.path())).unwrap();
    let send = |declared: usize, file: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .text("title", "Sized")
            .part("file", reqwest::multipart::Part::bytes(file).file_name("sized.mp4"));
        app.http
            .post(app.url("/api/v1/uploads"))
            .bearer_auth(&token)
            .header("upload-length", declared.to_string())
            .multipart(form)
            .send()
    };

    for declared in [clip.len() - 1, clip.len() + 1] {
        let refused = send(declared, clip.clone()).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "declared {declared}");
        assert_eq!(refused.json::<Value>().await.unwrap()["code"], "size_mismatch");
    }
    assert!(raw_objects(&app).await.is_empty(), "a write with the wrong size stores nothing");
    assert_eq!(parts_in_progress(&app), 0, "and uses no multipart upload");
    assert_eq!(count(&app, "SELECT count(*) FROM videos").await, 0);

    let accepted: Value = send(clip.len(), clip.clone()).await.unwrap().json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_owned();
    let stored = app.state.storage.get(&format!("raw/{id}/source")).await.unwrap().unwrap();
    assert!(stored.body.collect().await.unwrap().into_bytes() == clip, "the source is the file");
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], Duration::from_secs(120)).await;
    assert_eq!(video["status"], "ready", "{video}");
}

#[tokio::test]
async fn a_form_upload_creates_its_video_with_the_visibility_chosen_before_or_after_the_file() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let clip = std::fs::read(make_clip(app.dir.path(), "chosen.mp4", 320, 240, 2, false)).unwrap();
    let form = |title: &str| reqwest::multipart::Form::new().text("title", title.to_owned());
    let file = |bytes: Vec<u8>| reqwest::multipart::Part::bytes(bytes).file_name("chosen.mp4");
    let send = |form: reqwest::multipart::Form| {
        app.http.post(app.url("/api/v1/uploads")).bearer_auth(&token).multipart(form).send()
    };

    // An invalid value before the file, or after it (once the file is stored): refused, naming the field.
    for refused in [
        form("Secret").text("visibility", "secret").part("file", file(fake_video())),
        form("Secret").part("file", file(fake_video())).text("visibility", "Private"),
    ] {
        let refused = send(refused).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["code"], "invalid_field", "{body}");
        assert!(body["message"].as_str().unwrap().starts_with("visibility"), "{body}");
    }
    let twice =
        form("Twice").text("visibility", "private").part("file", file(fake_video())).text("visibility", "public");
    let refused = send(twice).await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "invalid_multipart");
    assert_eq!(count(&app, "SELECT count(*) FROM videos").await, 0);
    assert!(raw_objects(&app).await.is_empty());
    assert_eq!(parts_in_progress(&app), 0);

    let accepted = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    };
    let unlisted =
        accepted(send(form("Unlisted").text("visibility", "unlisted").part("file", file(clip.clone()))).await.unwrap())
            .await;
    let video = app.get_json(&format!("/api/v1/videos/{unlisted}"), &token).await;
    assert_eq!(video["visibility"], "unlisted", "{video}");
    let private =
        accepted(send(form("Private").part("file", file(clip)).text("visibility", "private")).await.unwrap()).await;
    assert_private_to_its_owner(&app, &token, &private).await;
}

#[tokio::test]
async fn a_tus_upload_keeps_the_visibility_in_its_metadata_until_its_last_byte_makes_the_video() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let clip = std::fs::read(make_clip(app.dir.path(), "resumed.mp4", 320, 240, 2, false)).unwrap();
    let create = |visibility: &str| {
        app.http
            .post(app.url(TUS))
            .bearer_auth(&token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", clip.len().to_string())
            .header("upload-metadata", format!("{},visibility {}", metadata("Chosen"), STANDARD.encode(visibility)))
            .send()
    };

    let refused = create("secret").await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "invalid_field", "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("visibility"), "{body}");
    assert_eq!(count(&app, "SELECT count(*) FROM uploads").await, 0);

    let created = create("private").await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let (url, id) = (app.url(&location), location.rsplit('/').next().unwrap().to_owned());
    let half = clip.len() / 2;
    assert_eq!(tus_patch(&app, &url, &token, 0, clip[..half].to_vec()).await.status(), StatusCode::NO_CONTENT);
    let rest = tus_patch(&app, &url, &token, half as u64, clip[half..].to_vec()).await;
    assert_eq!(rest.status(), StatusCode::NO_CONTENT);
    assert_private_to_its_owner(&app, &token, &id).await;
    assert_eq!(count(&app, "SELECT count(*) FROM videos").await, 1, "the refused upload made no video");
}

#[tokio::test]
async fn a_presigned_upload_keeps_its_visibility_until_completion_makes_the_video() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let clip = std::fs::read(make_clip(app.dir.path(), "direct.mp4", 320, 240, 2, false)).unwrap();

    let refused = app.presign(&token, &json!({ "title": "Secret", "size": clip.len(), "visibility": "secret" })).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = refused.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("visibility"), "{body}");
    assert_eq!(count(&app, "SELECT count(*) FROM uploads").await, 0);

    let granted = app.presign(&token, &json!({ "title": "Direct", "size": clip.len(), "visibility": "private" })).await;
    assert_eq!(granted.status(), StatusCode::CREATED);
    let granted: Value = granted.json().await.unwrap();
    let id = granted["id"].as_str().unwrap().to_owned();
    app.http.put(granted["upload_url"].as_str().unwrap()).body(clip).send().await.unwrap().error_for_status().unwrap();
    let completed =
        app.http.post(app.url(granted["complete_url"].as_str().unwrap())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(completed.status(), StatusCode::ACCEPTED);
    assert_private_to_its_owner(&app, &token, &id).await;
    assert_eq!(count(&app, "SELECT count(*) FROM videos").await, 1, "the refused upload made no video");
}
