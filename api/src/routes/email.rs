//! Mailed links: following one (verify the address, choose a new password) and asking
//! for one (the verification link again, a password reset). Asking answers 202
//! whatever the address, so it never tells whether the address has an account.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use streambox_db::email_links::{self, Purpose, Refusal};
use streambox_db::sessions;
use streambox_db::users::{self, Email, Password};
use streambox_http::client_address::ClientAddress;
use streambox_http::error::ApiJson;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

use crate::mail::Outbox;
use crate::{auth_throttle, email_links as links, passwords, random_tokens};

/// The token of a mailed link, as the web app's page read it from the link.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct LinkToken {
    token: String,
}

/// `unused → used` for a verification link; the address is verified.
#[tracing::instrument(skip_all)]
pub async fn verify(State(state): State<AppState>, ApiJson(request): ApiJson<LinkToken>) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin().await?;
    let link = email_links::consume(&mut tx, &random_tokens::digest(&request.token), Purpose::VerifyEmail)
        .await?
        .map_err(refused)?;
    users::mark_email_verified(&mut *tx, link.user_id, &link.email).await?;
    tx.commit().await?;
    tracing::info!(user = %link.user_id, "email address verified");
    Ok(StatusCode::NO_CONTENT)
}

/// An address to mail a link to.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct MailRequest {
    #[schemars(with = "Email")]
    email: String,
}

/// Mails the verification link again, if the address has an account not yet verified.
#[tracing::instrument(skip_all)]
pub async fn resend_verification(
    State(state): State<AppState>,
    Extension(outbox): Extension<Outbox>,
    ClientAddress(address): ClientAddress,
    ApiJson(request): ApiJson<MailRequest>,
) -> ApiResult<StatusCode> {
    let email = Email::parse(&request.email)?;
    auth_throttle::mail_request(&state, address).await?;
    if let Some(user) = users::find_by_email(&state.db, &email).await?.filter(|u| !u.email_verified()) {
        links::send_verification(&state, &outbox, &user).await?;
    }
    Ok(StatusCode::ACCEPTED)
}

/// Mails a password-reset link, if the address has an account.
#[tracing::instrument(skip_all)]
pub async fn request_reset(
    State(state): State<AppState>,
    Extension(outbox): Extension<Outbox>,
    ClientAddress(address): ClientAddress,
    ApiJson(request): ApiJson<MailRequest>,
) -> ApiResult<StatusCode> {
    let email = Email::parse(&request.email)?;
    auth_throttle::mail_request(&state, address).await?;
    if let Some(user) = users::find_by_email(&state.db, &email).await? {
        links::send_reset(&state, &outbox, &user).await?;
    }
    Ok(StatusCode::ACCEPTED)
}

/// A reset link's token and the new password.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct PasswordReset {
    token: String,
    #[schemars(schema_with = "Password::schema")]
    password: String,
}

/// `unused → used` for a reset link: the new password replaces the old, every session
/// of the account is revoked (its refresh tokens and the access tokens issued with
/// them), and the other reset links mailed to it stop working. Following the link also
/// shows the address receives mail, so it counts as verified.
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<PasswordReset>,
) -> ApiResult<StatusCode> {
    let password = Password::parse(request.password)?;
    let token_hash = random_tokens::digest(&request.token);
    // Checked before the costly hash, and again (atomically) when it is used.
    email_links::find(&state.db, &token_hash, Purpose::ResetPassword)
        .await?
        .ok_or(Refusal::Unknown)
        .and_then(|link| link.check())
        .map_err(refused)?;
    let password_hash = passwords::hash(password).await.map_err(passwords::api_error)?;
    let mut tx = state.db.begin().await?;
    let link = email_links::consume(&mut tx, &token_hash, Purpose::ResetPassword).await?.map_err(refused)?;
    users::set_password_hash(&mut *tx, link.user_id, &password_hash).await?;
    users::mark_email_verified(&mut *tx, link.user_id, &link.email).await?;
    email_links::retire_all(&mut *tx, link.user_id, Purpose::ResetPassword).await?;
    sessions::revoke_user(&mut *tx, link.user_id).await?;
    tx.commit().await?;
    tracing::info!(user = %link.user_id, "password reset; every session revoked");
    Ok(StatusCode::NO_CONTENT)
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Unknown => ApiError::bad_request(
            codes::EMAIL_LINK_INVALID,
            "this link is not one we mailed; check that it was copied whole",
        ),
        Refusal::Used => {
            ApiError::new(StatusCode::GONE, codes::EMAIL_LINK_USED, "this link was used already; each link works once")
        }
        Refusal::Expired => {
            ApiError::new(StatusCode::GONE, codes::EMAIL_LINK_EXPIRED, "this link has expired; ask for a new one")
        }
    }
}
