//! The Postgres pool and the migrations every service applies at start.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A transaction left idle this long is ended by the server, so a stuck task can never
/// keep a pooled connection (and its locks) from everyone else.
const IDLE_IN_TRANSACTION: &str = "30s";

pub async fn connect(database_url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(database_url)
        .context("DATABASE_URL is not a PostgreSQL URL")?
        .options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION)]);
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .context("connecting to Postgres (DATABASE_URL)")
}

/// Applies pending migrations; concurrent callers serialise on Postgres's advisory lock.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("applying database migrations")
}
