//! The API gateway: accounts, sessions, creator profiles and video metadata.

mod routes;
mod sessions;

pub use routes::routes;
