//! What operators do to jobs, shared by the HTTP API and the `streambox jobs` CLI.

use sqlx::PgPool;

use streambox_base::ids::JobId;
use streambox_db::jobs::{self, Job};
use streambox_queue::{JobQueue, TranscodeJob};

/// Why an operator's action on a job was refused or did not complete.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// No job has this id (it may have been discarded).
    #[error("no job with id {0}")]
    NotFound(JobId),
    /// The job exists but is not dead; it carries the job's current state.
    #[error("job {0} is {1}; only dead jobs can be retried or discarded")]
    NotDead(JobId, &'static str),
    /// The database or the queue failed. A retry whose enqueue failed has revived the job
    /// already; the reconciler delivers it later.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<sqlx::Error> for OperatorError {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(anyhow::Error::new(e).context("database"))
    }
}

/// A dead job runs again from attempt 1 (after the cause was fixed); its video is queued.
pub async fn retry(db: &PgPool, queue: &JobQueue, id: JobId) -> Result<Job, OperatorError> {
    let Some(job) = jobs::revive(db, id).await? else { return Err(not_dead(db, id).await) };
    queue.enqueue(TranscodeJob::new(job.video_id)).await?;
    tracing::info!(job = %id, "dead job retried by an operator");
    Ok(job)
}

/// Retries every dead job; returns how many.
pub async fn retry_dead(db: &PgPool, queue: &JobQueue) -> Result<usize, OperatorError> {
    let mut retried = 0;
    for id in jobs::dead_ids(db).await? {
        match retry(db, queue, id).await {
            Ok(_) => retried += 1,
            // Retried or discarded by someone else meanwhile.
            Err(OperatorError::NotDead(..) | OperatorError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(retried)
}

/// Takes a dead job off the dead-letter list; its video stays failed.
pub async fn discard(db: &PgPool, id: JobId) -> Result<Job, OperatorError> {
    let Some(job) = jobs::discard(db, id).await? else { return Err(not_dead(db, id).await) };
    tracing::info!(job = %id, "dead job discarded by an operator");
    Ok(job)
}

async fn not_dead(db: &PgPool, id: JobId) -> OperatorError {
    match jobs::find(db, id).await {
        Ok(Some(job)) => OperatorError::NotDead(id, job.state.as_str()),
        Ok(None) => OperatorError::NotFound(id),
        Err(e) => e.into(),
    }
}
