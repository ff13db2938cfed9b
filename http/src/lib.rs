//! The HTTP kit every service's routes use: the error type and its codes, extractors
//! and access tokens, the route table behind the API document, object responses with
//! byte ranges, and the health routes.

#![warn(missing_docs)]

pub mod auth;
pub mod byte_range;
pub mod client_address;
pub mod error;
pub mod error_codes;
pub mod health;
pub mod metrics;
pub mod object_response;
pub mod routes;
mod state;
pub mod tokens;

pub use error::{ApiError, ApiResult};
pub use state::AppState;
