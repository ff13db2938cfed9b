//! Registration and login.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use streambox_common::auth::IssuedToken;
use streambox_common::error::ApiJson;
use streambox_common::ids::UserId;
use streambox_common::users::{self, Email, NewUser, Password, Role};
use streambox_common::{ApiError, ApiResult, AppState};

#[derive(Deserialize)]
pub struct RegisterRequest {
    email: String,
    password: String,
    display_name: String,
}

#[derive(Serialize)]
pub struct RegisteredUser {
    id: UserId,
    email: String,
    display_name: String,
    role: Role,
}

#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<RegisteredUser>)> {
    let email = Email::parse(&request.email)?;
    let display_name = request.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 100 || display_name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field("display_name", "must be 1 to 100 characters without control characters"));
    }
    let password_hash = Password::parse(request.password)?.hash().await?;
    let user = users::insert(
        &state.db,
        NewUser { email: &email, password_hash: &password_hash, display_name, role: Role::Creator },
    )
    .await?
    .ok_or_else(|| ApiError::conflict("email_taken", "an account with this email already exists"))?;
    tracing::info!(user = %user.id, "account registered");
    Ok((
        StatusCode::CREATED,
        Json(RegisteredUser { id: user.id, email: user.email, display_name: user.display_name, role: user.role }),
    ))
}

#[derive(Deserialize)]
pub struct LoginRequest {
    email: String,
    password: String,
}

/// Unknown email and wrong password answer alike, in the same time.
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Json<IssuedToken>> {
    let rejected = || ApiError::unauthorized("the email or password is incorrect");
    let user = match Email::parse(&request.email) {
        Ok(email) => users::find_by_email(&state.db, &email).await?,
        Err(_) => None,
    };
    let matches = users::verify_password(request.password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    let user = user.filter(|_| matches).ok_or_else(rejected)?;
    Ok(Json(state.tokens.issue(user.id, user.role)?))
}
