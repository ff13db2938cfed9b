//! PostgreSQL: the pool, the migrations every service applies at start, and one
//! module per table or aggregate with its SQL.

#![warn(missing_docs)]

pub mod analytics;
pub mod captions;
pub mod chunks;
pub mod comments;
pub mod email_links;
pub mod events;
pub mod feeds;
pub mod follows;
pub mod history;
pub mod identities;
pub mod jobs;
pub mod likes;
pub mod live;
pub mod notifications;
pub mod quotas;
pub mod sessions;
pub mod studio;
pub mod users;
pub mod videos;
pub mod views;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The migrations in `migrations/`, embedded at build time; [`migrate`] applies them.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A transaction left idle this long is ended by the server, so a stuck task can never
/// keep a pooled connection (and its locks) from everyone else.
const IDLE_IN_TRANSACTION: &str = "30s";

/// Opens the pool (at most 16 connections, 5 s to acquire one). Errors when the URL is
/// not a PostgreSQL URL or the server cannot be reached.
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
