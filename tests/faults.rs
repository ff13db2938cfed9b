//! Faults on real parts: PostgreSQL or object storage cut away (every connection
//! dropped, new ones refused) while uploads and transcodes are under way. While a
//! fault lasts, requests get a clear, retryable 503; afterwards the service carries on
//! without a restart, no accepted byte is lost and no video is left stuck.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use streambox_common::config::S3Config;
use streambox_common::embedded_s3;
use support::{SwitchableProxy, TestApp, eventually, make_clip};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(180);

/// PostgreSQL behind a switchable proxy; the app's `DATABASE_URL` goes through it.
async fn postgres_proxy() -> (SwitchableProxy, String) {
    let proxy = SwitchableProxy::start("127.0.0.1:5432").await;
    let url = format!("postgres://postgres@{}/{{database}}", proxy.url.trim_start_matches("http://"));
    (proxy, url)
}

/// An embedded object store behind a switchable proxy.
struct ProxiedStorage {
    proxy: SwitchableProxy,
    stop: CancellationToken,
    _objects: tempfile::TempDir,
}

impl ProxiedStorage {
    async fn start() -> Self {
        let objects = tempfile::tempdir().unwrap();
        let s3 = S3Config {
            endpoint: None,
            public_endpoint: None,
            bucket: "streambox".into(),
            access_key: "streambox".into(),
            secret_key: streambox_common::config::Secret::new("streambox-local-secret"),
            region: "us-east-1".into(),
        };
        let stop = CancellationToken::new();
        let real = embedded_s3::start(objects.path(), &s3, stop.clone()).await.unwrap();
        Self { proxy: SwitchableProxy::start(&real).await, stop, _objects: objects }
    }
}

impl Drop for ProxiedStorage {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn tus_create(app: &TestApp, token: &str, length: usize) -> String {
    let created = app
        .http
        .post(app.url("/api/v1/uploads/tus"))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", length.to_string())
        .header("upload-metadata", "title RmF1bHQ=")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    app.url(created.headers()["location"].to_str().unwrap())
}

async fn tus_patch(app: &TestApp, url: &str, token: &str, offset: usize, body: &[u8]) -> reqwest::Response {
    app.http
        .patch(url)
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

async fn tus_offset(app: &TestApp, url: &str, token: &str) -> usize {
    let head = app.http.head(url).bearer_auth(token).header("tus-resumable", "1.0.0").send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    head.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
}

async fn status_of(db: &PgPool, id: &str) -> String {
    sqlx::query_scalar("SELECT status::text FROM videos WHERE id = $1::uuid")
        .bind(id)
        .fetch_optional(db)
        .await
        .unwrap()
        .unwrap_or_default()
}

/// A tus upload broken by `cut` halfway: the failed PATCH is a 503 with `code`, and the
/// client resumes from the stored offset once `cut` is lifted. Returns the video's id
/// once ready, after checking that its source is the file, byte for byte.
async fn upload_across(app: &TestApp, cut: &SwitchableProxy, code: &str) -> String {
    let token = app.signed_in_user().await;
    let clip = std::fs::read(make_clip(app.dir.path(), "fault.mp4", 640, 360, 4, true)).unwrap();
    let url = tus_create(app, &token, clip.len()).await;
    let half = clip.len() / 2;
    assert_eq!(tus_patch(app, &url, &token, 0, &clip[..half]).await.status(), StatusCode::NO_CONTENT);

    cut.set_up(false);
    let refused = tus_patch(app, &url, &token, half, &clip[half..half + 1]).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], code);
    cut.set_up(true);

    eventually(Duration::from_secs(30), "the upload to answer again", || async {
        let head = app.http.head(&url).bearer_auth(&token).header("tus-resumable", "1.0.0").send().await.ok()?;
        (head.status() == StatusCode::OK).then_some(())
    })
    .await;
    let stored = tus_offset(app, &url, &token).await;
    assert_eq!(stored, half, "every byte acknowledged before the fault is kept");
    assert_eq!(tus_patch(app, &url, &token, stored, &clip[stored..]).await.status(), StatusCode::NO_CONTENT);

    let id = url.rsplit('/').next().unwrap().to_owned();
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let source = app.state.storage.get(&format!("raw/{id}/source")).await.unwrap().unwrap();
    assert!(source.body.collect().await.unwrap().into_bytes() == clip, "the source is the uploaded file");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_during_a_resumable_upload_loses_nothing() {
    let (postgres, url) = postgres_proxy().await;
    let app = TestApp::spawn_with(&[("DATABASE_URL", &url)]).await;
    upload_across(&app, &postgres, "database_unavailable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_cut_during_a_resumable_upload_loses_nothing() {
    let storage = ProxiedStorage::start().await;
    let app = TestApp::spawn_with(&[("S3_ENDPOINT", &storage.proxy.url)]).await;
    upload_across(&app, &storage.proxy, "storage_unavailable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_during_a_transcode_still_ends_ready() {
    let (postgres, url) = postgres_proxy().await;
    let app = TestApp::spawn_with(&[("DATABASE_URL", &url), ("STREAMBOX_WORKER_HEARTBEAT_SECS", "1")]).await;
    let direct = app.direct_db().await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "long.mp4", 640, 360, 20, true);
    let accepted: Value = app.upload(Some(&token), &clip, "Cut").await.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_owned();
    eventually(DEADLINE, "the transcode to start", || async {
        (status_of(&direct, &id).await == "processing").then_some(())
    })
    .await;

    postgres.set_up(false);
    let refused = app.http.get(app.url(&format!("/api/v1/videos/{id}"))).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE, "a clear error while it lasts");
    tokio::time::sleep(Duration::from_secs(5)).await; // the length of the outage, not a wait for an outcome
    postgres.set_up(true);

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let state: String = sqlx::query_scalar("SELECT state::text FROM transcode_jobs WHERE video_id = $1::uuid")
        .bind(&id)
        .fetch_one(&direct)
        .await
        .unwrap();
    assert_eq!(state, "done");
}

async fn job_state(db: &PgPool, id: &str) -> (String, i32, Value) {
    sqlx::query_as("SELECT state::text, attempts, errors FROM transcode_jobs WHERE video_id = $1::uuid")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_cut_while_a_job_publishes_is_retried_until_ready() {
    let storage = ProxiedStorage::start().await;
    let app = TestApp::spawn_with(&[
        ("S3_ENDPOINT", &storage.proxy.url),
        ("STREAMBOX_WORKER_HEARTBEAT_SECS", "1"),
        ("STREAMBOX_RETRY_BASE_SECS", "1"),
    ])
    .await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "publish.mp4", 640, 360, 30, true);
    let accepted: Value = app.upload(Some(&token), &clip, "Publish").await.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_owned();
    // The source is downloaded before the encode: once it is under way, storage is
    // needed again only to publish.
    eventually(DEADLINE, "the encode to be under way", || async {
        let video = app.get_json(&format!("/api/v1/videos/{id}"), &token).await;
        (video["progress"]["percent"].as_f64().unwrap_or(0.0) > 0.0).then_some(())
    })
    .await;
    storage.proxy.set_up(false);
    eventually(DEADLINE, "publishing to fail", || async {
        let (state, _, _) = job_state(app.db(), &id).await;
        (state == "retrying").then_some(())
    })
    .await;
    storage.proxy.set_up(true);

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let (state, attempts, errors) = job_state(app.db(), &id).await;
    assert_eq!(state, "done");
    assert!(attempts >= 2, "{attempts} attempts");
    assert!(errors.as_array().unwrap().iter().all(|e| e["permanent"] == false), "{errors}");
}

/// A tmpfs of `bytes`, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(mounted.success(), "mounting a tmpfs (the fault tests run as root)");
        Self(dir)
    }

    fn grow(&self, bytes: u64) {
        let remounted = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(self.0.path())
            .status()
            .unwrap();
        assert!(remounted.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_scratch_disk_is_a_server_fault_retried_once_there_is_room() {
    let storage = ProxiedStorage::start().await;
    let clip_dir = tempfile::tempdir().unwrap();
    let clip = make_clip(clip_dir.path(), "big.mp4", 1280, 720, 10, true);
    let clip_bytes = std::fs::metadata(&clip).unwrap().len();
    // Room for the downloaded source, not for what the encode writes.
    let disk = SmallDisk::mount(clip_bytes + 256 * 1024);
    let data_dir = disk.0.path().display().to_string();
    let app = TestApp::spawn_with(&[
        ("S3_ENDPOINT", &storage.proxy.url),
        ("STREAMBOX_DATA_DIR", &data_dir),
        ("STREAMBOX_RETRY_BASE_SECS", "1"),
        ("STREAMBOX_MAX_ATTEMPTS", "10"),
    ])
    .await;
    let token = app.signed_in_user().await;
    let accepted: Value = app.upload(Some(&token), &clip, "Full disk").await.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_owned();
    let errors = eventually(DEADLINE, "an attempt to fail on the full disk", || async {
        let (state, _, errors) = job_state(app.db(), &id).await;
        assert_ne!(state, "dead", "a full disk is not the upload's fault: {errors}");
        (state == "retrying").then_some(errors)
    })
    .await;
    assert!(errors.to_string().contains("space"), "{errors}");
    assert!(!errors.to_string().contains(&data_dir), "no server path in the error: {errors}");
    disk.grow(512 * 1024 * 1024);

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    drop(app);
}

/// `/readyz` as a load balancer reads it: its status and which checks fail.
async fn readiness(app: &TestApp) -> (StatusCode, Value) {
    let response = app.http.get(app.url("/readyz")).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

/// Waits until `/readyz` answers `status` with exactly the `failing` checks unavailable.
async fn readiness_becomes(app: &TestApp, status: StatusCode, failing: &[&str]) -> Value {
    // A readiness probe answers within its database and storage timeouts; 30 s covers
    // those on a loaded machine.
    eventually(Duration::from_secs(30), &format!("/readyz {status} with {failing:?} failing"), || async {
        let (got, body) = readiness(app).await;
        let checks = body["checks"].as_object()?;
        let unavailable: Vec<&str> = checks.iter().filter(|(_, v)| *v != "ok").map(|(name, _)| name.as_str()).collect();
        (got == status && unavailable == failing).then_some(body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_naming_postgres_or_storage_while_either_is_away() {
    let (postgres, url) = postgres_proxy().await;
    let storage = ProxiedStorage::start().await;
    let app = TestApp::spawn_with(&[("DATABASE_URL", &url), ("S3_ENDPOINT", &storage.proxy.url)]).await;
    let body = readiness_becomes(&app, StatusCode::OK, &[]).await;
    assert_eq!(body["status"], "ready");
    for name in ["postgres", "redis", "object_storage", "transcode_worker"] {
        assert_eq!(body["checks"][name], "ok", "{body}");
    }

    postgres.set_up(false);
    let body = readiness_becomes(&app, StatusCode::SERVICE_UNAVAILABLE, &["postgres"]).await;
    assert_eq!(body["status"], "unavailable");
    postgres.set_up(true);
    readiness_becomes(&app, StatusCode::OK, &[]).await;

    storage.proxy.set_up(false);
    readiness_becomes(&app, StatusCode::SERVICE_UNAVAILABLE, &["object_storage"]).await;
    storage.proxy.set_up(true);
    readiness_becomes(&app, StatusCode::OK, &[]).await;
}
