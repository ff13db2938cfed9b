//! Events out: the relay that hands committed deliveries to the Redis queue, and the
//! senders that POST them, signed, to webhook endpoints — at least once, in order per
//! video, with retries — plus the pruning of old events. Any process may run it; they
//! share the work through the queue and PostgreSQL.

mod outbound;
mod relay;
mod sender;
pub mod signature;

use std::sync::Arc;

use streambox_core::Core;
use tokio_util::sync::CancellationToken;

/// Relays and sends deliveries until `shutdown`; a delivery being sent then is finished.
pub async fn run(core: Core, shutdown: CancellationToken) -> anyhow::Result<()> {
    let deliveries = core.queue.deliveries();
    let client = Arc::new(outbound::Client::new(core.config.events.allow_private_targets)?);
    let relay = tokio::spawn(relay::run(core.clone(), deliveries.clone(), shutdown.clone()));
    sender::run(core, deliveries, client, shutdown).await;
    relay.await?;
    Ok(())
}
