//! What every StreamBox crate stands on: configuration, typed ids, the rule for text
//! people type, account roles, logging set-up and metrics.

#![warn(missing_docs)]

pub mod config;
pub mod ids;
pub mod language;
pub mod metrics;
pub mod role;
pub mod telemetry;
pub mod text;

pub use config::Config;
