//! The `streambox` binary's library: how services are put together into one
//! process (`all`) or run alone, so tests start exactly what production runs.

pub mod accounts;
mod edge;
mod frontend;
mod hardening;
pub mod jobs_cli;
mod listener;
pub mod memory;
pub mod openapi;
mod rate_limit;
mod request_id;
pub mod server;
