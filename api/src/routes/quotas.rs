//! Quotas: what a user may upload in a day, keep and have queued, and what they use;
//! their own for every user, any user's for admins, who may also override them.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use streambox_base::config::Quotas;
use streambox_base::ids::UserId;
use streambox_base::role::Role;
use streambox_core::quotas as limits;
use streambox_db::quotas::{self, Overrides, Usage};
use streambox_db::users;
use streambox_http::auth::{AdminUser, AuthUser};
use streambox_http::error::{ApiJson, ApiPath};
use streambox_http::{ApiError, ApiResult, AppState};

/// One user's quotas and usage.
#[derive(Serialize, schemars::JsonSchema)]
pub struct QuotaReport {
    /// The limits that apply now; null where unlimited.
    limits: Limits,
    /// An admin's overrides of the defaults.
    overrides: OverridesInForce,
    /// What the user uses now.
    usage: Usage,
}

/// Limits in force, null where there is none.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Limits {
    /// Bytes that may be uploaded in any 24 hours (deleted videos' included).
    upload_bytes_per_day: Option<u64>,
    /// Bytes of sources that may be kept (videos and uploads in progress).
    stored_bytes: Option<u64>,
    /// Videos that may be uploading, waiting or transcoding at once.
    queued_videos: Option<u32>,
}

/// An admin's overrides as they stand: null where the default applies, -1 unlimited.
#[derive(Serialize, schemars::JsonSchema)]
pub struct OverridesInForce {
    /// Bytes per 24 hours.
    upload_bytes_per_day: Option<i64>,
    /// Bytes of sources kept.
    stored_bytes: Option<i64>,
    /// Videos uploading, waiting or transcoding.
    queued_videos: Option<i32>,
}

impl From<Overrides> for OverridesInForce {
    fn from(o: Overrides) -> Self {
        Self {
            upload_bytes_per_day: o.upload_bytes_per_day,
            stored_bytes: o.stored_bytes,
            queued_videos: o.queued_videos,
        }
    }
}

impl From<Quotas> for Limits {
    fn from(q: Quotas) -> Self {
        Self {
            upload_bytes_per_day: q.upload_bytes_per_day,
            stored_bytes: q.stored_bytes,
            queued_videos: q.queued_videos,
        }
    }
}

/// GET /api/v1/me/quota
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn mine(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<QuotaReport>> {
    Ok(Json(report(&state, user.id, user.role).await?))
}

/// GET /api/v1/admin/users/{id}/quota
#[tracing::instrument(skip_all, fields(%id))]
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<QuotaReport>> {
    let role = role_of(&state, id).await?;
    Ok(Json(report(&state, id, role).await?))
}

/// PUT /api/v1/admin/users/{id}/quota: replaces the user's overrides.
#[tracing::instrument(skip_all, fields(%id))]
pub async fn set(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(overrides): ApiJson<Overrides>,
) -> ApiResult<Json<QuotaReport>> {
    let role = role_of(&state, id).await?;
    let below = |n: Option<i64>| n.is_some_and(|n| n < -1);
    for (field, value) in [
        ("upload_bytes_per_day", overrides.upload_bytes_per_day),
        ("stored_bytes", overrides.stored_bytes),
        ("queued_videos", overrides.queued_videos.map(i64::from)),
    ] {
        if below(value) {
            return Err(ApiError::invalid_field(
                field,
                "must be a limit (0 or more), -1 for unlimited, or null for the default",
            ));
        }
    }
    quotas::set_overrides(&state.db, id, &overrides).await?;
    tracing::info!(admin = %admin.0.id, user = %id, ?overrides, "quota overrides set");
    Ok(Json(report(&state, id, role).await?))
}

async fn role_of(state: &AppState, id: UserId) -> ApiResult<Role> {
    Ok(users::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("user"))?.role)
}

async fn report(state: &AppState, user: UserId, role: Role) -> ApiResult<QuotaReport> {
    let overrides = quotas::overrides(&state.db, user).await?;
    Ok(QuotaReport {
        limits: overrides.apply(limits::defaults(state, role)).into(),
        overrides: overrides.into(),
        usage: quotas::usage(&state.db, user).await?,
    })
}
