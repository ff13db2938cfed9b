//! Logging: human-readable lines, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber for the process; call once at start. A later call (as
/// in tests) leaves the first subscriber in place.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,aws=warn"));
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}
