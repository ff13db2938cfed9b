mod auth;
mod videos;

use axum::Router;
use axum::routing::{get, post};
use streambox_common::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(auth::register))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/videos", get(videos::list))
        .route("/api/v1/videos/{id}", get(videos::get))
}
