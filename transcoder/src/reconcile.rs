//! The reconciler: at start and periodically, finds work nothing will move and moves
//! it. One process reconciles at a time (a Postgres advisory lock).
//!
//! - a running job whose worker went silent (and apalis did not hand it on) is re-delivered;
//! - queued or retrying jobs long overdue with no delivery of their own in Redis (Redis
//!   lost its data, or the push after the job's commit failed) are re-delivered;
//! - a chunked video's parts nothing is moving (claimable for long, or running under a
//!   silent worker) get deliveries, if Redis holds none for the video;
//! - deletions that stopped halfway are finished;
//! - uploads left incomplete past their expiry are discarded with their stored bytes,
//!   and complete ones whose video was never made (a crash in between) are finished.

use std::time::Duration;

use streambox_core::lifecycle;
use streambox_core::uploads::{self, UploadLock};
use streambox_core::{App, Core};
use streambox_db::videos;
use streambox_db::{chunks, jobs};
use streambox_queue::TranscodeJob;
use tokio_util::sync::CancellationToken;

/// Any constant shared by all StreamBox processes on one database.
const LOCK_KEY: i64 = 0x5354_5245_414d_4258;
/// A deletion or upload step still unfinished after this long has failed midway.
const UNFINISHED_GRACE: Duration = Duration::from_secs(600);

pub async fn run(state: Core, shutdown: CancellationToken) {
    loop {
        match once(&state).await {
            Ok(report) if report.is_empty() => {}
            Ok(report) => tracing::info!(?report, "reconciled"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "reconciling failed; will try again"),
        }
        tokio::select! {
            () = tokio::time::sleep(state.config.transcode.reconcile_every) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub orphans_redelivered: usize,
    pub lost_redelivered: usize,
    pub chunks_redelivered: usize,
    pub deletions_finished: usize,
    pub uploads_expired: usize,
    pub uploads_finished: usize,
}

impl Report {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

pub async fn once(state: &App) -> anyhow::Result<Report> {
    // A session lock on a connection of its own, outside any transaction: a round may
    // take longer than the server lets a transaction sit idle.
    let mut lock = state.db.acquire().await?;
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LOCK_KEY).fetch_one(&mut *lock).await?;
    if !locked {
        return Ok(Report::default());
    }
    let report = reconcile(state).await;
    if let Err(e) = sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut *lock).await {
        // Never pooled holding the lock: closing the connection ends it.
        tracing::warn!(error = %e, "releasing the reconciler lock failed; closing its connection");
        lock.close().await.ok();
    }
    report
}

/// One round of repairs; the caller holds the reconciler lock.
async fn reconcile(state: &App) -> anyhow::Result<Report> {
    let config = &state.config.transcode;
    let mut report = Report::default();

    // apalis re-delivers a dead worker's jobs after the same silence; give it that chance first.
    for job in jobs::orphaned(&state.db, config.orphan_after() * 2).await? {
        tracing::warn!(job = %job.id, worker = ?job.worker, "running job without a live worker; re-delivering");
        state.queue.enqueue(TranscodeJob::new(job.video_id)).await?;
        report.orphans_redelivered += 1;
    }

    let grace = (config.poll_interval * 10).max(config.reconcile_every);
    let overdue = jobs::overdue(&state.db, grace).await?;
    if !overdue.is_empty() {
        // Read after the jobs: a delivery fetched in between is still seen (in flight).
        let delivered = state.queue.videos_with_deliveries().await?;
        for job in overdue.into_iter().filter(|job| !delivered.contains(&job.video_id)) {
            tracing::warn!(job = %job.id, "queued job has no delivery in Redis; re-delivering");
            state.queue.enqueue(TranscodeJob::new(job.video_id)).await?;
            report.lost_redelivered += 1;
        }
    }

    let stalled = chunks::stalled(&state.db, grace, config.orphan_after() * 2).await?;
    if !stalled.is_empty() {
        let delivered = state.queue.videos_with_deliveries().await?;
        for (video, parts) in stalled.into_iter().filter(|(video, _)| !delivered.contains(video)) {
            tracing::warn!(%video, parts, "chunks without a delivery in Redis; re-delivering");
            state.queue.enqueue_chunks(video, parts as usize).await?;
            report.chunks_redelivered += parts as usize;
        }
    }

    for video in videos::deletions_older_than(&state.db, UNFINISHED_GRACE).await? {
        lifecycle::purge(&state.db, &state.storage, video).await?;
        report.deletions_finished += 1;
    }

    for upload in uploads::expired(&state.db).await? {
        // A request still writing to it holds the lock: leave it to the next round.
        let Some(writing) = UploadLock::acquire(&state.db, upload.id).await? else { continue };
        tracing::info!(upload = %upload.id, stored = upload.stored, "discarding an expired incomplete upload");
        let discarded = uploads::discard(state, &upload).await;
        writing.release().await;
        discarded?;
        report.uploads_expired += 1;
    }
    for upload in uploads::stranded(&state.db, UNFINISHED_GRACE).await? {
        let Some(writing) = UploadLock::acquire(&state.db, upload.id).await? else { continue };
        let finished = uploads::into_video(state, &upload).await;
        writing.release().await;
        if finished?.is_some() {
            report.uploads_finished += 1;
        }
    }
    Ok(report)
}
