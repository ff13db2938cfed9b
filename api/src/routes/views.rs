//! POST /api/v1/videos/{id}/views: a player reports that playback started.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use streambox_base::ids::VideoId;
use streambox_http::auth::AuthUser;
use streambox_http::client_address::ClientAddress;
use streambox_http::error::ApiPath;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

use super::video_access::viewable;
use crate::view_counter::{self, Viewer};

#[derive(Serialize, schemars::JsonSchema)]
pub struct ViewRecorded {
    /// False when this viewer was already counted for the video in the last 30 minutes.
    counted: bool,
}

pub async fn record(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(id): ApiPath<VideoId>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<ViewRecorded>)> {
    let video = viewable(&state, id, viewer).await?;
    if !video.is_playable() {
        return Err(ApiError::conflict(codes::NOT_READY, "the video is not ready to play yet"));
    }
    let who = Viewer::of(viewer, address, &headers);
    let counted = view_counter::count(&state, id, &who).await.map_err(|e| {
        tracing::warn!(error = %format!("{e:#}"), "could not count a view");
        ApiError::unavailable("view counting")
    })?;
    Ok((StatusCode::ACCEPTED, Json(ViewRecorded { counted })))
}
