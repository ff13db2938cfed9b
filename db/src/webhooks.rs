//! Webhook endpoints and their deliveries.
//!
//! A delivery is created with its event (the `record_event` trigger function) and is
//! `pending` until a sender gets a 2xx for it (`delivered`) or its retry window runs
//! out (`failed`). Per endpoint and video, deliveries go out in event order: only the
//! oldest pending one of a chain is ever handed out. A sender holds a delivery under a
//! lease, so one that dies mid-send loses it to another sender.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::events::{self, EndpointEventData, EndpointSnapshot, Envelope};
use streambox_base::ids::{DeliveryId, EventId, UserId, WebhookId};

/// The Postgres channel a new or unblocked delivery is announced on.
pub const CHANNEL: &str = "streambox_webhooks";

/// A registered endpoint. Its secrets are never serialized.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    /// The endpoint.
    pub id: WebhookId,
    /// Who registered it; it receives their events.
    pub owner_id: UserId,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// An administrator's endpoint for every user's events.
    pub all_users: bool,
    /// Paused endpoints keep their pending deliveries until enabled again.
    pub enabled: bool,
    /// The signing secret.
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_secret_until`.
    pub previous_secret: Option<String>,
    /// Until when the previous secret signs too.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// Since when a delivery gave up; cleared by the next success.
    pub failing_since: Option<DateTime<Utc>>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// The columns of [`Endpoint`], for `concat!` into static SQL.
macro_rules! columns {
    () => {
        "id, owner_id, url, events, all_users, enabled, secret, previous_secret, previous_secret_until, \
         failing_since, created_at, updated_at"
    };
}

/// An endpoint to register, already checked.
pub struct NewEndpoint<'a> {
    /// Who registers it.
    pub owner_id: UserId,
    /// Where deliveries go.
    pub url: &'a str,
    /// Event types it receives.
    pub events: &'a [String],
    /// Every user's events (administrators only).
    pub all_users: bool,
    /// Its signing secret.
    pub secret: &'a str,
}

/// Registers an endpoint.
pub async fn create(db: &PgPool, new: NewEndpoint<'_>) -> sqlx::Result<Endpoint> {
    sqlx::query_as(concat!(
        "INSERT INTO webhook_endpoints (id, owner_id, url, events, all_users, secret)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        columns!()
    ))
    .bind(WebhookId::new())
    .bind(new.owner_id)
    .bind(new.url)
    .bind(new.events)
    .bind(new.all_users)
    .bind(new.secret)
    .fetch_one(db)
    .await
}

/// How many endpoints `owner` has registered.
pub async fn count_of(db: &PgPool, owner: UserId) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE owner_id = $1").bind(owner).fetch_one(db).await
}

/// The endpoint, whoever owns it.
pub async fn find(db: &PgPool, id: WebhookId) -> sqlx::Result<Option<Endpoint>> {
    sqlx::query_as(concat!("SELECT ", columns!(), " FROM webhook_endpoints WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// `owner`'s endpoints, oldest first.
pub async fn list_of(db: &PgPool, owner: UserId) -> sqlx::Result<Vec<Endpoint>> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM webhook_endpoints WHERE owner_id = $1 ORDER BY created_at, id"
    ))
    .bind(owner)
    .fetch_all(db)
    .await
}

/// What an owner may change; `None` keeps it.
#[derive(Default)]
pub struct EndpointChange {
    /// A new URL, already checked.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// Pause or resume.
    pub enabled: Option<bool>,
}

/// Applies `change`; enabling an endpoint announces its waiting deliveries.
pub async fn update(db: &PgPool, id: WebhookId, change: &EndpointChange) -> sqlx::Result<Option<Endpoint>> {
    let endpoint = sqlx::query_as(concat!(
        "UPDATE webhook_endpoints SET url = COALESCE($2, url), events = COALESCE($3, events),
                enabled = COALESCE($4, enabled), updated_at = now()
         WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(change.url.as_deref())
    .bind(change.events.as_deref())
    .bind(change.enabled)
    .fetch_optional(db)
    .await?;
    announce(db).await?;
    Ok(endpoint)
}

/// Removes an endpoint and its deliveries.
pub async fn delete(db: &PgPool, id: WebhookId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1").bind(id).execute(db).await?;
    Ok(())
}

/// Replaces the signing secret; the old one keeps signing (beside the new) for `grace`.
pub async fn rotate_secret(
    db: &PgPool,
    id: WebhookId,
    secret: &str,
    grace: Duration,
) -> sqlx::Result<Option<Endpoint>> {
    sqlx::query_as(concat!(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = now() + $3,
                secret = $2, updated_at = now()
         WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(secret)
    .bind(grace)
    .fetch_optional(db)
    .await
}

/// A delivery as its endpoint's owner sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Delivery {
    /// The delivery (redeliver it by this id).
    pub id: DeliveryId,
    /// The event delivered.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: String,
    /// `pending` (being tried, or waiting for its retry), `delivered` or `failed` (gave up).
    pub state: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// The HTTP status of the last attempt, if the receiver answered.
    pub last_status: Option<i32>,
    /// How long the last attempt took, in milliseconds.
    pub last_latency_ms: Option<i32>,
    /// Why the last attempt failed (status, timeout, refused address), if it did.
    pub last_error: Option<String>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was created (with its event, or by a redelivery).
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The select of [`Delivery`] rows, for `concat!` with a `WHERE` clause.
macro_rules! deliveries {
    () => {
        "SELECT d.id, d.event_id, e.type AS event_type, d.state::text AS state, d.attempts, d.last_status,
                d.last_latency_ms, d.last_error,
                CASE WHEN d.state = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
                d.created_at, d.finished_at
         FROM webhook_deliveries d JOIN events e ON e.id = d.event_id "
    };
}

/// The endpoint's most recent deliveries, newest first.
pub async fn recent_deliveries(db: &PgPool, endpoint: WebhookId, limit: i64) -> sqlx::Result<Vec<Delivery>> {
    sqlx::query_as(concat!(deliveries!(), "WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.seq DESC LIMIT $2"))
        .bind(endpoint)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Sends the event of one of the endpoint's deliveries again, as a new delivery with
/// its own attempts (same event id). `None` when the endpoint has no such delivery.
pub async fn redeliver(db: &PgPool, endpoint: WebhookId, delivery: DeliveryId) -> sqlx::Result<Option<Delivery>> {
    let id: Option<DeliveryId> = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, seq, order_key)
         SELECT endpoint_id, event_id, seq, order_key FROM webhook_deliveries WHERE id = $2 AND endpoint_id = $1
         RETURNING id",
    )
    .bind(endpoint)
    .bind(delivery)
    .fetch_optional(db)
    .await?;
    let Some(id) = id else { return Ok(None) };
    announce(db).await?;
    sqlx::query_as(concat!(deliveries!(), "WHERE d.id = $1")).bind(id).fetch_optional(db).await
}

/// A transaction for delivery bookkeeping, committed without waiting for the disk: a
/// commit lost in a crash only sends a delivery again, which at-least-once allows, and
/// waiting for a flush at each of a delivery's three steps would cap throughput.
async fn bookkeeping(db: &PgPool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = db.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
    Ok(tx)
}

/// Wakes the relays: deliveries may be sendable now.
async fn announce(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(db).await?;
    Ok(())
}

/// Deliveries that may go out now, marked as handed to the queue: due, not held by a
/// sender, not handed out within `repush_after` (one handed out longer ago was lost
/// with Redis and goes again), first of their chain, and at most `per_endpoint` in
/// flight or queued per endpoint, so no endpoint takes every sender. One relay at a time.
/// (The chain test is a per-row `min` on the chain index: as a `NOT EXISTS` the planner
/// may make it an anti-join over all of an endpoint's pending rows, 150x slower.)
pub async fn hand_out(db: &PgPool, repush_after: Duration, per_endpoint: i64) -> sqlx::Result<Vec<DeliveryId>> {
    let mut tx = bookkeeping(db).await?;
    let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('streambox webhook relay'))")
        .fetch_one(&mut *tx)
        .await?;
    if !ours {
        return Ok(Vec::new());
    }
    let ids = sqlx::query_scalar(
        "WITH busy AS (
             SELECT endpoint_id, count(*) AS n FROM webhook_deliveries
             WHERE state = 'pending' AND (lease_until IS NOT NULL OR pushed_at IS NOT NULL)
               AND (lease_until > now() OR pushed_at >= now() - $1)
             GROUP BY endpoint_id
         ), heads AS (
             SELECT h.id, h.seq, e.id AS endpoint_id FROM webhook_endpoints e
             CROSS JOIN LATERAL (
                 SELECT d.id, d.seq FROM webhook_deliveries d
                 WHERE d.endpoint_id = e.id AND d.state = 'pending' AND d.next_attempt_at <= now()
                   AND (d.lease_until IS NULL OR d.lease_until < now())
                   AND (d.pushed_at IS NULL OR d.pushed_at < now() - $1)
                   AND d.seq = (SELECT min(p.seq) FROM webhook_deliveries p
                                   WHERE p.endpoint_id = d.endpoint_id AND p.order_key = d.order_key
                                     AND p.state = 'pending')
                 ORDER BY d.seq LIMIT $2
             ) h
             WHERE e.enabled
         ), ranked AS (
             SELECT h.id, row_number() OVER (PARTITION BY h.endpoint_id ORDER BY h.seq) + COALESCE(b.n, 0) AS slot
             FROM heads h LEFT JOIN busy b USING (endpoint_id)
         )
         UPDATE webhook_deliveries SET pushed_at = now()
         WHERE id IN (SELECT id FROM ranked WHERE slot <= $2) RETURNING id",
    )
    .bind(repush_after)
    .bind(per_endpoint)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids)
}

/// A delivery a sender holds: what to send, where, and the secrets to sign it with.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    /// The delivery.
    pub id: DeliveryId,
    /// Its endpoint.
    pub endpoint_id: WebhookId,
    /// This attempt's number, from 1.
    pub attempts: i32,
    /// When the delivery was created: its retry window counts from here.
    pub created_at: DateTime<Utc>,
    /// Where to POST it.
    pub url: String,
    /// The signing secret.
    pub secret: String,
    /// The previous secret, while it still signs.
    pub previous_secret: Option<String>,
    /// The event's id.
    pub event_id: EventId,
    /// The event's type.
    pub event_type: String,
    /// When the event happened.
    pub event_created_at: DateTime<Utc>,
    /// What it is about.
    pub resource_id: uuid::Uuid,
    /// Its payload.
    pub data: serde_json::Value,
}

impl Claimed {
    /// The body to send.
    pub fn envelope(&self) -> Envelope {
        Envelope {
            id: self.event_id,
            kind: self.event_type.clone(),
            created_at: self.event_created_at,
            resource_id: self.resource_id,
            data: self.data.clone(),
        }
    }
}

/// Takes the delivery for one attempt, held for `lease`: `None` when it is not pending,
/// not due, held by another sender, or waits for an earlier one of its chain.
pub async fn claim(db: &PgPool, id: DeliveryId, lease: Duration) -> sqlx::Result<Option<Claimed>> {
    let mut tx = bookkeeping(db).await?;
    let claimed = sqlx::query_as(
        "WITH claimed AS (
             UPDATE webhook_deliveries d SET lease_until = now() + $2, pushed_at = NULL, attempts = attempts + 1
             WHERE d.id = $1 AND d.state = 'pending' AND d.next_attempt_at <= now()
               AND (d.lease_until IS NULL OR d.lease_until < now())
               AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND e.enabled)
               AND d.seq = (SELECT min(p.seq) FROM webhook_deliveries p
                               WHERE p.endpoint_id = d.endpoint_id AND p.order_key = d.order_key
                                 AND p.state = 'pending')
             RETURNING d.*
         )
         SELECT c.id, c.endpoint_id, c.attempts, c.created_at, e.url, e.secret,
                CASE WHEN e.previous_secret_until > now() THEN e.previous_secret END AS previous_secret,
                ev.id AS event_id, ev.type AS event_type, ev.created_at AS event_created_at, ev.resource_id, ev.data
         FROM claimed c JOIN webhook_endpoints e ON e.id = c.endpoint_id JOIN events ev ON ev.id = c.event_id",
    )
    .bind(id)
    .bind(lease)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// What one attempt came to.
pub struct Outcome<'a> {
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// How long the attempt took.
    pub latency: Duration,
    /// Why it failed; `None` for a 2xx.
    pub error: Option<&'a str>,
}

/// A 2xx: the delivery is done, and its endpoint is no longer failing.
pub async fn delivered(db: &PgPool, claimed: &Claimed, outcome: &Outcome<'_>) -> sqlx::Result<()> {
    let mut tx = bookkeeping(db).await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET state = 'delivered', lease_until = NULL, last_status = $2,
                last_latency_ms = $3, last_error = NULL, finished_at = now()
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(claimed.id)
    .bind(outcome.status.map(i32::from))
    .bind(millis(outcome.latency))
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
        .bind(claimed.endpoint_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&mut *tx).await?;
    tx.commit().await
}

/// A failed attempt: tried again at `retry_at`, or, when that is past the delivery's
/// retry window (`None`), given up — and its endpoint marked failing, which raises a
/// `webhook.failing` event for administrators the first time.
pub async fn attempt_failed(
    db: &PgPool,
    claimed: &Claimed,
    outcome: &Outcome<'_>,
    retry_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    let error = outcome.error.unwrap_or("failed");
    let mut tx = bookkeeping(db).await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET lease_until = NULL, last_status = $2, last_latency_ms = $3, last_error = $4,
                state = CASE WHEN $5::timestamptz IS NULL THEN 'failed'::delivery_state ELSE 'pending' END,
                next_attempt_at = COALESCE($5, next_attempt_at),
                finished_at = CASE WHEN $5::timestamptz IS NULL THEN now() END
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(claimed.id)
    .bind(outcome.status.map(i32::from))
    .bind(millis(outcome.latency))
    .bind(error)
    .bind(retry_at)
    .execute(&mut *tx)
    .await?;
    if retry_at.is_none() {
        let now_failing: Option<(UserId, String, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE webhook_endpoints SET failing_since = now() WHERE id = $1 AND failing_since IS NULL
             RETURNING owner_id, url, failing_since",
        )
        .bind(claimed.endpoint_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((owner_id, url, failing_since)) = now_failing {
            let endpoint = EndpointSnapshot {
                id: claimed.endpoint_id,
                owner_id,
                url,
                failing_since,
                last_error: error.to_owned(),
            };
            let kind = events::event_type("webhook.failing").expect("a listed event type");
            events::record(&mut *tx, kind, claimed.endpoint_id.0, owner_id, &EndpointEventData { endpoint }).await?;
        }
        // The next delivery of its chain may go now.
        sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&mut *tx).await?;
    }
    tx.commit().await
}

fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}
