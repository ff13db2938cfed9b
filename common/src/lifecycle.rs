//! Operations on a video that span the database and object storage, each written once
//! for every caller: the API's delete, the reconciler and the transcode job.

use sqlx::PgPool;

use crate::error::ApiError;
use crate::ids::VideoId;
use crate::layout::keys;
use crate::storage::ObjectStore;
use crate::videos;

/// Why a purge stopped; the video stays `deleted` (hidden) and a later purge finishes it.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error("removing the video's objects: {0:#}")]
    Storage(anyhow::Error),
    #[error("removing the video's row: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<PurgeError> for ApiError {
    fn from(e: PurgeError) -> Self {
        match e {
            PurgeError::Storage(e) => {
                tracing::error!(error = %format!("{e:#}"), "removing objects of a deleted video failed");
                ApiError::unavailable("object storage")
            }
            PurgeError::Database(e) => e.into(),
        }
    }
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
