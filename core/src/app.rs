//! The services every worker and handler shares: configuration, the database, object
//! storage, the queue, and this process's worker status.

use std::ops::Deref;
use std::sync::Arc;

use sqlx::PgPool;
use streambox_base::Config;
use streambox_base::metrics::Metrics;
use streambox_queue::JobQueue;
use streambox_storage::ObjectStore;

use crate::worker_status::WorkerStatus;

/// The services of one process, built once at start and shared through [`Core`].
pub struct App {
    /// The configuration, read and validated once at start.
    pub config: Config,
    /// The Postgres pool every query of the process runs on.
    pub db: PgPool,
    /// Object storage: upload sources and everything the pipeline publishes for a video.
    pub storage: ObjectStore,
    /// The Redis transcode queue that jobs are delivered through.
    pub queue: JobQueue,
    /// Whether this process's transcode worker is consuming, for the readiness check.
    pub worker: WorkerStatus,
    /// What the process counts and measures, served at `/metrics`.
    pub metrics: Metrics,
}

/// A cheap, cloneable handle on the shared [`App`].
#[derive(Clone)]
pub struct Core(pub Arc<App>);

impl Deref for Core {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
