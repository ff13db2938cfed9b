//! View counts: a view counts once per viewer per video per 30 minutes. Views are
//! counted in Redis and added to Postgres in batches, so a video everyone is watching
//! does not make every request wait on its one row.
//!
//! Anonymous viewers are told apart by a hash of their address and user agent with a
//! salt that changes daily (shared by all processes through Redis): no address is stored.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use redis::AsyncCommands;
use sha2::{Digest, Sha256};
use streambox_common::AppState;
use streambox_common::ids::{UserId, VideoId};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One view per viewer per video in this window.
const WINDOW: Duration = Duration::from_secs(30 * 60);

/// Names this process's batch: one that failed to reach the database is retried first.
static PROCESS: LazyLock<Uuid> = LazyLock::new(Uuid::new_v4);

pub enum Viewer {
    User(UserId),
    Anonymous { address: Option<IpAddr>, user_agent: String },
}

fn key(state: &AppState, what: &str) -> String {
    format!("{}:views:{what}", state.config.queue_name)
}

/// Counts a view unless this viewer was counted for this video within the window.
pub async fn count(state: &AppState, video: VideoId, viewer: &Viewer) -> anyhow::Result<bool> {
    let mut redis = state.queue.redis();
    let who = match viewer {
        Viewer::User(id) => format!("u:{id}"),
        Viewer::Anonymous { address, user_agent } => {
            let salt = daily_salt(state).await?;
            let address = address.map(|a| a.to_string()).unwrap_or_default();
            let digest = Sha256::digest(format!("{salt}\n{address}\n{user_agent}"));
            format!("a:{}", hex(&digest[..16]))
        }
    };
    let seen = key(state, &format!("seen:{video}:{who}"));
    let first: Option<String> = redis::cmd("SET")
        .arg(&seen)
        .arg(1)
        .arg("NX")
        .arg("EX")
        .arg(WINDOW.as_secs())
        .query_async(&mut redis)
        .await
        .context("recording a view")?;
    if first.is_none() {
        return Ok(false);
    }
    let _: i64 = redis.hincr(key(state, "pending"), video.to_string(), 1).await.context("counting a view")?;
    Ok(true)
}

async fn daily_salt(state: &AppState) -> anyhow::Result<String> {
    let mut redis = state.queue.redis();
    let salt_key = key(state, &format!("salt:{}", Utc::now().date_naive()));
    let fresh = hex(&rand::random::<[u8; 16]>());
    let _: Option<String> = redis::cmd("SET")
        .arg(&salt_key)
        .arg(&fresh)
        .arg("NX")
        .arg("EX")
        .arg(2 * 86_400)
        .query_async(&mut redis)
        .await?;
    Ok(redis.get(&salt_key).await?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds the views counted so far to the database; returns how many.
pub async fn flush(state: &AppState) -> anyhow::Result<i64> {
    let mut redis = state.queue.redis();
    // This process's own batch: concurrent flushes elsewhere take their own. One left
    // by a failed flush goes first; new views wait for the next round.
    let batch = key(state, &format!("flushing:{}", PROCESS.simple()));
    let leftover: bool = redis.exists(&batch).await?;
    if !leftover {
        let moved: redis::RedisResult<()> = redis.rename(key(state, "pending"), &batch).await;
        if moved.is_err() {
            return Ok(0); // nothing pending
        }
    }
    let counts: Vec<(String, i64)> = redis.hgetall(&batch).await?;
    let (ids, views): (Vec<Uuid>, Vec<i64>) =
        counts.iter().filter_map(|(id, n)| Some((Uuid::try_parse(id).ok()?, *n))).unzip();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "UPDATE videos SET view_count = view_count + batch.views
         FROM unnest($1::uuid[], $2::bigint[]) AS batch (id, views) WHERE videos.id = batch.id",
    )
    .bind(&ids)
    .bind(&views)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO video_views_daily (video_id, day, views)
         SELECT batch.id, current_date, batch.views FROM unnest($1::uuid[], $2::bigint[]) AS batch (id, views)
         WHERE EXISTS (SELECT 1 FROM videos WHERE videos.id = batch.id)
         ON CONFLICT (day, video_id) DO UPDATE SET views = video_views_daily.views + EXCLUDED.views",
    )
    .bind(&ids)
    .bind(&views)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let _: () = redis.del(&batch).await?;
    Ok(views.iter().sum())
}

/// The window the popular feed counts views over.
const POPULAR_DAYS: i32 = 7;

/// Flushes every `view_flush` until shutdown (and once more then), and rebuilds the
/// popular ranking every `popular_refresh`.
pub async fn run(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    // The ranking is kept in the database: a restart goes on from it.
    let mut ranked_at = tokio::time::Instant::now();
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(state.config.view_flush) => false,
            () = shutdown.cancelled() => true,
        };
        match flush(&state).await {
            Ok(0) => {}
            Ok(views) => tracing::debug!(views, "view counts flushed"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "flushing view counts failed; will try again"),
        }
        if stopping {
            return Ok(());
        }
        if ranked_at.elapsed() >= state.config.popular_refresh {
            match streambox_common::feeds::refresh_popular(&state.db, POPULAR_DAYS).await {
                Ok(_) => ranked_at = tokio::time::Instant::now(),
                Err(e) => tracing::warn!(error = %e, "rebuilding the popular ranking failed; will try again"),
            }
        }
    }
}
