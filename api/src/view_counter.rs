//! View counts: a view counts once per viewer per video per 30 minutes. Views are
//! counted in Redis and added to Postgres in batches, so a video everyone is watching
//! does not make every request wait on its one row.
//!
//! Anonymous viewers are told apart by a hash of their address and user agent with a
//! salt that changes daily (shared by all processes through Redis): no address is stored.
//! One address counts as at most [`ANONYMOUS_PER_ADDRESS`] anonymous viewers of a video
//! per window (a household behind one router), so rotating the user agent cannot
//! inflate a count; IPv6 addresses count by their /64, which one subscriber holds whole.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use axum::http::{HeaderMap, header};
use chrono::Utc;
use redis::AsyncCommands;
use sha2::{Digest, Sha256};
use streambox_base::ids::{UserId, VideoId};
use streambox_db::views;
use streambox_http::AppState;
use streambox_http::auth::AuthUser;
use streambox_http::client_address::network_of;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One view per viewer per video in this window.
pub const WINDOW: Duration = Duration::from_secs(30 * 60);
/// Anonymous viewers of one video counted per address (or IPv6 /64) per window.
pub const ANONYMOUS_PER_ADDRESS: i64 = 3;

pub enum Viewer {
    User(UserId),
    Anonymous { address: Option<IpAddr>, user_agent: String },
}

impl Viewer {
    /// The viewer of a request: the signed-in user, else its address and user agent.
    pub fn of(user: Option<AuthUser>, address: Option<IpAddr>, headers: &HeaderMap) -> Self {
        match user {
            Some(user) => Self::User(user.id),
            None => {
                let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
                Self::Anonymous { address, user_agent: user_agent.chars().take(512).collect() }
            }
        }
    }
}

/// How a viewer is told apart without storing who they are.
pub struct ViewerKey {
    /// `u:{user id}`, or `a:` and a digest of the daily salt, network and user agent.
    pub who: String,
    /// For anonymous viewers, a digest of the daily salt and their network (address or
    /// IPv6 /64): what bounds how many viewers one address counts as.
    pub network: Option<String>,
}

/// The key `viewer` is counted under today.
pub async fn identify(state: &AppState, viewer: &Viewer) -> anyhow::Result<ViewerKey> {
    Ok(match viewer {
        Viewer::User(id) => ViewerKey { who: format!("u:{id}"), network: None },
        Viewer::Anonymous { address, user_agent } => {
            let salt = daily_salt(state).await?;
            let network = address.map(network_of).unwrap_or_default();
            let digest = Sha256::digest(format!("{salt}\n{network}\n{user_agent}"));
            let network_digest = Sha256::digest(format!("{salt}\n{network}"));
            ViewerKey { who: format!("a:{}", hex(&digest[..16])), network: Some(hex(&network_digest[..16])) }
        }
    })
}

fn key(state: &AppState, what: &str) -> String {
    format!("{}:views:{what}", state.config.queue_name)
}

/// Counts a view unless this viewer was counted for this video within the window.
pub async fn count(state: &AppState, video: VideoId, viewer: &Viewer) -> anyhow::Result<bool> {
    let mut redis = state.queue.redis();
    let ViewerKey { who, network } = identify(state, viewer).await?;
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
    if let Some(network) = network {
        let from = key(state, &format!("from:{video}:{network}"));
        let (viewers, _): (i64, bool) = redis::pipe()
            .incr(&from, 1)
            .cmd("EXPIRE")
            .arg(&from)
            .arg(WINDOW.as_secs())
            .query_async(&mut redis)
            .await
            .context("counting an address's viewers")?;
        if viewers > ANONYMOUS_PER_ADDRESS {
            return Ok(false);
        }
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
///
/// Pending views are first moved into a batch with an id of its own. Batches that a failed
/// flush, or a process that died mid-flush, left in Redis go first (whichever process finds
/// them), and new views wait for the next round. A batch is added once: its id is recorded
/// with the counts, and a batch already recorded is only deleted.
pub async fn flush(state: &AppState) -> anyhow::Result<i64> {
    let mut batches = leftover_batches(state).await?;
    if batches.is_empty() {
        let batch = Uuid::new_v4();
        let moved: redis::RedisResult<()> =
            state.queue.redis().rename(key(state, "pending"), batch_key(state, batch)).await;
        if moved.is_err() {
            return Ok(0); // nothing pending
        }
        batches.push(batch);
    }
    let mut added = 0;
    for batch in batches {
        added += add_batch(state, batch).await?;
    }
    Ok(added)
}

fn batch_key(state: &AppState, batch: Uuid) -> String {
    key(state, &format!("flushing:{batch}"))
}

async fn leftover_batches(state: &AppState) -> anyhow::Result<Vec<Uuid>> {
    let mut redis = state.queue.redis();
    let prefix = key(state, "flushing:");
    let mut batches = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await
            .context("listing view batches")?;
        batches.extend(keys.iter().filter_map(|k| Uuid::try_parse(k.strip_prefix(&prefix)?).ok()));
        if next == 0 {
            return Ok(batches);
        }
        cursor = next;
    }
}

async fn add_batch(state: &AppState, batch: Uuid) -> anyhow::Result<i64> {
    let mut redis = state.queue.redis();
    let batch_key = batch_key(state, batch);
    let counts: Vec<(String, i64)> = redis.hgetall(&batch_key).await?;
    let (ids, added): (Vec<Uuid>, Vec<i64>) =
        counts.iter().filter_map(|(id, n)| Some((Uuid::try_parse(id).ok()?, *n))).unzip();
    let first = views::add_batch(&state.db, batch, &ids, &added).await?;
    let _: () = redis.del(&batch_key).await?;
    Ok(if first { added.iter().sum() } else { 0 })
}

/// The window the popular feed counts views over.
const POPULAR_DAYS: i32 = 7;

/// Flushes every `view_flush` until shutdown (and once more then), and rebuilds the
/// popular ranking (and forgets old batch ids) every `popular_refresh`.
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
            match streambox_db::feeds::refresh_popular(&state.db, POPULAR_DAYS).await {
                Ok(_) => ranked_at = tokio::time::Instant::now(),
                Err(e) => tracing::warn!(error = %e, "rebuilding the popular ranking failed; will try again"),
            }
            if let Err(e) = views::forget_old_batches(&state.db).await {
                tracing::warn!(error = %e, "forgetting old view batches failed; will try again");
            }
        }
    }
}
