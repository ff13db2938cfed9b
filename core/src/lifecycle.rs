//! Operations on a video that span the database, object storage and the queue, each
//! written once for every caller: delivering an admitted upload's job (multipart, tus,
//! presigned and the reconciler), and purging a deleted video (the API's delete, the
//! reconciler and the transcode job).

use sqlx::PgPool;

use streambox_base::ids::VideoId;
use streambox_db::videos;
use streambox_queue::{JobQueue, TranscodeJob};
use streambox_storage::ObjectStore;
use streambox_storage::layout::keys;

/// Why a purge stopped; the video stays `deleted` (hidden) and a later purge finishes it.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// Object storage failed while deleting one of the video's prefixes; its row is kept.
    #[error("removing the video's objects: {0:#}")]
    Storage(anyhow::Error),
    /// Every object is gone, but deleting the video's row failed.
    #[error("removing the video's row: {0}")]
    Database(#[from] sqlx::Error),
}

/// Removes every object of a video, then its row. The caller has hidden it first
/// (status `deleted`), so nothing serves it while its files go; repeating a purge that
/// stopped midway finishes it, and purging what is gone already does nothing.
pub async fn purge(db: &PgPool, storage: &ObjectStore, id: VideoId) -> Result<(), PurgeError> {
    for prefix in keys::all_prefixes(id) {
        storage.delete_prefix(&prefix).await.map_err(PurgeError::Storage)?;
    }
    videos::delete(db, id).await?;
    Ok(())
}

/// Hands the job of a video whose job row is committed to the queue. From that commit
/// on, the upload cannot be lost: if Redis is away now, the reconciler delivers the job
/// once it is back, so the uploader is told it was accepted either way.
pub async fn deliver(queue: &JobQueue, video: VideoId) {
    if let Err(e) = queue.enqueue(TranscodeJob::new(video)).await {
        tracing::error!(error = %format!("{e:#}"), %video, "enqueue failed; the reconciler will deliver the job");
    }
}
