//! The job queue on real Redis, Postgres, S3 API and ffmpeg: retries with backoff,
//! the dead-letter state, operator retry/discard (HTTP and CLI), crash recovery with
//! real worker processes, the ffmpeg watchdog, the reconciler and the apalis key layout.

use std::process::Command;
use std::time::Duration;

use apalis_redis::Config as QueueLayout;
use redis::AsyncCommands;
use serde_json::Value;
use streambox_base::ids::VideoId;
use streambox_queue::TranscodeJob;

use crate::support::{ProxiedStorage, SwitchableProxy, TestApp, WorkerProcess, eventually, job_of, make_clip};

const DEADLINE: Duration = Duration::from_secs(180);

fn streambox_cli(app: &TestApp, args: &[&str]) -> String {
    let config = &app.state.config;
    let output = Command::new(env!("CARGO_BIN_EXE_streambox"))
        .args(args)
        .env("DATABASE_URL", &config.database_url)
        .env("REDIS_URL", &config.redis_url)
        .env("STREAMBOX_QUEUE", &config.queue_name)
        .output()
        .unwrap();
    assert!(output.status.success(), "streambox {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_outage_is_retried_with_backoff_then_ready() {
    let storage = ProxiedStorage::start().await;
    let proxy = &storage.proxy;
    let app = TestApp::spawn_with(&[
        ("S3_ENDPOINT", &proxy.url),
        ("STREAMBOX_RETRY_BASE_SECS", "1"),
        ("STREAMBOX_RUN_WORKER", "false"),
    ])
    .await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "outage.mp4", 640, 360, 3, true);
    let id = app.upload_accepted(&token, &clip, "Queued clip").await;

    // Storage goes away before any worker fetches the source.
    proxy.set_up(false);
    let _worker = WorkerProcess::spawn(&app, &[("S3_ENDPOINT", &proxy.url), ("STREAMBOX_RETRY_BASE_SECS", "1")]);
    // The job and its video change together: read as one snapshot, a job waiting for its
    // next attempt has a video that waits as queued, not one still shown as processing.
    let waiting: String = eventually(DEADLINE, "a failed attempt", || async {
        let (state, status): (String, String) = sqlx::query_as(
            "SELECT j.state::text, v.status::text FROM transcode_jobs j JOIN videos v ON v.id = j.video_id
             WHERE j.video_id = $1::uuid",
        )
        .bind(&id)
        .fetch_one(app.db())
        .await
        .unwrap();
        (state == "retrying").then_some(status)
    })
    .await;
    assert_eq!(waiting, "queued", "the video of a job waiting to retry");
    proxy.set_up(true);

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let (state, attempts, errors) = job_of(&app, &id).await;
    assert_eq!(state, "done");
    assert!(attempts >= 2, "retried: {attempts} attempts");
    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len() as i32, attempts - 1, "one error per failed attempt");
    assert!(errors.iter().all(|e| e["permanent"] == false));
    // Backoff: the retry started no sooner than the base delay minus jitter after the failure.
    let (failed_at, started_at): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT (errors->-1->>'at')::timestamptz, started_at FROM transcode_jobs WHERE video_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert!(
        (started_at - failed_at).num_milliseconds() >= 800,
        "retried {} ms after the failure",
        (started_at - failed_at).num_milliseconds()
    );
}

/// apalis stops a worker on any Redis error (a reply over the timeout, a cut
/// connection). The process then says so on /readyz, starts a new consumer once Redis
/// answers again, and transcodes what was queued meanwhile; a transcode running when
/// the consumer failed carries on to the end, in its first attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_loses_redis_consumes_again_once_it_is_back() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let redis_address = app.state.config.redis_url.trim_start_matches("redis://");
    let redis = SwitchableProxy::start(redis_address.split('/').next().unwrap()).await;
    let worker_redis = redis.url.replace("http://", "redis://");
    // The consumer fails at its next heartbeat after the cut (1 s), and progress shows
    // at the job's first heartbeat: a slow encode of 30 s of 720p is mid-way for long.
    let settings = [
        ("REDIS_URL", worker_redis.as_str()),
        ("STREAMBOX_X264_PRESET", "slow"),
        ("STREAMBOX_WORKER_HEARTBEAT_SECS", "1"),
    ];
    let worker = WorkerProcess::spawn(&app, &settings).ready().await;
    let consumer = || async {
        let readiness = app.http.get(format!("{}/readyz", worker.base)).send().await.ok()?;
        let readiness: Value = readiness.json().await.ok()?;
        readiness["checks"]["transcode_worker"].as_str().map(str::to_owned)
    };
    let reported = |wanted: &'static str| {
        eventually(DEADLINE, wanted, move || async move { (consumer().await.as_deref() == Some(wanted)).then_some(()) })
    };
    reported("ok").await;

    redis.set_up(false);
    reported("unavailable").await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "during-outage.mp4", 320, 240, 2, true);
    let id = app.upload_accepted(&token, &clip, "Queued clip").await;
    redis.set_up(true);

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    reported("ok").await;

    let clip = make_clip(app.dir.path(), "long.mp4", 1280, 720, 30, true);
    let id = app.upload_accepted(&token, &clip, "Queued clip").await;
    eventually(DEADLINE, "the transcode to be under way", || async {
        let video = app.get_json(&format!("/api/v1/videos/{id}"), &token).await;
        (video["progress"]["percent"].as_f64().unwrap_or(0.0) > 0.0).then_some(())
    })
    .await;
    redis.set_up(false);
    reported("unavailable").await;
    let video = app.get_json(&format!("/api/v1/videos/{id}"), &token).await;
    assert_eq!(video["status"], "processing", "the consumer failed mid-transcode: {video}");
    redis.set_up(true);
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let (state, attempts, errors) = job_of(&app, &id).await;
    assert_eq!((state.as_str(), attempts), ("done", 1), "the first attempt finished: {errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_ffmpeg_is_killed_retried_and_finally_dead_with_every_error() {
    // A watchdog shorter than ffmpeg's first progress report: every attempt stalls.
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_FFMPEG_STALL_SECS", "0.05"),
        ("STREAMBOX_RETRY_BASE_SECS", "0.2"),
        ("STREAMBOX_MAX_ATTEMPTS", "3"),
    ])
    .await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "stall.mp4", 640, 360, 4, true);
    let id = app.upload_accepted(&token, &clip, "Queued clip").await;

    let video = app.wait_for_status(&token, &id, &["failed", "ready"], DEADLINE).await;
    assert_eq!(video["status"], "failed");
    assert!(video["error"].as_str().unwrap().contains("3 times"), "{video}");
    let (state, attempts, errors) = job_of(&app, &id).await;
    assert_eq!((state.as_str(), attempts), ("dead", 3));
    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len(), 3, "every attempt's error is kept");
    for (n, error) in errors.iter().enumerate() {
        assert_eq!(error["attempt"], n as i64 + 1);
        assert!(error["error"].as_str().unwrap().contains("made no progress"), "{error}");
        assert_eq!(error["permanent"], false);
    }
    // No ffmpeg left behind by the watchdog.
    let leftovers =
        Command::new("pgrep").args(["-f", &format!("{}/work/", app.dir.path().display())]).output().unwrap();
    assert!(leftovers.stdout.is_empty(), "ffmpeg still running: {}", String::from_utf8_lossy(&leftovers.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_retry_a_fixed_dead_job_and_discard_another_over_http_and_cli() {
    let app = TestApp::spawn().await;
    let creator = app.signed_in_user().await;
    let admin = app.user("admin").await.token;
    let broken = app.dir.path().join("broken.mp4");
    std::fs::write(&broken, crate::support::fake_video()).unwrap();
    let (first, second, third) = (
        app.upload_accepted(&creator, &broken, "Queued clip").await,
        app.upload_accepted(&creator, &broken, "Queued clip").await,
        app.upload_accepted(&creator, &broken, "Queued clip").await,
    );
    for id in [&first, &second, &third] {
        assert_eq!(app.wait_for_status(&creator, id, &["failed"], DEADLINE).await["status"], "failed");
    }
    let job_id = |video: &str| {
        let video = video.to_owned();
        let db = app.db().clone();
        async move {
            sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM transcode_jobs WHERE video_id = $1::uuid")
                .bind(video)
                .fetch_one(&db)
                .await
                .unwrap()
                .to_string()
        }
    };
    let admin_get = |path: String| app.http.get(app.url(&path)).bearer_auth(&admin).send();
    let admin_post = |path: String| app.http.post(app.url(&path)).bearer_auth(&admin).send();

    let dead: Value = admin_get("/api/v1/admin/jobs?state=dead".into()).await.unwrap().json().await.unwrap();
    assert_eq!(dead["counts"]["dead"], 3);
    assert_eq!(dead["total"], 3);
    assert_eq!(dead["jobs"].as_array().unwrap().len(), 3);
    let detail: Value =
        admin_get(format!("/api/v1/admin/jobs/{}", job_id(&first).await)).await.unwrap().json().await.unwrap();
    assert_eq!(detail["state"], "dead");
    assert_eq!(detail["video"]["status"], "failed");
    assert!(detail["errors"][0]["error"].as_str().unwrap().contains("not a video"));
    let bad_query = admin_get("/api/v1/admin/jobs?state=zombie".into()).await.unwrap();
    assert_eq!(bad_query.status(), 400);

    // Fix the cause (a real source), then retry: over HTTP for the first, with the CLI for the second.
    let clip = make_clip(app.dir.path(), "fixed.mp4", 640, 360, 3, true);
    for video in [&first, &second] {
        app.state.storage.put_file(&format!("raw/{video}/source"), &clip, "application/octet-stream").await.unwrap();
    }
    let retried = admin_post(format!("/api/v1/admin/jobs/{}/retry", job_id(&first).await)).await.unwrap();
    assert_eq!(retried.status(), 200);
    let again = admin_post(format!("/api/v1/admin/jobs/{}/retry", job_id(&first).await)).await.unwrap();
    assert_eq!(again.status(), 409, "only dead jobs can be retried");
    let printed = streambox_cli(&app, &["jobs", "retry", &job_id(&second).await]);
    assert!(printed.contains("queued again"), "{printed}");
    for video in [&first, &second] {
        let ready = app.wait_for_status(&creator, video, &["ready", "failed"], DEADLINE).await;
        assert_eq!(ready["status"], "ready", "{ready}");
        let (state, attempts, _) = job_of(&app, video).await;
        assert_eq!((state.as_str(), attempts), ("done", 1), "attempts restart at a retry");
    }

    // Discard the third with the CLI after listing it there.
    let listed = streambox_cli(&app, &["jobs", "list", "--state", "dead"]);
    assert!(listed.contains(&job_id(&third).await) && listed.contains("dead: 1"), "{listed}");
    let shown = streambox_cli(&app, &["jobs", "show", &job_id(&third).await]);
    assert!(shown.contains("permanent") && shown.contains("not a video"), "{shown}");
    streambox_cli(&app, &["jobs", "discard", &job_id(&third).await]);
    let dead: Value = admin_get("/api/v1/admin/jobs?state=dead".into()).await.unwrap().json().await.unwrap();
    assert_eq!(dead["total"], 0, "discarded jobs leave the dead list");
    assert_eq!(dead["counts"]["discarded"], 1);
    let discard_again = admin_post(format!("/api/v1/admin/jobs/{}/discard", job_id(&third).await)).await.unwrap();
    assert_eq!(discard_again.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_transcode_hands_its_job_to_another() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "long.mp4", 1280, 720, 20, true);
    let id = app.upload_accepted(&token, &clip, "Queued clip").await;

    // A slow preset keeps the first worker busy long enough to be killed mid-job.
    let beat = [("STREAMBOX_WORKER_HEARTBEAT_SECS", "1"), ("STREAMBOX_WORKER_MISSED_HEARTBEATS", "3")];
    let mut doomed = WorkerProcess::spawn(&app, &[beat[0], beat[1], ("STREAMBOX_X264_PRESET", "slow")]);
    eventually(DEADLINE, "the first worker to be transcoding", || async {
        (job_of(&app, &id).await.0 == "running").then_some(())
    })
    .await;
    let doomed_pid = doomed.child.id();
    // Let ffmpeg get going, then kill the worker outright.
    eventually(DEADLINE, "ffmpeg to run under the first worker", || async {
        let ffmpeg = Command::new("pgrep").args(["-P", &doomed_pid.to_string(), "ffmpeg"]).output().unwrap();
        (!ffmpeg.stdout.is_empty()).then_some(())
    })
    .await;
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();

    let _survivor = WorkerProcess::spawn(&app, &beat);
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let (state, attempts, errors) = job_of(&app, &id).await;
    assert_eq!((state.as_str(), attempts), ("done", 2), "taken over once: {errors}");

    // Exactly the published set: every object under hls/ is referenced by a playlist.
    let keys = app.state.storage.list(&format!("hls/{id}/")).await.unwrap();
    let mut referenced =
        vec![format!("hls/{id}/master.m3u8"), format!("hls/{id}/storyboard.jpg"), format!("hls/{id}/storyboard.vtt")];
    let master = app.http.get(app.url(&format!("/hls/{id}/master.m3u8"))).send().await.unwrap().bytes().await.unwrap();
    let master = m3u8_rs::parse_master_playlist_res(&master).unwrap();
    let audio = master.alternatives.iter().filter_map(|a| a.uri.as_deref());
    for uri in master.variants.iter().map(|v| v.uri.as_str()).chain(audio) {
        let name = uri.split('/').next().unwrap();
        let playlist = app.http.get(app.url(&format!("/hls/{id}/{uri}"))).send().await.unwrap().bytes().await.unwrap();
        let playlist = m3u8_rs::parse_media_playlist_res(&playlist).unwrap();
        referenced.push(format!("hls/{id}/{uri}"));
        referenced.extend(playlist.segments.iter().map(|s| format!("hls/{id}/{name}/{}", s.uri)));
    }
    let (mut keys, mut referenced) = (keys, referenced);
    keys.sort();
    referenced.sort();
    // A rung's I-frame playlist names ranges of its segments: each once.
    referenced.dedup();
    assert_eq!(keys, referenced, "no duplicate or partial objects");
    // The killed worker's ffmpeg died with it (its work directory is named for the video;
    // the survivor's ffmpeg ended before the video was ready).
    let orphans = Command::new("pgrep").args(["-f", &format!("ffmpeg.*{id}")]).output().unwrap();
    assert!(orphans.stdout.is_empty(), "an orphaned ffmpeg survived its worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_delivery_of_a_job_whose_worker_is_alive_is_not_taken() {
    // A slow encode keeps this app's own worker on the job, heartbeating (every 5 s;
    // silent for 15 s counts as dead), for a while.
    let app = TestApp::spawn_with(&[("STREAMBOX_X264_PRESET", "slow")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "busy.mp4", 1280, 720, 10, true);
    let id = app.upload_accepted(&token, &clip, "Queued clip").await;
    let video_id: VideoId = id.parse().unwrap();
    let running = || async {
        let row: (String, i32, Option<String>) =
            sqlx::query_as("SELECT state::text, attempts, worker FROM transcode_jobs WHERE video_id = $1::uuid")
                .bind(&id)
                .fetch_one(app.db())
                .await
                .unwrap();
        row
    };
    let owner = eventually(DEADLINE, "the job to be transcoding", || async {
        let video = app.get_json(&format!("/api/v1/videos/{id}"), &token).await;
        let (state, _, worker) = running().await;
        (state == "running" && video["progress"]["percent"].as_f64().unwrap_or(0.0) > 0.0).then_some(worker)
    })
    .await
    .expect("a running job names its worker");

    // Another worker gets a delivery of the same job (a duplicate, or the reconciler's):
    // its claim is what every delivery starts with.
    let orphan_after = app.state.config.transcode.orphan_after();
    let claimed = streambox_db::jobs::begin_attempt(app.db(), video_id, "another-worker", orphan_after).await.unwrap();
    assert!(claimed.is_none(), "a running job with a live worker was claimed again");
    assert_eq!(running().await, ("running".to_owned(), 1, Some(owner)), "still the first worker's first attempt");

    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let (state, attempts, errors) = job_of(&app, &id).await;
    assert_eq!((state.as_str(), attempts), ("done", 1), "{errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_running_job_at_once() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "term.mp4", 1280, 720, 20, true);
    let id = app.upload_accepted(&token, &clip, "Queued clip").await;
    let mut stopping = WorkerProcess::spawn(&app, &[("STREAMBOX_X264_PRESET", "slow")]);
    eventually(DEADLINE, "the job to run", || async { (job_of(&app, &id).await.0 == "running").then_some(()) }).await;
    let video_id: VideoId = id.parse().unwrap();
    assert!(
        app.state.queue.videos_with_deliveries().await.unwrap().contains(&video_id),
        "in flight counts as delivered"
    );
    stopping.sigterm();
    let status = stopping.child.wait().unwrap();
    assert!(status.success(), "the worker exits cleanly on SIGTERM: {status}");
    let (state, attempts, errors) = job_of(&app, &id).await;
    assert_eq!((state.as_str(), attempts), ("queued", 0), "released, not failed: {errors}");

    let _next = WorkerProcess::spawn(&app, &[]);
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_redelivers_jobs_redis_lost_and_deleted_videos_end_without_work() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "lost.mp4", 640, 360, 3, true);
    let lost = app.upload_accepted(&token, &clip, "Queued clip").await;
    let deleted = app.upload_accepted(&token, &clip, "Queued clip").await;
    let gone = app.http.delete(app.url(&format!("/api/v1/videos/{deleted}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(gone.status(), 204);

    // Redis loses every delivery (e.g. restarted without persistence)…
    let layout = app.state.queue.backend().get_config().clone();
    let client = redis::Client::open(app.state.config.redis_url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis.del(&[layout.active_jobs_list(), layout.scheduled_jobs_set()]).await.unwrap();
    assert!(app.state.queue.videos_with_deliveries().await.unwrap().is_empty(), "nothing left to deliver");
    // …then the deleted video's delivery is pushed again (a duplicate), to check it is a
    // no-op, and another job's retry waits for an hour: deliveries of other jobs waiting
    // must not hide that this one has none.
    let deleted_id: VideoId = deleted.parse().unwrap();
    app.state.queue.enqueue(TranscodeJob::new(deleted_id)).await.unwrap();
    let waiting = VideoId::new();
    app.state.queue.enqueue_after(TranscodeJob::new(waiting), Duration::from_secs(3600)).await.unwrap();

    let _worker = WorkerProcess::spawn(&app, &[("STREAMBOX_RECONCILE_SECS", "1")]);
    let video = app.wait_for_status(&token, &lost, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "the reconciler re-delivered the lost job");
    eventually(DEADLINE, "the deleted video's delivery to be consumed", || async {
        (!app.state.queue.videos_with_deliveries().await.unwrap().contains(&deleted_id)).then_some(())
    })
    .await;
    assert!(app.state.queue.videos_with_deliveries().await.unwrap().contains(&waiting), "the other delivery waited");
    assert!(
        app.state.storage.list(&format!("hls/{deleted}/")).await.unwrap().is_empty(),
        "no work for a deleted video"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apalis_redis_layout_we_rely_on_is_pinned() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let queue = &app.state.config.queue_name;
    let layout: &QueueLayout = &app.state.queue.backend().get_config().clone();
    // Key names: the reconciler reads these; an upgrade that renames them must fail here.
    assert_eq!(layout.active_jobs_list(), format!("{queue}:active"));
    assert_eq!(layout.scheduled_jobs_set(), format!("{queue}:scheduled"));
    assert_eq!(layout.dead_jobs_set(), format!("{queue}:dead"));
    assert_eq!(layout.job_meta_hash(), format!("{queue}:meta"));
    assert_eq!(layout.job_data_hash(), format!("{queue}:data"));
    assert_eq!(layout.workers_set(), format!("{queue}:workers"));
    assert_eq!(layout.inflight_jobs_set(), format!("{queue}:inflight"));
    assert_eq!(layout.orphaned_duration(), app.state.config.transcode.orphan_after());
    assert_eq!(layout.batch_size, 1, "a worker takes one delivery at a time");

    let client = redis::Client::open(app.state.config.redis_url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let video = VideoId::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    // apalis-redis 1.0 parks every new delivery in the scheduled set, scored by when it
    // is due (now, unless delayed); workers move due ones to the active list as they fetch.
    app.state.queue.enqueue(TranscodeJob::new(video)).await.unwrap();
    app.state.queue.enqueue_after(TranscodeJob::new(video), Duration::from_secs(3600)).await.unwrap();
    let scheduled: Vec<(String, f64)> = redis.zrange_withscores(layout.scheduled_jobs_set(), 0, -1).await.unwrap();
    assert_eq!(scheduled.len(), 2, "both deliveries wait in the scheduled set");
    assert!((scheduled[0].1 - now).abs() < 60.0, "due now: {scheduled:?}");
    assert!((scheduled[1].1 - (now + 3600.0)).abs() < 60.0, "due in an hour, in seconds: {scheduled:?}");
    let active: u64 = redis.llen(layout.active_jobs_list()).await.unwrap();
    assert_eq!(active, 0, "nothing is active before a worker fetches");
    for (task, _) in &scheduled {
        let status: Option<String> = redis.hget(format!("{}:{task}", layout.job_meta_hash()), "status").await.unwrap();
        assert_eq!(status.as_deref(), Some("Pending"));
    }
    let delivered = app.state.queue.videos_with_deliveries().await.unwrap();
    assert_eq!(delivered, std::collections::HashSet::from([video]), "payloads are the job as JSON");
}

/// "Retry all dead jobs" queues every dead job again (and only those): each runs once
/// more, and, their sources still broken, fails a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_every_dead_job_runs_each_of_them_again() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin").await;
    let dead = [app.dead_job(admin.id).await, app.dead_job(admin.id).await];
    let retried: Value = app
        .http
        .post(app.url("/api/v1/admin/jobs/retry-dead"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(retried["retried"], 2, "{retried}");
    for job in dead {
        eventually(Duration::from_secs(120), "the retried job's second failure", || async {
            let errors: i32 = sqlx::query_scalar("SELECT jsonb_array_length(errors) FROM transcode_jobs WHERE id = $1")
                .bind(job)
                .fetch_one(app.db())
                .await
                .unwrap();
            (errors >= 2).then_some(())
        })
        .await;
    }
}

/// The queue is fair between uploaders: with one user's 20 videos queued first, another
/// user's single upload is the next to start once the job running is done, not the 21st.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_uploaders_video_starts_within_one_job_of_a_twenty_video_backlog() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let busy = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "short.mp4", 320, 180, 1, true);
    for n in 0..20 {
        app.upload_accepted(&busy, &clip, &format!("Backlog {n}")).await;
    }
    let other = app.signed_in_user().await;
    let single = app.upload_accepted(&other, &clip, "Just one").await;

    let _worker = WorkerProcess::spawn(&app, &[]).ready().await;
    let video = app.wait_for_status(&other, &single, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let started_before: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transcode_jobs
         WHERE started_at < (SELECT started_at FROM transcode_jobs WHERE video_id = $1::uuid)",
    )
    .bind(&single)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert!(started_before <= 1, "{started_before} of the backlog's jobs started before the other uploader's");
}

/// Parts of chunked videos are shared between uploaders too: one whose part is running
/// waits while another has none running, even when its own videos' first parts are older.
#[tokio::test]
async fn an_uploader_with_no_part_running_gets_the_next_part_before_one_with_many_videos() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let (busy, _) = app.quick_user("creator", "Busy").await;
    let (other, _) = app.quick_user("creator", "Other").await;
    let chunked_video = |owner: uuid::Uuid, age_s: i32, first_running: bool| {
        let db = app.db().clone();
        async move {
            let (video, job) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
            sqlx::query(
                "INSERT INTO videos (id, owner_id, title, status, source_bytes, created_at)
                 VALUES ($1, $2, 'Long', 'processing', 10, now() - make_interval(secs => $3))",
            )
            .bind(video)
            .bind(owner)
            .bind(f64::from(age_s))
            .execute(&db)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO transcode_jobs (id, video_id, state, attempts, max_attempts, worker, heartbeat_at, created_at)
                 VALUES ($1, $2, 'running', 1, 3, 'planner', now(), now() - make_interval(secs => $3))",
            )
            .bind(job)
            .bind(video)
            .bind(f64::from(age_s))
            .execute(&db)
            .await
            .unwrap();
            for seq in 0..3 {
                let running = first_running && seq == 0;
                sqlx::query(
                    "INSERT INTO transcode_chunks (job_id, seq, kind, first_frame, start_s, duration_s, state, worker, heartbeat_at)
                     VALUES ($1, $2, 'video', $2 * 1800, $2 * 60, 60, $3::chunk_state, $4, $5)",
                )
                .bind(job)
                .bind(seq)
                .bind(if running { "running" } else { "queued" })
                .bind(running.then_some("worker-a"))
                .bind(running.then(chrono::Utc::now))
                .execute(&db)
                .await
                .unwrap();
            }
            video
        }
    };
    // The busy uploader's three videos came first; one of their parts is running.
    chunked_video(busy, 300, true).await;
    chunked_video(busy, 200, false).await;
    chunked_video(busy, 100, false).await;
    let others = chunked_video(other, 10, false).await;

    let orphan_after = app.state.config.transcode.orphan_after();
    let claimed = streambox_db::chunks::claim(app.db(), "worker-b", orphan_after).await.unwrap().expect("a part");
    assert_eq!(claimed.video.id.0, others, "the uploader with no part running goes first");
    assert_eq!(claimed.chunk.seq, 0, "with the first part of its video");
}
