//! Registration, login, token refresh and logout.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use streambox_base::ids::UserId;
use streambox_base::role::Role;
use streambox_db::users::{self, DisplayName, Email, NewUser, Password};
use streambox_http::auth::{REFRESH_COOKIE, cookie};
use streambox_http::client_address::ClientAddress;
use streambox_http::error::ApiJson;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

use crate::mail::Outbox;
use crate::{auth_throttle, email_links, passwords, sessions};

#[derive(Deserialize, schemars::JsonSchema)]
pub struct RegisterRequest {
    #[schemars(with = "Email")]
    email: String,
    #[schemars(schema_with = "Password::schema")]
    password: String,
    #[schemars(with = "DisplayName")]
    display_name: String,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct RegisteredUser {
    id: UserId,
    email: String,
    display_name: String,
    role: Role,
    /// Always `false` at first: a link to verify it is mailed to the address.
    email_verified: bool,
}

/// Creates the account and mails it a link that verifies its address (in the
/// background: a mail server that is down or slow never fails or slows registration).
#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<AppState>,
    Extension(outbox): Extension<Outbox>,
    ClientAddress(address): ClientAddress,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<RegisteredUser>)> {
    auth_throttle::registration(&state, address).await?;
    let email = Email::parse(&request.email)?;
    let display_name = DisplayName::parse(&request.display_name)?;
    let password_hash = passwords::hash(Password::parse(request.password)?).await.map_err(passwords::api_error)?;
    let new = NewUser {
        email: &email,
        password_hash: &password_hash,
        display_name: &display_name,
        role: state.config.default_role,
        email_verified: false,
    };
    let user = users::insert(&state.db, new)
        .await?
        .ok_or_else(|| ApiError::conflict(codes::EMAIL_TAKEN, "an account with this email already exists"))?;
    tracing::info!(user = %user.id, "account registered");
    // The account exists whatever happens to its mail; another link can be asked for.
    if let Err(e) = email_links::send_verification(&state, &outbox, &user).await {
        tracing::warn!(user = %user.id, error = ?e, "verification link not issued");
    }
    Ok((
        StatusCode::CREATED,
        Json(RegisteredUser {
            id: user.id,
            email_verified: user.email_verified(),
            email: user.email,
            display_name: user.display_name,
            role: user.role,
        }),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
}

/// Unknown email and wrong password answer alike, in the same time; failures slow the
/// next attempts down (see [`auth_throttle`]).
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let attempt = auth_throttle::Attempt::new(&state, &request.email, address);
    attempt.check(&state).await?;
    let user = match Email::parse(&request.email) {
        Ok(email) => users::find_by_email(&state.db, &email).await?,
        Err(_) => None,
    };
    let matches = passwords::verify(request.password, user.as_ref().map(|u| u.password_hash.clone()))
        .await
        .map_err(passwords::api_error)?;
    let Some(user) = user.filter(|_| matches) else {
        attempt.failed(&state).await?;
        return Err(ApiError::unauthorized("the email or password is incorrect"));
    };
    attempt.succeeded(&state).await?;
    sessions::start(&state, &user).await
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// The refresh token from a JSON body `{refresh_token}` or, for browsers, the cookie.
fn presented_refresh(headers: &HeaderMap, body: &Bytes) -> ApiResult<Option<String>> {
    if !body.is_empty() {
        let request: RefreshRequest = serde_json::from_slice(body)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, codes::INVALID_BODY, e.to_string()))?;
        return Ok(Some(request.refresh_token));
    }
    Ok(cookie(headers, REFRESH_COOKIE).map(str::to_owned))
}

#[tracing::instrument(skip_all)]
pub async fn refresh(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let presented =
        presented_refresh(&headers, &body)?.ok_or_else(|| ApiError::unauthorized("a refresh token is required"))?;
    sessions::rotate(&state, &presented).await
}

#[tracing::instrument(skip_all)]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let presented = presented_refresh(&headers, &body)?;
    sessions::end(&state, presented.as_deref()).await
}
