//! Repairs of what a crash leaves half done, each made by the real process: deletions
//! that stopped midway, uploads whose source is complete but whose video was never
//! made, and the scratch space of a killed worker's run.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{TestApp, WorkerProcess, eventually, make_clip};

const DEADLINE: Duration = Duration::from_secs(180);
/// The reconciler runs every second here; a minute covers a loaded machine.
const REPAIR_DEADLINE: Duration = Duration::from_secs(60);

/// Backdates `path`'s modification time by `age` (as a crash long ago leaves it).
fn backdate(path: &Path, age: &str) {
    let status = Command::new("touch").args(["-d", &format!("{age} ago")]).arg(path).status().unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_finishes_interrupted_deletions_and_stranded_uploads() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RECONCILE_SECS", "1")]).await;
    let owner = app.user("creator").await;

    // A deletion that began 11 minutes ago and stopped (the process died): its row says
    // `deleted`, its objects are still there.
    let deleted = app.ready_video(owner.id, "public").await;
    sqlx::query("UPDATE videos SET status = 'deleted', updated_at = now() - interval '11 minutes' WHERE id = $1")
        .bind(deleted)
        .execute(app.db())
        .await
        .unwrap();
    // A resumable upload whose last byte was stored and assembled 11 minutes ago, when
    // the process died before making its video.
    let stranded = uuid::Uuid::new_v4();
    let clip = make_clip(app.dir.path(), "stranded.mp4", 320, 240, 2, true);
    let length = std::fs::metadata(&clip).unwrap().len() as i64;
    app.state.storage.put_file(&format!("raw/{stranded}/source"), &clip, "application/octet-stream").await.unwrap();
    sqlx::query(
        "INSERT INTO uploads (id, owner_id, kind, title, length, stored, assembled, created_at, expires_at)
         VALUES ($1, $2, 'tus', 'Stranded', $3, $3, true, now() - interval '11 minutes', now() + interval '1 day')",
    )
    .bind(stranded)
    .bind(owner.id)
    .bind(length)
    .execute(app.db())
    .await
    .unwrap();

    eventually(REPAIR_DEADLINE, "the interrupted deletion to finish", || async {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM videos WHERE id = $1")
            .bind(deleted)
            .fetch_one(app.db())
            .await
            .unwrap();
        (rows == 0).then_some(())
    })
    .await;
    for prefix in [format!("raw/{deleted}/"), format!("hls/{deleted}/"), format!("thumbs/{deleted}/")] {
        assert!(app.state.storage.list(&prefix).await.unwrap().is_empty(), "{prefix} left behind");
    }

    eventually(REPAIR_DEADLINE, "the stranded upload to become a video", || async {
        let response = app
            .http
            .get(app.url(&format!("/api/v1/videos/{stranded}")))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        (response.status() == 200).then_some(())
    })
    .await;
    let video = app.wait_for_status(&owner.token, &stranded.to_string(), &["ready", "failed"], DEADLINE).await;
    assert_eq!((video["status"].as_str(), video["title"].as_str()), (Some("ready"), Some("Stranded")), "{video}");
    let uploads: i64 = sqlx::query_scalar("SELECT count(*) FROM uploads").fetch_one(app.db()).await.unwrap();
    assert_eq!(uploads, 0, "the upload row is gone once its video exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scratch_space_of_a_killed_run_is_removed_when_a_worker_starts() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "killed.mp4", 1280, 720, 20, true);
    let response = app.upload(Some(&token), &clip, "Killed").await;
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let scratch = data.path().join("work").join(&id);
    let mut doomed =
        WorkerProcess::spawn(&app, &[("STREAMBOX_DATA_DIR", &data_dir), ("STREAMBOX_X264_PRESET", "slow")]);
    eventually(DEADLINE, "ffmpeg to write into the run's scratch space", || async {
        let written = std::fs::read_dir(&scratch).map(|d| d.count()).unwrap_or(0);
        (written > 0).then_some(())
    })
    .await;
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    assert!(scratch.exists(), "a killed run leaves its scratch space behind");
    // Long untouched, as a dead run's is; a live run's (fresh) must stay.
    backdate(&scratch, "1 hour");
    let live = data.path().join("work").join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&live).unwrap();

    // A worker starting on that data dir (on a queue of its own: the job does not come
    // back to it) sweeps before it consumes.
    let queue = format!("{}:other", app.queue_name);
    let next = WorkerProcess::spawn(&app, &[("STREAMBOX_DATA_DIR", &data_dir), ("STREAMBOX_QUEUE", &queue)]);
    eventually(DEADLINE, "the next worker to consume", || async {
        let readiness = app.http.get(format!("{}/readyz", next.base)).send().await.ok()?;
        let readiness: Value = readiness.json().await.ok()?;
        (readiness["checks"]["transcode_worker"] == "ok").then_some(())
    })
    .await;
    assert!(!scratch.exists(), "the killed run's scratch space is gone");
    assert!(live.exists(), "a live run's scratch space is kept");
}
