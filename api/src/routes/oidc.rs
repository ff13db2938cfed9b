//! Single sign-on through an OpenID provider: `start` sends the browser to the provider
//! with a fresh state, nonce and PKCE challenge; `callback` takes the sign-in back
//! (once, in the browser that started it), verifies the ID token and signs the person
//! in: to the account linked to their (issuer, subject); else to the account of their
//! verified email, linking it; else to a new account without a password. The callback
//! always ends in a redirect into the web app: the return path when signed in,
//! `/#/signin?error=CODE` when not, so the person sees what happened.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Json, Redirect, Response};
use serde::{Deserialize, Serialize};
use streambox_db::identities;
use streambox_db::sessions as stored_sessions;
use streambox_db::users::{self, DisplayName, Email, NO_PASSWORD, NewUser, User};
use streambox_http::error::ApiQuery;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

use crate::oidc::{OidcError, Person, Provider};
use crate::{oidc_pending, sessions};

/// The configured provider, or `None` when single sign-on is off.
#[derive(Clone)]
pub struct SingleSignOn(pub Option<Arc<Provider>>);

impl SingleSignOn {
    fn provider(&self) -> ApiResult<&Provider> {
        self.0.as_deref().ok_or_else(|| ApiError::not_found("single sign-on"))
    }
}

/// Where a signed-in person lands when the sign-in named no return path.
const HOME: &str = "/#/";
/// The longest return path kept.
const MAX_RETURN_PATH: usize = 512;

#[derive(Serialize, schemars::JsonSchema)]
pub struct SsoInfo {
    /// Whether people may sign in through an OpenID provider.
    enabled: bool,
    /// The provider's name for the button ("Google"); absent when off.
    name: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn info(Extension(sso): Extension<SingleSignOn>) -> Json<SsoInfo> {
    Json(SsoInfo { enabled: sso.0.is_some(), name: sso.0.as_ref().map(|p| p.name().to_owned()) })
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct StartQuery {
    /// Where in the web app to land once signed in: a path on this site (`/#/studio`);
    /// anything else lands on `/#/`.
    return_to: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn start(
    State(state): State<AppState>,
    Extension(sso): Extension<SingleSignOn>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StartQuery>,
) -> ApiResult<Response> {
    let provider = sso.provider()?;
    let authorization = provider.authorize().await.map_err(provider_error)?;
    let browser = oidc_pending::browser_of(&headers);
    let return_to = query.return_to.filter(|path| local_path(path)).unwrap_or_else(|| HOME.to_owned());
    oidc_pending::remember(
        &state,
        &authorization.state,
        &browser,
        authorization.nonce,
        authorization.pkce_verifier,
        return_to,
    )
    .await?;
    let cookie = oidc_pending::browser_cookie(&state, &browser);
    let location = HeaderValue::try_from(authorization.url).map_err(ApiError::internal)?;
    Ok((StatusCode::FOUND, AppendHeaders([(SET_COOKIE, cookie), (LOCATION, location)])).into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct CallbackQuery {
    /// The authorization code, when the provider signed the person in.
    code: Option<String>,
    /// The `state` the sign-in was started with.
    state: Option<String>,
    /// The provider's error (`access_denied`, say), when it did not.
    error: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn callback(
    State(state): State<AppState>,
    Extension(sso): Extension<SingleSignOn>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<CallbackQuery>,
) -> ApiResult<Response> {
    let provider = sso.provider()?;
    match sign_in(&state, provider, &headers, query).await {
        Ok(response) => Ok(response),
        Err(e) => {
            tracing::info!(code = e.code(), "single sign-on refused");
            Ok(Redirect::to(&format!("/#/signin?error={}", e.code())).into_response())
        }
    }
}

async fn sign_in(
    state: &AppState,
    provider: &Provider,
    headers: &HeaderMap,
    query: CallbackQuery,
) -> ApiResult<Response> {
    let invalid_state =
        || ApiError::bad_request(codes::INVALID_OIDC_STATE, "this sign-in is unknown, expired or from another browser");
    let sign_in_state = query.state.ok_or_else(invalid_state)?;
    let pending = oidc_pending::take(state, &sign_in_state, headers).await?.ok_or_else(invalid_state)?;
    if let Some(error) = query.error {
        tracing::info!(%error, "the OpenID provider refused the sign-in");
        return Err(ApiError::bad_request(codes::OIDC_DENIED, "the provider refused the sign-in"));
    }
    let code = query.code.ok_or_else(|| ApiError::bad_request(codes::OIDC_DENIED, "the provider sent no code"))?;
    let person = provider.exchange(code, pending.pkce_verifier, pending.nonce).await.map_err(provider_error)?;
    let user = account_for(state, provider, person).await?;
    sessions::start_and_redirect(state, &user, &pending.return_to).await
}

/// The account `person` signs in to: the linked one, else the one of their verified
/// email (linked now), else a new one. An email the provider has not verified never
/// reaches an account, existing or new.
async fn account_for(state: &AppState, provider: &Provider, person: Person) -> ApiResult<User> {
    let issuer = provider.issuer();
    if let Some(user) = identities::find_user(&state.db, issuer, &person.subject).await? {
        return Ok(user);
    }
    let email =
        person.email.as_deref().filter(|_| person.email_verified).and_then(|e| Email::parse(e).ok()).ok_or_else(
            || ApiError::bad_request(codes::OIDC_EMAIL_UNVERIFIED, "the provider has not verified your email address"),
        )?;
    if let Some(user) = users::find_by_email(&state.db, &email).await? {
        if link_by_email(state, &user, issuer, &person.subject).await? {
            tracing::info!(user = %user.id, "account linked to its OpenID identity by verified email");
            return Ok(user);
        }
    } else {
        let display_name = display_name(&person, &email);
        let new = NewUser {
            email: &email,
            password_hash: NO_PASSWORD,
            display_name: &display_name,
            role: state.config.default_role,
            email_verified: true,
        };
        if let Some(user) = identities::insert_user(&state.db, new, issuer, &person.subject).await? {
            tracing::info!(user = %user.id, "account created through single sign-on");
            return Ok(user);
        }
    }
    // A sign-in of the same person in another tab got there first.
    identities::find_user(&state.db, issuer, &person.subject)
        .await?
        .ok_or_else(|| ApiError::unavailable("single sign-on"))
}

/// Links `subject` to `user`, the account of their verified email. An account whose
/// address was never verified here was possibly registered by someone else, who set its
/// password: the provider has shown the address is this person's, so the address is
/// verified now, and that password and every session of the account are done with.
async fn link_by_email(state: &AppState, user: &User, issuer: &str, subject: &str) -> ApiResult<bool> {
    let mut tx = state.db.begin().await?;
    if !identities::link(&mut *tx, user, issuer, subject).await? {
        return Ok(false);
    }
    if !user.email_verified() {
        users::mark_email_verified(&mut *tx, user.id, &user.email).await?;
        users::set_password_hash(&mut *tx, user.id, NO_PASSWORD).await?;
        stored_sessions::revoke_user(&mut *tx, user.id).await?;
        tracing::info!(user = %user.id, "unverified account claimed through single sign-on: password and sessions revoked");
    }
    tx.commit().await?;
    Ok(true)
}

/// The profile's name, else the email's local part: what others see until the person
/// changes it.
fn display_name(person: &Person, email: &Email) -> DisplayName {
    let local = email.as_str().split('@').next().unwrap_or_default();
    [person.name.as_deref().unwrap_or_default(), local, "New user"]
        .into_iter()
        .find_map(|candidate| DisplayName::parse(&candidate.chars().take(100).collect::<String>()).ok())
        .expect("the last candidate is a valid name")
}

/// A path on this site: one leading `/` (not `//` or `/\`, which browsers take for
/// another host), printable ASCII only (it becomes a `Location` header).
fn local_path(path: &str) -> bool {
    path.len() <= MAX_RETURN_PATH
        && path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.bytes().all(|b| b.is_ascii_graphic())
}

fn provider_error(e: OidcError) -> ApiError {
    match e {
        OidcError::Unavailable(why) => {
            tracing::error!(error = %why, "single sign-on: the OpenID provider is unusable");
            ApiError::unavailable("the sign-in provider")
        }
        OidcError::Refused(why) => {
            tracing::info!(error = %why, "single sign-on: the provider refused the code");
            ApiError::bad_request(codes::OIDC_DENIED, "the provider refused the sign-in")
        }
        OidcError::Nonce(why) => {
            tracing::warn!(error = %why, "single sign-on: ID token with another nonce");
            ApiError::bad_request(codes::INVALID_OIDC_NONCE, "the sign-in's token was not issued for this sign-in")
        }
        OidcError::Token(why) => {
            tracing::warn!(error = %why, "single sign-on: invalid ID token");
            ApiError::bad_request(codes::INVALID_OIDC_TOKEN, "the provider's token could not be verified")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_site_are_return_paths() {
        for good in ["/", "/#/", "/#/studio", "/#/watch/abc?t=3"] {
            assert!(local_path(good), "{good}");
        }
        for bad in
            ["", "//evil.example", "/\\evil.example", "https://evil.example/", "#/x", "/\n", "/a b", "/é", "evil"]
        {
            assert!(!local_path(bad), "{bad:?}");
        }
    }
}
