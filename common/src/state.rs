//! The state every handler and worker shares.

use std::ops::Deref;
use std::sync::Arc;

use sqlx::PgPool;

use crate::config::Config;
use crate::queue::JobQueue;
use crate::storage::ObjectStore;
use crate::tokens::TokenKeys;
use crate::worker_status::WorkerStatus;

pub struct App {
    pub config: Config,
    pub db: PgPool,
    pub storage: ObjectStore,
    pub queue: JobQueue,
    pub tokens: TokenKeys,
    pub worker: WorkerStatus,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
