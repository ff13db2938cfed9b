//! The queue consumer: an apalis worker on the Redis transcode queue, plus the
//! reconciler, until shutdown.

use std::time::{Duration, SystemTime};

use apalis::prelude::*;
use streambox_common::AppState;
use streambox_common::queue::TranscodeJob;
use tokio_util::sync::CancellationToken;

use crate::job::{self, Runner, Verdict};
use crate::reconcile;

/// Consumes transcode jobs until `shutdown`; in-flight jobs are released back to the queue.
pub async fn run(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let name = worker_name();
    let transcode = &state.config.transcode;
    sweep_stale_workdirs(&state).await;
    tracing::info!(worker = %name, concurrency = transcode.concurrency, queue = %state.config.queue_name, "transcode worker started");
    let reconciler = tokio::spawn(reconcile::run(state.clone(), shutdown.clone()));

    let runner = Runner { state: state.clone(), worker: name.clone(), shutdown: shutdown.clone() };
    let backend = state.queue.storage().poll_with_interval(transcode.poll_interval);
    let worker =
        WorkerBuilder::new(name).backend(backend).data(runner).concurrency(transcode.concurrency).build(handle);
    let stopped = worker
        .run_until(async move {
            shutdown.cancelled().await;
            Ok::<(), std::io::Error>(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("transcode worker: {e}"));
    reconciler.await?;
    stopped
}

async fn handle(job: TranscodeJob, runner: Data<Runner>) -> Result<(), BoxDynError> {
    match job::execute(&runner, job.video_id).await {
        Ok(()) => Ok(()),
        Err(Verdict::Retry(e)) => Err(e.into()),
        // Aborting stops apalis-redis's own retries: the delivery goes to its dead set.
        Err(Verdict::GiveUp(reason)) => Err(Box::new(AbortError::new(std::io::Error::other(reason)))),
    }
}

/// Unique per process: apalis refuses a second live worker with the same name.
fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "host".into());
    format!("transcoder-{host}-{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Scratch directories of runs that died (killed worker, power loss). A live run
/// writes a segment every few seconds, so anything untouched this long is dead.
async fn sweep_stale_workdirs(state: &AppState) {
    let work = state.config.data_dir.join("work");
    let stale_after = state.config.transcode.stall_timeout * 2 + Duration::from_secs(60);
    let Ok(mut entries) = tokio::fs::read_dir(&work).await else { return };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let modified = entry.metadata().await.and_then(|m| m.modified()).unwrap_or(SystemTime::now());
        if modified.elapsed().is_ok_and(|age| age > stale_after) {
            match tokio::fs::remove_dir_all(entry.path()).await {
                Ok(()) => tracing::info!(dir = %entry.path().display(), "removed the scratch space of a dead run"),
                Err(e) => {
                    tracing::warn!(error = %e, dir = %entry.path().display(), "could not remove stale scratch space")
                }
            }
        }
    }
}
