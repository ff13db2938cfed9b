//! The API gateway: accounts, sessions, creator profiles, video metadata, and
//! engagement and discovery (likes, comments, history, follows, views, feeds, search),
//! and creator analytics from the players' heartbeats.

mod auth_throttle;
mod email_links;
pub mod live;
pub mod mail;
mod oidc;
mod oidc_pending;
pub mod passwords;
pub mod playback_beats;
mod random_tokens;
mod routes;
mod sessions;
pub mod view_counter;

pub use routes::{routes, serving};
