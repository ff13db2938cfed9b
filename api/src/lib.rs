//! The API gateway: accounts, sessions, creator profiles, video metadata, and
//! engagement and discovery (likes, comments, history, follows, views, feeds, search).

pub mod live;
mod login_throttle;
pub mod passwords;
mod routes;
mod sessions;
pub mod view_counter;

pub use routes::{routes, serving};
