//! Faults on real parts: PostgreSQL or object storage cut away (every connection
//! dropped, new ones refused), a private PostgreSQL or Redis server restarted, a worker
//! killed, while uploads, transcodes and publishing are under way. While a fault lasts,
//! requests get a clear, retryable 503; afterwards the service carries on without a
//! restart, no accepted byte is lost and no video is left stuck.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::support::{
    PrivatePostgres, PrivateRedis, ProxiedStorage, SwitchableProxy, TestApp, WorkerProcess, eventually, make_clip,
};

const DEADLINE: Duration = Duration::from_secs(180);

/// PostgreSQL behind a switchable proxy; the app's `DATABASE_URL` goes through it.
async fn postgres_proxy() -> (SwitchableProxy, String) {
    let proxy = SwitchableProxy::start("127.0.0.1:5432").await;
    let url = format!("postgres://postgres@{}/{{database}}", proxy.url.trim_start_matches("http://"));
    (proxy, url)
}

/// What a test breaks, then mends.
trait Fault {
    fn begin(&self);
    fn end(&self);
}

impl Fault for SwitchableProxy {
    fn begin(&self) {
        self.set_up(false);
    }

    fn end(&self) {
        self.set_up(true);
    }
}

/// A server stopped outright (open connections cut, as in a crash), then started again.
impl Fault for PrivatePostgres {
    fn begin(&self) {
        self.stop();
    }

    fn end(&self) {
        self.start_again();
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

/// A tus upload broken by `fault` halfway: the failed PATCH is a 503 with `code`, and the
/// client resumes from the stored offset once the fault ends. Returns the video's id
/// once ready, after checking that its source is the file, byte for byte.
async fn upload_across(app: &TestApp, fault: &dyn Fault, code: &str) -> String {
    let token = app.signed_in_user().await;
    let clip = std::fs::read(make_clip(app.dir.path(), "fault.mp4", 640, 360, 4, true)).unwrap();
    let url = tus_create(app, &token, clip.len()).await;
    let half = clip.len() / 2;
    assert_eq!(tus_patch(app, &url, &token, 0, &clip[..half]).await.status(), StatusCode::NO_CONTENT);

    fault.begin();
    let refused = tus_patch(app, &url, &token, half, &clip[half..half + 1]).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], code);
    fault.end();

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
    let id = app.upload_accepted(&token, &clip, "Cut").await;
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
    let id = app.upload_accepted(&token, &clip, "Publish").await;
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
    let id = app.upload_accepted(&token, &clip, "Full disk").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_during_a_resumable_upload_loses_nothing() {
    let postgres = PrivatePostgres::start();
    let app = TestApp::spawn_on(&postgres.url, &[]).await;
    upload_across(&app, &postgres, "database_unavailable").await;
}

/// Where the app's embedded object store keeps `hls/{id}/` on disk.
fn published_dir(objects: &std::path::Path, id: &str) -> std::path::PathBuf {
    objects.join("streambox").join("hls").join(id)
}

/// Waits, polling the store's folder, until `id`'s final publishing has begun: a
/// rendition's finished (VOD) playlist replaces its growing one. (Segments and the
/// growing playlists went out while ffmpeg encoded.)
async fn publishing_started(objects: &std::path::Path, id: &str) {
    let dir = published_dir(objects, id);
    let finished_playlist = || {
        std::fs::read_dir(&dir).into_iter().flatten().flatten().any(|entry| {
            std::fs::read_to_string(entry.path().join("index.m3u8")).is_ok_and(|p| p.contains("#EXT-X-ENDLIST"))
        })
    };
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !finished_playlist() {
        assert!(tokio::time::Instant::now() < deadline, "final publishing of {id} never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether the final publishing is over: the measured master replaces the provisional
/// one last, after the scrub previews.
fn final_master_published(objects: &std::path::Path, id: &str) -> bool {
    let dir = published_dir(objects, id);
    let modified = |name: &str| std::fs::metadata(dir.join(name)).and_then(|m| m.modified()).ok();
    matches!((modified("master.m3u8"), modified("storyboard.vtt")), (Some(master), Some(track)) if master >= track)
}

/// Every object a stored playlist names is stored too: a viewer of what is published
/// (growing or finished) never meets a missing segment.
fn every_named_object_exists(objects: &std::path::Path, id: &str) {
    let dir = published_dir(objects, id);
    if let Ok(master) = std::fs::read(dir.join("master.m3u8")) {
        let master = m3u8_rs::parse_master_playlist_res(&master).expect("a master playlist");
        for uri in master.variants.iter().map(|v| v.uri.as_str()) {
            assert!(dir.join(uri).is_file(), "the master names {uri}, which is not stored");
        }
    }
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let Ok(playlist) = std::fs::read(entry.path().join("index.m3u8")) else { continue };
        let playlist = m3u8_rs::parse_media_playlist_res(&playlist).expect("a media playlist");
        for segment in &playlist.segments {
            assert!(
                entry.path().join(&segment.uri).is_file(),
                "{:?} names {}, which is not stored",
                entry.path(),
                segment.uri
            );
        }
    }
}

/// Every object under `hls/{id}/` is one the published playlists name: nothing partial or
/// left over from an interrupted attempt.
async fn exactly_the_published_set(app: &TestApp, id: &str) {
    let mut keys = app.state.storage.list(&format!("hls/{id}/")).await.unwrap();
    let mut referenced =
        vec![format!("hls/{id}/master.m3u8"), format!("hls/{id}/storyboard.jpg"), format!("hls/{id}/storyboard.vtt")];
    let master = app.state.storage.get(&format!("hls/{id}/master.m3u8")).await.unwrap().unwrap();
    let master = master.body.collect().await.unwrap().into_bytes();
    let master = m3u8_rs::parse_master_playlist_res(&master).unwrap();
    let audio = master.alternatives.iter().filter_map(|a| a.uri.as_deref());
    for uri in master.variants.iter().map(|v| v.uri.as_str()).chain(audio) {
        let name = uri.split('/').next().unwrap();
        let key = format!("hls/{id}/{uri}");
        let playlist = app.state.storage.get(&key).await.unwrap().unwrap().body.collect().await.unwrap().into_bytes();
        let playlist = m3u8_rs::parse_media_playlist_res(&playlist).unwrap();
        referenced.push(key);
        referenced.extend(playlist.segments.iter().map(|s| format!("hls/{id}/{name}/{}", s.uri)));
    }
    keys.sort();
    referenced.sort();
    // A rung's I-frame playlist names ranges of its segments: each once.
    referenced.dedup();
    assert_eq!(keys, referenced, "no partial or left-over objects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_during_a_transcode_and_during_publishing_still_ends_ready() {
    let postgres = PrivatePostgres::start();
    // Storage behind a proxy: cut for a moment as publishing starts, it holds the step
    // open while the server stops (which takes a while), so the fault lands inside it.
    let storage = ProxiedStorage::start().await;
    let settings = [
        ("S3_ENDPOINT", storage.proxy.url.as_str()),
        ("STREAMBOX_WORKER_HEARTBEAT_SECS", "1"),
        ("STREAMBOX_RETRY_BASE_SECS", "1"),
    ];
    let app = TestApp::spawn_on(&postgres.url, &settings).await;
    let db = PgPool::connect(app.database_url()).await.unwrap();
    let token = app.signed_in_user().await;
    let objects = storage.objects.path();

    // During the encode.
    let clip = make_clip(app.dir.path(), "encode.mp4", 640, 360, 20, true);
    let encoding = app.upload_accepted(&token, &clip, "Encode").await;
    eventually(DEADLINE, "the encode to be under way", || async {
        let video = app.get_json(&format!("/api/v1/videos/{encoding}"), &token).await;
        (video["progress"]["percent"].as_f64().unwrap_or(0.0) > 0.0).then_some(())
    })
    .await;
    postgres.stop();
    let refused = app.http.get(app.url(&format!("/api/v1/videos/{encoding}"))).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE, "a clear error while it lasts");
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "database_unavailable");
    tokio::time::sleep(Duration::from_secs(3)).await; // the length of the outage, not a wait for an outcome
    postgres.start_again();
    let video = app.wait_for_status(&token, &encoding, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");

    // During publishing: the server goes away as the first object is stored.
    let clip = make_clip(app.dir.path(), "publish.mp4", 640, 360, 30, true);
    let publishing = app.upload_accepted(&token, &clip, "Publish").await;
    publishing_started(objects, &publishing).await;
    storage.proxy.set_up(false);
    assert!(!final_master_published(objects, &publishing), "the fault came before publishing ended");
    postgres.stop();
    storage.proxy.set_up(true);
    tokio::time::sleep(Duration::from_secs(3)).await; // the length of the outage
    postgres.start_again();
    let video = app.wait_for_status(&token, &publishing, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    exactly_the_published_set(&app, &publishing).await;
    for id in [&encoding, &publishing] {
        assert_eq!(job_state(&db, id).await.0, "done", "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_cut_as_publishing_starts_is_retried_and_leaves_only_the_published_set() {
    let storage = ProxiedStorage::start().await;
    let app = TestApp::spawn_with(&[
        ("S3_ENDPOINT", &storage.proxy.url),
        ("STREAMBOX_WORKER_HEARTBEAT_SECS", "1"),
        ("STREAMBOX_RETRY_BASE_SECS", "1"),
    ])
    .await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "publish.mp4", 640, 360, 30, true);
    let id = app.upload_accepted(&token, &clip, "Publish").await;
    publishing_started(storage.objects.path(), &id).await;
    storage.proxy.set_up(false);
    assert!(!final_master_published(storage.objects.path(), &id), "the cut came before publishing ended");
    every_named_object_exists(storage.objects.path(), &id);
    eventually(DEADLINE, "publishing to fail", || async {
        (job_state(app.db(), &id).await.0 == "retrying").then_some(())
    })
    .await;
    storage.proxy.set_up(true);

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let (state, attempts, errors) = job_state(app.db(), &id).await;
    assert_eq!((state.as_str(), attempts), ("done", 2), "{errors}");
    exactly_the_published_set(&app, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_publishing_hands_its_job_to_another() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let token = app.signed_in_user().await;
    // The doomed worker reaches storage through a proxy, cut as its publishing starts so
    // that it is killed inside the step.
    let storage = SwitchableProxy::start(app.state.storage.endpoint()).await;
    let objects = app.dir.path().join("objects");
    let clip = make_clip(app.dir.path(), "publish.mp4", 640, 360, 30, true);
    let id = app.upload_accepted(&token, &clip, "Publish").await;

    let beat = [("STREAMBOX_WORKER_HEARTBEAT_SECS", "1"), ("STREAMBOX_WORKER_MISSED_HEARTBEATS", "3")];
    let mut doomed = WorkerProcess::spawn(&app, &[beat[0], beat[1], ("S3_ENDPOINT", &storage.url)]);
    publishing_started(&objects, &id).await;
    storage.set_up(false);
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    assert!(!final_master_published(&objects, &id), "the worker died before publishing ended");
    every_named_object_exists(&objects, &id);
    storage.set_up(true);

    let _survivor = WorkerProcess::spawn(&app, &beat);
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let (state, attempts, errors) = job_state(app.db(), &id).await;
    assert_eq!((state.as_str(), attempts), ("done", 2), "taken over once: {errors}");
    exactly_the_published_set(&app, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_while_a_job_runs_loses_neither_it_nor_the_queued_one() {
    let mut redis = PrivateRedis::start().await;
    let app = TestApp::spawn_with(&[
        ("REDIS_URL", &redis.url),
        ("STREAMBOX_WORKER_HEARTBEAT_SECS", "1"),
        ("STREAMBOX_RECONCILE_SECS", "2"),
    ])
    .await;
    let token = app.signed_in_user().await;
    let long = make_clip(app.dir.path(), "running.mp4", 640, 360, 20, true);
    let short = make_clip(app.dir.path(), "queued.mp4", 320, 180, 4, true);
    let running = app.upload_accepted(&token, &long, "Running").await;
    eventually(DEADLINE, "the first job to run", || async {
        (job_state(app.db(), &running).await.0 == "running").then_some(())
    })
    .await;
    let queued = app.upload_accepted(&token, &short, "Queued").await;
    assert_eq!(job_state(app.db(), &queued).await.0, "queued", "one worker slot: the second job waits");

    // Every delivery, the running job's included, is gone with the old server.
    redis.restart_empty().await;

    for id in [&running, &queued] {
        let video = app.wait_for_status(&token, id, &["ready", "failed"], DEADLINE).await;
        assert_eq!(video["status"], "ready", "{video}");
        assert_eq!(job_state(app.db(), id).await.0, "done", "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_finishing_second_leaves_the_video_the_first_one_finished() {
    let app = TestApp::spawn_with(&[("STREAMBOX_WORKER_HEARTBEAT_SECS", "1")]).await;
    let token = app.signed_in_user().await;
    // Long enough that the encode is still running when the test steps in (a 10 s clip
    // was once done before its first progress report on a loaded machine).
    let clip = make_clip(app.dir.path(), "second.mp4", 640, 360, 60, true);
    let id = app.upload_accepted(&token, &clip, "Second").await;
    eventually(DEADLINE, "the encode to be under way", || async {
        let video = app.get_json(&format!("/api/v1/videos/{id}"), &token).await;
        assert_ne!(video["status"], "ready", "the encode ended before the test stepped in: {video}");
        (video["progress"]["percent"].as_f64().unwrap_or(0.0) > 0.0).then_some(())
    })
    .await;
    // As if an attempt that outlived its heartbeats had finished the video meanwhile.
    sqlx::query("UPDATE videos SET status = 'ready' WHERE id = $1::uuid").bind(&id).execute(app.db()).await.unwrap();

    let video_id = id.parse().unwrap();
    eventually(DEADLINE, "the running attempt to end", || async {
        let delivered = app.state.queue.videos_with_deliveries().await.ok()?;
        let master = app.state.storage.head(&format!("hls/{id}/master.m3u8")).await.ok()?;
        (master.is_some() && !delivered.contains(&video_id)).then_some(())
    })
    .await;
    assert_eq!(status_of(app.db(), &id).await, "ready", "the finished video is kept");
    let master = app.http.get(app.url(&format!("/hls/{id}/master.m3u8"))).send().await.unwrap();
    assert_eq!(master.status(), StatusCode::OK, "and still plays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_storage_interrupts_hides_the_video_at_once_and_finishes_when_repeated() {
    let storage = ProxiedStorage::start().await;
    let app = TestApp::spawn_with(&[("S3_ENDPOINT", &storage.proxy.url)]).await;
    let owner = app.user("creator").await;
    let video = app.ready_video(owner.id, "public").await;
    let delete = || app.http.delete(app.url(&format!("/api/v1/videos/{video}"))).bearer_auth(&owner.token).send();

    storage.proxy.set_up(false);
    let refused = delete().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"), "the client is told to repeat it");
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "storage_unavailable");
    // Its objects are still there, but nothing shows or serves it any more.
    assert_eq!(status_of(app.db(), &video.to_string()).await, "deleted");
    let shown = app.http.get(app.url(&format!("/api/v1/videos/{video}"))).bearer_auth(&owner.token).send().await;
    assert_eq!(shown.unwrap().status(), StatusCode::NOT_FOUND, "hidden from its owner too");
    let listed = app.get_json("/api/v1/videos", &owner.token).await;
    assert!(!listed.to_string().contains(&video.to_string()), "still listed: {listed}");

    storage.proxy.set_up(true);
    assert_eq!(delete().await.unwrap().status(), StatusCode::NO_CONTENT, "repeating it finishes it");
    for prefix in [format!("raw/{video}/"), format!("hls/{video}/"), format!("thumbs/{video}/")] {
        assert!(app.state.storage.list(&prefix).await.unwrap().is_empty(), "{prefix} left behind");
    }
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM videos WHERE id = $1").bind(video).fetch_one(app.db()).await.unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_while_redis_is_cut_is_accepted_and_transcoded_once_it_is_back() {
    let redis = SwitchableProxy::start("127.0.0.1:6379").await;
    let url = format!("redis://{}", redis.url.trim_start_matches("http://"));
    let app = TestApp::spawn_with(&[("REDIS_URL", &url), ("STREAMBOX_RECONCILE_SECS", "1")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "queued.mp4", 320, 180, 2, true);

    redis.set_up(false);
    // Multipart, tus and presigned uploads answer alike: once the job row is committed
    // the upload is safe, whether or not Redis takes the delivery now.
    let accepted = app.upload(Some(&token), &clip, "While Redis is away").await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let id = accepted.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(status_of(app.db(), &id).await, "queued");
    redis.set_up(true);

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
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
