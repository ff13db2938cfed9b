//! Senders: take a delivery off the queue, claim it in PostgreSQL (so a duplicate is
//! sent once), POST it signed, and record the outcome — delivered on a 2xx within
//! 10 s; otherwise tried again after an exponential backoff with jitter until its
//! retry window closes, then given up and its endpoint marked failing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use streambox_base::config::EventsConfig;
use streambox_base::ids::DeliveryId;
use streambox_core::Core;
use streambox_db::webhooks::{self, Claimed, Outcome};
use streambox_queue::deliveries::DeliveryQueue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::outbound::Client;
use crate::signature;

/// How long a sender holds a delivery: the receiver's 10 s and a margin. A sender that
/// dies loses it after this, and another sends it.
const LEASE: Duration = Duration::from_secs(15);
/// The longest wait between two attempts, however many came before.
const RETRY_MAX: Duration = Duration::from_secs(3600);
const REDIS_RETRY: Duration = Duration::from_secs(1);

pub async fn run(core: Core, deliveries: DeliveryQueue, client: Arc<Client>, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(core.config.events.concurrency));
    let mut sending = JoinSet::new();
    let mut taker = None;
    let mut redis_was_down = false;
    loop {
        while sending.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        if taker.is_none() {
            taker = deliveries.taker().await.ok();
        }
        let next = match taker.as_mut() {
            Some(taker) => tokio::select! {
                next = taker.next(Duration::from_secs(1)) => next,
                () = shutdown.cancelled() => break,
            },
            None => Err(anyhow::anyhow!("no connection to Redis")),
        };
        match next {
            Ok(Some(id)) => {
                redis_was_down = false;
                sending.spawn(send(core.clone(), client.clone(), id, slot));
            }
            Ok(None) => redis_was_down = false,
            Err(e) => {
                if !redis_was_down {
                    tracing::warn!(error = %format!("{e:#}"), "webhook senders cannot reach Redis; retrying");
                }
                redis_was_down = true;
                taker = None;
                tokio::select! {
                    () = tokio::time::sleep(REDIS_RETRY) => {}
                    () = shutdown.cancelled() => break,
                }
            }
        }
    }
    while sending.join_next().await.is_some() {}
}

async fn send(core: Core, client: Arc<Client>, id: DeliveryId, _slot: OwnedSemaphorePermit) {
    let claimed = match webhooks::claim(&core.db, id, LEASE).await {
        Ok(Some(claimed)) => claimed,
        // Sent already, held by another sender, or waiting for an earlier one.
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, delivery_id = %id, "cannot claim a delivery; it is handed out again later");
            return;
        }
    };
    let body = serde_json::to_vec(&claimed.envelope()).expect("JSON values serialize");
    let mut secrets = vec![claimed.secret.as_str()];
    secrets.extend(claimed.previous_secret.as_deref());
    let headers = [
        (signature::HEADER, signature::header_value(Utc::now().timestamp(), &body, &secrets)),
        ("StreamBox-Event-Id", claimed.event_id.to_string()),
        ("StreamBox-Event-Type", claimed.event_type.clone()),
        ("StreamBox-Delivery-Id", claimed.id.to_string()),
        ("StreamBox-Delivery-Attempt", claimed.attempts.to_string()),
    ];
    let answer = client.post(&claimed.url, &headers, body).await;
    let outcome = Outcome { status: answer.status, latency: answer.latency, error: answer.error.as_deref() };
    let retry_at = answer.error.as_ref().and_then(|_| retry_at(&claimed, &core.config.events));
    let counted = match (&answer.error, retry_at) {
        (None, _) => "delivered",
        (Some(_), Some(_)) => "retrying",
        (Some(_), None) => "failed",
    };
    core.metrics.counter("streambox_webhook_deliveries_total", &[("outcome", counted)]).increment(1);
    let recorded = match &answer.error {
        None => {
            tracing::info!(delivery_id = %id, event_type = %claimed.event_type, endpoint_id = %claimed.endpoint_id,
                latency_ms = answer.latency.as_millis() as u64, "webhook delivered");
            webhooks::delivered(&core.db, &claimed, &outcome).await
        }
        Some(error) => {
            tracing::warn!(delivery_id = %id, event_type = %claimed.event_type, endpoint_id = %claimed.endpoint_id,
                attempt = claimed.attempts, %error, ?retry_at, "webhook delivery failed");
            webhooks::attempt_failed(&core.db, &claimed, &outcome, retry_at).await
        }
    };
    if let Err(e) = recorded {
        // The lease runs out and the delivery is sent again: at least once.
        tracing::warn!(error = %e, delivery_id = %id, "cannot record a delivery's outcome");
    }
}

/// When to try again after attempt n: `retry_base * 2^(n-1)`, at most an hour, ±20%;
/// `None` once that is past the retry window counted from the delivery's creation.
fn retry_at(claimed: &Claimed, config: &EventsConfig) -> Option<DateTime<Utc>> {
    let exponent = claimed.attempts.clamp(1, 30) as u32 - 1;
    let delay = config.retry_base.saturating_mul(1 << exponent.min(20)).min(RETRY_MAX);
    let delay = delay.mul_f64(rand::rng().random_range(0.8..1.2));
    let at = Utc::now() + delay;
    let window = chrono::Duration::from_std(config.retry_window).unwrap_or(chrono::Duration::MAX);
    (at <= claimed.created_at + window).then_some(at)
}
