//! How a transcode can fail, which decides whether it is worth retrying.

/// `Permanent`: the input itself is the problem (not a video, corrupt, over limits);
/// retrying cannot help. `Transient`: the machinery failed (storage, database, a killed
/// ffmpeg); a later attempt may succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Permanent(String),
    #[error("{0:#}")]
    Transient(#[from] anyhow::Error),
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        Self::Transient(anyhow::Error::new(e).context("database"))
    }
}
