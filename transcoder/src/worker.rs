//! The queue consumer: an apalis worker on the Redis transcode queue, plus the
//! reconciler, until shutdown. A consumer that fails (its Redis connection lost or
//! timed out) is started again, so a process never stays up without consuming.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use apalis::prelude::*;
use streambox_core::{App, Core};
use streambox_queue::TranscodeJob;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::job::{self, Runner, Verdict};
use crate::{parts, reconcile};

/// A failed consumer starts again after this, doubling up to [`RESTART_MAX`].
const RESTART_MIN: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(30);
/// A consumer that ran this long before failing was healthy: the delay starts over.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// Consumes transcode jobs until `shutdown`; in-flight jobs are released back to the queue.
pub async fn run(state: Core, shutdown: CancellationToken) -> anyhow::Result<()> {
    sweep_stale_workdirs(&state).await;
    let reconciler = tokio::spawn(reconcile::run(state.clone(), shutdown.clone()));
    let concurrency = state.config.transcode.concurrency;
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut delay = RESTART_MIN;
    loop {
        let started = Instant::now();
        let outcome = consume(&state, &shutdown, slots.clone()).await;
        if shutdown.is_cancelled() {
            if let Err(e) = outcome {
                tracing::warn!(error = %format!("{e:#}"), "transcode worker stopped with an error");
            }
            break;
        }
        let reason = match outcome {
            Err(e) => format!("{e:#}"),
            Ok(()) => "the queue consumer stopped".into(),
        };
        if started.elapsed() > HEALTHY_AFTER {
            delay = RESTART_MIN;
        }
        tracing::error!(error = %reason, restart_in = ?delay, "transcode worker stopped consuming the queue");
        state.worker.failed(reason);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => break,
        }
        delay = (delay * 2).min(RESTART_MAX);
    }
    // Attempts that outlived a failed consumer finish, or release their job, first.
    let _all_finished = slots.acquire_many(concurrency as u32).await?;
    reconciler.await?;
    Ok(())
}

/// What each delivery is handled with.
#[derive(Clone)]
struct Consumer {
    runner: Runner,
    /// One per concurrent attempt, shared by every consumer this process starts.
    slots: Arc<Semaphore>,
}

/// One apalis worker, under a new name (apalis refuses a name whose last heartbeat
/// is recent), until shutdown or until it fails.
async fn consume(state: &Core, shutdown: &CancellationToken, slots: Arc<Semaphore>) -> anyhow::Result<()> {
    let name = worker_name();
    let transcode = &state.config.transcode;
    tracing::info!(worker = %name, concurrency = transcode.concurrency, queue = %state.config.queue_name, "transcode worker started");
    let runner = Runner { state: state.clone(), worker: name.clone(), shutdown: shutdown.clone() };
    let backend = state.queue.backend().poll_with_interval(transcode.poll_interval);
    let status = state.worker.clone();
    let worker = WorkerBuilder::new(name)
        .backend(backend)
        .data(Consumer { runner, slots })
        .concurrency(transcode.concurrency)
        // Emitted once the worker is registered, and at each heartbeat after.
        .on_event(move |_, event| {
            if matches!(event, Event::HeartBeat) {
                status.consuming();
            }
        })
        .build(handle);
    let stop = shutdown.clone();
    worker
        .run_until(async move {
            stop.cancelled().await;
            Ok::<(), std::io::Error>(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("transcode worker: {e}"))
}

async fn handle(job: TranscodeJob, consumer: Data<Consumer>) -> Result<(), BoxDynError> {
    // The attempt runs in a task of its own, holding a slot: if this consumer fails
    // and drops the delivery, the transcode carries on and records its outcome, and
    // the delivery, once redelivered, finds the job done or running.
    let slot = consumer.slots.clone().acquire_owned().await?;
    let runner = consumer.runner.clone();
    let attempt = tokio::spawn(async move {
        let _slot = slot;
        match job.chunk {
            true => parts::execute(&runner, job.video_id).await,
            false => job::execute(&runner, job.video_id).await,
        }
    });
    match attempt.await? {
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
async fn sweep_stale_workdirs(state: &App) {
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
