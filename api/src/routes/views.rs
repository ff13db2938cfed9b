//! POST /api/v1/videos/{id}/views: a player reports that playback started.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use streambox_base::ids::VideoId;
use streambox_http::auth::AuthUser;
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

/// The client's address: the connection's peer, or (behind a trusted gateway) the last
/// address of X-Forwarded-For — the one the gateway added; earlier ones are whatever the
/// client claimed.
pub struct ClientAddress(Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config
            .trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok())
            .flatten();
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(Self(forwarded.or(peer)))
    }
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
    let who = match viewer {
        Some(user) => Viewer::User(user.id),
        None => {
            let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
            Viewer::Anonymous { address, user_agent: user_agent.chars().take(512).collect() }
        }
    };
    let counted = view_counter::count(&state, id, &who).await.map_err(|e| {
        tracing::warn!(error = %format!("{e:#}"), "could not count a view");
        ApiError::unavailable("view counting")
    })?;
    Ok((StatusCode::ACCEPTED, Json(ViewRecorded { counted })))
}
