//! The outbox relay: hands deliveries that may go now to the Redis queue — woken by
//! the `record_event` trigger's notice, and at least every second for retries that
//! fall due and deliveries Redis lost — and prunes events past their retention.

use std::time::Duration;

use sqlx::postgres::PgListener;
use streambox_core::Core;
use streambox_db::{events, webhooks};
use streambox_queue::deliveries::DeliveryQueue;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The longest a due delivery waits for the relay without a notice.
const TICK: Duration = Duration::from_secs(1);
/// Deliveries one endpoint may have queued or being sent at once, so a slow or hung
/// receiver holds at most this many senders and never delays another endpoint.
const PER_ENDPOINT: i64 = 4;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub async fn run(core: Core, deliveries: DeliveryQueue, shutdown: CancellationToken) {
    // A delivery handed out this long ago and never taken was lost with Redis.
    let repush_after = core.config.transcode.reconcile_every;
    let mut listener: Option<PgListener> = None;
    let mut next_prune = Instant::now();
    loop {
        if listener.is_none() {
            listener = listen(&core).await;
        }
        hand_out(&core, &deliveries, repush_after).await;
        if Instant::now() >= next_prune {
            match events::prune(&core.db, core.config.events.retention).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "pruned events past their retention"),
                Err(e) => tracing::warn!(error = %e, "could not prune old events"),
            }
            next_prune = Instant::now() + PRUNE_EVERY;
        }
        let notice = async {
            match listener.as_mut() {
                Some(l) => l.recv().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            alive = notice => if !alive { listener = None },
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

async fn listen(core: &Core) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(&core.db).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::debug!(error = %e, "cannot listen for new deliveries; polling");
            return None;
        }
    };
    listener.listen(webhooks::CHANNEL).await.ok()?;
    Some(listener)
}

async fn hand_out(core: &Core, deliveries: &DeliveryQueue, repush_after: Duration) {
    loop {
        let ids = match webhooks::hand_out(&core.db, repush_after, PER_ENDPOINT).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read deliveries to hand out");
                return;
            }
        };
        if ids.is_empty() {
            return;
        }
        // Deliveries not pushed now are handed out again after `repush_after`.
        if let Err(e) = deliveries.push(&ids).await {
            tracing::warn!(error = %format!("{e:#}"), count = ids.len(), "cannot queue deliveries");
            return;
        }
    }
}
