//! The signed-in user's own account and creator profile.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streambox_base::ids::UserId;
use streambox_base::role::Role;
use streambox_db::users::{self, Bio, DisplayName, User};
use streambox_http::auth::AuthUser;
use streambox_http::error::ApiJson;
use streambox_http::{ApiError, ApiResult, AppState};

#[derive(Serialize, schemars::JsonSchema)]
pub struct Me {
    id: UserId,
    email: String,
    display_name: String,
    bio: String,
    role: Role,
    /// Whether the address is verified (a mailed link was followed).
    email_verified: bool,
    /// Whether this server lets only accounts with a verified address upload
    /// (`STREAMBOX_REQUIRE_VERIFIED_EMAIL`).
    email_verification_required: bool,
    created_at: DateTime<Utc>,
}

impl Me {
    fn of(user: User, state: &AppState) -> Self {
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            bio: user.bio,
            role: user.role,
            email_verified: user.email_verified_at.is_some(),
            email_verification_required: state.config.mail.require_verified_email,
            created_at: user.created_at,
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn get(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Me>> {
    let user =
        users::find(&state.db, user.id).await?.ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
    Ok(Json(Me::of(user, &state)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    #[schemars(with = "Option<DisplayName>")]
    display_name: Option<String>,
    #[schemars(with = "Option<Bio>")]
    bio: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(change): ApiJson<ProfileChange>,
) -> ApiResult<Json<Me>> {
    let display_name = change.display_name.as_deref().map(DisplayName::parse).transpose()?;
    let bio = change.bio.as_deref().map(Bio::parse).transpose()?;
    let user = users::update_profile(&state.db, user.id, display_name.as_ref(), bio.as_ref())
        .await?
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
    Ok(Json(Me::of(user, &state)))
}
