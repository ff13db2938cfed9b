//! The queue consumer: an apalis worker on the Redis transcode queue.

use apalis::prelude::*;
use streambox_common::AppState;
use streambox_common::queue::TranscodeJob;
use tokio_util::sync::CancellationToken;

use crate::job::{self, Verdict};

/// Consumes transcode jobs until `shutdown`; in-flight jobs finish first.
pub async fn run(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let name = worker_name();
    let transcode = &state.config.transcode;
    tracing::info!(worker = %name, concurrency = transcode.concurrency, queue = %state.config.queue_name, "transcode worker started");
    let backend = state.queue.storage().poll_with_interval(transcode.poll_interval);
    let worker =
        WorkerBuilder::new(name).backend(backend).data(state.clone()).concurrency(transcode.concurrency).build(handle);
    worker
        .run_until(async move {
            shutdown.cancelled().await;
            Ok::<(), std::io::Error>(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("transcode worker: {e}"))
}

async fn handle(job: TranscodeJob, state: Data<AppState>) -> Result<(), BoxDynError> {
    match job::execute(&state, job.video_id).await {
        Ok(()) => Ok(()),
        Err(Verdict::Retry(e)) => Err(e.into()),
        // Aborting stops apalis-redis's own retries: the job goes to the dead set.
        Err(Verdict::GiveUp(reason)) => Err(Box::new(AbortError::new(std::io::Error::other(reason)))),
    }
}

/// Unique per process: apalis refuses a second live worker with the same name.
fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "host".into());
    format!("transcoder-{host}-{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8])
}
