//! End to end: multipart upload -> object storage -> Redis job -> ffmpeg ladder ->
//! master playlist -> streamer, over HTTP, on real Postgres, Redis, S3 API and ffmpeg.

use std::process::Command;
use std::time::Duration;

use redis::AsyncCommands;
use serde_json::Value;

use crate::support::{TestApp, eventually, job_of, make_clip, probe_video};

const TRANSCODE_DEADLINE: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_travels_from_upload_to_hls_playback() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "holiday.mp4", 1280, 720, 8, true);
    let source = probe_video(&clip.display().to_string());
    let source_duration: f64 = source["format"]["duration"].as_str().unwrap().parse().unwrap();

    let accepted = app.upload(Some(&token), &clip, "Holiday").await;
    assert_eq!(accepted.status(), 202);
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(accepted["status"], "queued");
    let id = accepted["id"].as_str().unwrap().to_owned();

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], TRANSCODE_DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!((video["width"].as_i64(), video["height"].as_i64()), (Some(1280), Some(720)));
    assert!((video["duration_s"].as_f64().unwrap() - source_duration).abs() < 0.05);
    let master_url = app.url(video["master_url"].as_str().unwrap());

    // The master playlist, through the streamer.
    let response = app.http.get(&master_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/vnd.apple.mpegurl");
    let body = response.bytes().await.unwrap();
    let master = m3u8_rs::parse_master_playlist_res(&body).expect("a master playlist");
    let names: Vec<&str> =
        master.variants.iter().filter(|v| !v.is_i_frame).map(|v| v.uri.split('/').next().unwrap()).collect();
    assert_eq!(names, ["720p", "480p", "360p", "240p"], "no upscaling to 1080p");

    let sizes = [(1280, 720), (854, 480), (640, 360), (426, 240)];
    for (variant, (width, height)) in master.variants.iter().filter(|v| !v.is_i_frame).zip(sizes) {
        let resolution = variant.resolution.expect("RESOLUTION");
        assert_eq!((resolution.width, resolution.height), (width, height));
        assert!(variant.bandwidth >= variant.average_bandwidth.expect("AVERAGE-BANDWIDTH"));

        let variant_url = format!("{}/{}", master_url.rsplit_once('/').unwrap().0, variant.uri);
        let probed = probe_video(&variant_url);
        let stream = &probed["streams"][0];
        assert_eq!((stream["width"].as_u64(), stream["height"].as_u64()), (Some(width), Some(height)));
        assert_eq!(stream["codec_name"], "h264");
        let level = stream["level"].as_i64().unwrap();
        let codecs = variant.codecs.as_deref().unwrap();
        assert!(
            codecs.starts_with("avc1.") && codecs[..11].ends_with(&format!("{level:02x}")),
            "{codecs} vs level {level}"
        );
        assert!(codecs.ends_with(",mp4a.40.2"), "{codecs}");

        // Duration within one frame of the source: count the frames that were written.
        let frames: f64 = stream["nb_read_packets"].as_str().unwrap().parse().unwrap();
        let frame = 1.0 / 30.0;
        assert!(
            (frames * frame - source_duration).abs() <= frame + 1e-9,
            "{variant_url}: {frames} frames vs {source_duration} s"
        );

        // Every variant decodes completely over HTTP without an error.
        let decoded = Command::new("ffmpeg")
            .args(["-v", "error", "-i", &variant_url, "-f", "null", "-"])
            .output()
            .expect("run ffmpeg");
        assert!(decoded.status.success(), "decoding {variant_url} failed");
        assert!(decoded.stderr.is_empty(), "decoding {variant_url}: {}", String::from_utf8_lossy(&decoded.stderr));
    }

    let poster = app.http.get(app.url(video["poster_url"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(poster.status(), 200);
    assert_eq!(poster.headers()["content-type"], "image/jpeg");
    let poster = poster.bytes().await.unwrap();
    assert_eq!(&poster[..3], &[0xFF, 0xD8, 0xFF], "the poster is a JPEG");

    // The upload's scratch space is gone once the job is done.
    assert!(!app.dir.path().join("work").join(&id).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_only_looks_like_a_video_fails_once_with_a_readable_reason() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let notes = app.dir.path().join("notes.mp4");
    std::fs::write(&notes, crate::support::fake_video()).unwrap();

    let accepted = app.upload(Some(&token), &notes, "Not a video").await;
    assert_eq!(accepted.status(), 202);
    let id = accepted.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let video = app.wait_for_status(&token, &id, &["failed", "ready"], TRANSCODE_DEADLINE).await;
    assert_eq!(video["status"], "failed");
    let error = video["error"].as_str().unwrap();
    assert!(error.contains("not a video"), "unreadable reason: {error}");

    // One attempt, recorded as permanent: the job is dead, not in a retry loop.
    let (state, attempts, errors) = job_of(&app, &id).await;
    assert_eq!((state.as_str(), attempts), ("dead", 1));
    assert_eq!(errors.as_array().unwrap().len(), 1);
    assert_eq!(errors[0]["permanent"], true);
    let client =
        redis::Client::open(std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()))
            .unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let layout = app.state.queue.backend().get_config().clone();
    let dead_key = layout.dead_jobs_set();
    let dead: Vec<String> = eventually(Duration::from_secs(10), "the job in the dead set", || {
        let mut redis = redis.clone();
        let dead_key = dead_key.clone();
        async move {
            let members: Vec<String> = redis.smembers(&dead_key).await.unwrap();
            (!members.is_empty()).then_some(members)
        }
    })
    .await;
    assert_eq!(dead.len(), 1);
    let scheduled: usize = redis.zcard(layout.scheduled_jobs_set()).await.unwrap();
    assert_eq!(scheduled, 0, "nothing is scheduled for a retry");
}

/// Writes a whole multipart upload request in one go and reads the answer. (A client
/// streaming its body may see the connection close under it when the server rejects
/// the request before reading the body, which is what it should do.)
async fn raw_upload(app: &TestApp, authorization: Option<&str>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let boundary = "streamboxboundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nNope\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.mp4\"\r\n\r\n\0\0\0\x18ftypisom junk\r\n--{boundary}--\r\n"
    );
    let address = app.base.trim_start_matches("http://");
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let request = format!(
        "POST /api/v1/uploads HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = response.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_require_a_valid_token() {
    let app = TestApp::spawn().await;
    for authorization in
        [None, Some("Bearer garbage"), Some("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), Some("Basic dXNlcjpwYXNz")]
    {
        let (status, body) = raw_upload(&app, authorization).await;
        assert_eq!(status, 401, "authorization {authorization:?}");
        assert_eq!(body["code"], "unauthorized", "authorization {authorization:?}");
    }
    let videos: i64 = sqlx::query_scalar("SELECT count(*) FROM videos").fetch_one(app.db()).await.unwrap();
    assert_eq!(videos, 0);
    assert!(app.state.storage.list("raw/").await.unwrap().is_empty(), "nothing was stored");

    // The same request with a valid token is accepted: the 401s were about the token.
    let token = app.signed_in_user().await;
    let (status, _) = raw_upload(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streamer_serves_only_ready_videos() {
    let app = TestApp::spawn().await;
    app.signed_in_user().await;
    let owner: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users LIMIT 1").fetch_one(app.db()).await.unwrap();
    let queued = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO videos (id, owner_id, title, status, source_bytes) VALUES ($1, $2, 'Waiting', 'queued', 10)",
    )
    .bind(queued)
    .bind(owner)
    .execute(app.db())
    .await
    .unwrap();
    // Even with objects in place, a video that is not ready is not served.
    app.state
        .storage
        .put_bytes(&format!("hls/{queued}/master.m3u8"), "#EXTM3U\n".into(), "application/vnd.apple.mpegurl")
        .await
        .unwrap();

    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("/hls/{queued}/master.m3u8"),
        format!("/hls/{queued}/poster.jpg"),
        format!("/hls/{queued}/720p/index.m3u8"),
        format!("/hls/{unknown}/master.m3u8"),
        format!("/hls/{unknown}/480p/seg_000.ts"),
        "/hls/not-a-uuid/master.m3u8".to_owned(),
    ] {
        let response = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "not_found", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_and_badly_titled_uploads_are_refused_before_anything_is_kept() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;

    let refused = app.upload_buffered(&token, "these are my shopping notes\n".repeat(100).as_bytes(), "Notes").await;
    assert_eq!(refused.status(), 415);
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "not_a_video");

    for (title, field) in [("", "title"), ("bad\u{7}title", "title"), (&"x".repeat(201)[..], "title")] {
        let refused = app.upload_buffered(&token, &crate::support::fake_video(), title).await;
        assert_eq!(refused.status(), 422, "{title:?}");
        let body: Value = refused.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().starts_with(field), "{body}");
    }

    let videos: i64 = sqlx::query_scalar("SELECT count(*) FROM videos").fetch_one(app.db()).await.unwrap();
    assert_eq!(videos, 0, "no video row for a refused upload");
    assert!(app.state.storage.list("raw/").await.unwrap().is_empty(), "no stored bytes for a refused upload");
}

/// Uploads `clip`, waits for it and decodes every variant its master names through the
/// streamer; returns the rendition names.
async fn every_variant_plays(app: &TestApp, token: &str, clip: &std::path::Path) -> Vec<String> {
    let accepted: Value = app.upload(Some(token), clip, "Small").await.json().await.unwrap();
    let video =
        app.wait_for_status(token, accepted["id"].as_str().unwrap(), &["ready", "failed"], TRANSCODE_DEADLINE).await;
    assert_eq!(video["status"], "ready", "{}: {video}", clip.display());
    let master_url = app.url(video["master_url"].as_str().unwrap());
    let body = app.http.get(&master_url).send().await.unwrap().bytes().await.unwrap();
    let master = m3u8_rs::parse_master_playlist_res(&body).expect("a master playlist");
    let mut names = Vec::new();
    for variant in master.variants.iter().filter(|v| !v.is_i_frame) {
        let variant_url = format!("{}/{}", master_url.rsplit_once('/').unwrap().0, variant.uri);
        let served = app.http.get(&variant_url).send().await.unwrap().status();
        assert_eq!(served, 200, "{variant_url} is named by the master of a ready video");
        let decoded =
            Command::new("ffmpeg").args(["-v", "error", "-i", &variant_url, "-f", "null", "-"]).output().unwrap();
        assert!(decoded.status.success(), "{variant_url}: {}", String::from_utf8_lossy(&decoded.stderr));
        names.push(variant.uri.split('/').next().unwrap().to_owned());
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_smaller_than_every_rung_are_ready_and_play() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    for (width, height, rendition) in
        [(160, 90, "90p"), (90, 160, "90p"), (96, 96, "96p"), (16, 16, "16p"), (2, 2, "2p")]
    {
        let clip = make_clip(app.dir.path(), &format!("small-{width}x{height}.mp4"), width, height, 2, true);
        assert_eq!(every_variant_plays(&app, &token, &clip).await, [rendition], "{width}x{height}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rung_of_a_configured_ladder_is_served() {
    let app = TestApp::spawn_with(&[("STREAMBOX_LADDER", "360:800,240:400,144:200")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "ladder.mp4", 640, 360, 2, true);
    assert_eq!(every_variant_plays(&app, &token, &clip).await, ["360p", "240p", "144p"]);
}

/// `clip` with the payload of its `mdat` box overwritten by noise: the header and the
/// index (`moov`) are intact, so it probes as the video it was, and no frame decodes.
fn with_garbage_media_data(clip: &std::path::Path) -> std::path::PathBuf {
    let mut bytes = std::fs::read(clip).unwrap();
    let mut at = 0;
    let mut state: u32 = 0x2545_f491;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        assert!(size >= 8 && at + size <= bytes.len(), "a plain MP4 with 32-bit box sizes");
        if &bytes[at + 4..at + 8] == b"mdat" {
            for byte in &mut bytes[at + 8..at + size] {
                // xorshift32: the same noise every run.
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *byte = state as u8;
            }
            let corrupt = clip.with_extension("corrupt.mp4");
            std::fs::write(&corrupt, bytes).unwrap();
            return corrupt;
        }
        at += size;
    }
    panic!("no mdat box in {}", clip.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probeable_file_whose_frames_are_garbage_fails_once_with_a_readable_reason() {
    // Quick retries, so a wrongly transient verdict shows as more attempts, not a wait.
    let app = TestApp::spawn_with(&[("STREAMBOX_RETRY_BASE_SECS", "0.2"), ("STREAMBOX_MAX_ATTEMPTS", "3")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "garbled.mp4", 640, 360, 4, true);
    let corrupt = with_garbage_media_data(&clip);
    // It probes fine: the failure is ffmpeg's, on input that looked like a video.
    let probed = probe_video(&corrupt.display().to_string());
    assert_eq!(
        (probed["streams"][0]["codec_name"].as_str(), probed["streams"][0]["width"].as_u64()),
        (Some("h264"), Some(640))
    );

    let accepted = app.upload(Some(&token), &corrupt, "Garbled").await;
    assert_eq!(accepted.status(), 202);
    let id = accepted.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let video = app.wait_for_status(&token, &id, &["failed", "ready"], TRANSCODE_DEADLINE).await;
    assert_eq!(video["status"], "failed", "{video}");
    let error = video["error"].as_str().unwrap();
    assert!(error.starts_with("ffmpeg could not convert the video"), "unreadable reason: {error}");
    assert!(!error.contains(&app.dir.path().display().to_string()), "the reason names a server path: {error}");

    let (state, attempts, errors) = job_of(&app, &id).await;
    assert_eq!((state.as_str(), attempts), ("dead", 1), "permanent: no retries: {errors}");
    assert_eq!(errors.as_array().unwrap().len(), 1);
    assert_eq!(errors[0]["permanent"], true);
}
