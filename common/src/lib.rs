//! Shared building blocks of every StreamBox service: configuration, errors,
//! the database and its models, object storage, the job queue and authentication.

pub mod auth;
pub mod byte_range;
pub mod comments;
pub mod config;
pub mod container;
pub mod db;
pub mod embedded_s3;
pub mod error;
pub mod error_codes;
pub mod feeds;
pub mod follows;
pub mod health;
pub mod history;
pub mod ids;
pub mod jobs;
pub mod layout;
pub mod lifecycle;
pub mod likes;
pub mod object_response;
pub mod operator;
pub mod queue;
pub mod routes;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod text;
pub mod tokens;
pub mod uploads;
pub mod users;
pub mod videos;
pub mod worker_status;

pub use config::Config;
pub use error::{ApiError, ApiResult};
pub use state::AppState;
