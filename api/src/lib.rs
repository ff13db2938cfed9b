//! The API gateway: accounts and video metadata.

mod routes;

pub use routes::router;
