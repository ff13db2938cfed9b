//! Workflows that span the database, object storage and the queue, written once for
//! every service: admitting uploads, purging videos, operating the job queue.

#![warn(missing_docs)]

mod app;
pub mod captions;
pub mod lifecycle;
pub mod operator;
pub mod quotas;
pub mod segment_keys;
pub mod uploads;
pub mod webhook_targets;
pub mod worker_status;

pub use app::{App, Core};
