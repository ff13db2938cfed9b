//! Sessions: a short-lived access token plus a refresh token that rotates on every
//! use. Refresh tokens are stored only as SHA-256 hashes; presenting one that was
//! already used revokes its whole family (the token was stolen, or replayed) — except
//! within a few seconds of its use, when it is a second tab or a retried request
//! racing the first: that gets the same successor (successors are derived from the
//! token they replace, so they can be handed out again without being stored).
//! Access tokens name their family; once it is revoked (sign-out, replay) they stop
//! working too.

use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Json, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use streambox_base::ids::UserId;
use streambox_db::sessions;
use streambox_db::users::{self, User};
use streambox_http::auth::{ACCESS_COOKIE, REFRESH_COOKIE};
use streambox_http::{ApiError, ApiResult, AppState};
use uuid::Uuid;

use crate::random_tokens::{self, digest};

/// The cookie that tells the web app a session exists and when its access token expires.
pub const SESSION_MARKER_COOKIE: &str = "sb_session";

/// Path the refresh cookie is sent to: nowhere but the session endpoints.
const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";

#[derive(Serialize, schemars::JsonSchema)]
pub struct SessionTokens {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

/// How long after a refresh token's use presenting it again still gets its successor.
const RACE_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(20);
/// Rotations followed from a raced token to the live one (tabs refreshing in a burst).
const RACE_STEPS: usize = 4;

/// Starts a new token family for `user`.
pub async fn start(state: &AppState, user: &User) -> ApiResult<Response> {
    let family = Uuid::new_v4();
    let refresh = insert_refresh(&state.db, user.id, family, expiry(state)).await?;
    respond(state, user, family, refresh)
}

/// Starts a new token family for `user` in a browser sent back from single sign-on:
/// the same cookies as [`start`], with a redirect (303) to `location` instead of the
/// tokens in a body.
pub async fn start_and_redirect(state: &AppState, user: &User, location: &str) -> ApiResult<Response> {
    let family = Uuid::new_v4();
    let refresh = insert_refresh(&state.db, user.id, family, expiry(state)).await?;
    let (cookies, _) = issue(state, user, family, refresh)?;
    Ok((AppendHeaders(cookies.map(|c| (SET_COOKIE, c))), Redirect::to(location)).into_response())
}

/// Exchanges a refresh token for a new pair. Every failure is the same 401.
pub async fn rotate(state: &AppState, presented: &str) -> ApiResult<Response> {
    let rejected = || ApiError::unauthorized("the refresh token is invalid or expired");
    let hash = digest(presented);
    let mut tx = state.db.begin().await?;
    let Some(token) = sessions::lock_by_hash(&mut *tx, &hash).await? else { return Err(rejected()) };
    if token.revoked_at.is_some() || token.expires_at <= Utc::now() {
        return Err(rejected());
    }
    if let Some(used_at) = token.used_at {
        if used_at > Utc::now() - RACE_GRACE
            && let Some(live) = live_successor(&mut tx, state, presented, token.family_id).await?
        {
            tx.commit().await?;
            let user = users::find(&state.db, token.user_id).await?.ok_or_else(rejected)?;
            return respond(state, &user, token.family_id, live);
        }
        sessions::revoke_family(&mut *tx, token.family_id).await?;
        tx.commit().await?;
        tracing::warn!(user = %token.user_id, family = %token.family_id, "refresh token reused; session family revoked");
        return Err(rejected());
    }
    sessions::mark_used(&mut *tx, token.id).await?;
    let user = users::find(&state.db, token.user_id).await?.ok_or_else(rejected)?;
    let successor = state.tokens.successor_token(presented);
    sessions::insert(&mut *tx, &digest(&successor), token.user_id, token.family_id, expiry(state)).await?;
    tx.commit().await?;
    respond(state, &user, token.family_id, successor)
}

/// The unused token the rotations of `raced` lead to, if each of them happened within
/// the grace period; `None` means the presented token is a replay.
async fn live_successor(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    raced: &str,
    family: Uuid,
) -> sqlx::Result<Option<String>> {
    let mut candidate = state.tokens.successor_token(raced);
    for _ in 0..RACE_STEPS {
        match sessions::lock_in_family(&mut *tx, &digest(&candidate), family).await? {
            Some((None, true)) => return Ok(Some(candidate)),
            Some((Some(used_at), true)) if used_at > Utc::now() - RACE_GRACE => {
                candidate = state.tokens.successor_token(&candidate);
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Revokes the family of `presented` (if it is one of ours) and clears the cookies.
/// The cookies are cleared whatever happens: when the database cannot revoke the family,
/// the answer is the error (the session may still work elsewhere), still with the cookies
/// cleared, so this browser is signed out either way.
pub async fn end(state: &AppState, presented: Option<&str>) -> ApiResult<Response> {
    let revoked = match presented {
        Some(presented) => sessions::revoke_family_of(&state.db, &digest(presented)).await.map(|_| ()),
        None => Ok(()),
    };
    let clear = [
        cookie(state, ACCESS_COOKIE, "", "/", 0),
        cookie(state, REFRESH_COOKIE, "", REFRESH_COOKIE_PATH, 0),
        marker(state, "", 0),
    ];
    let answer = match revoked {
        Ok(()) => axum::http::StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    Ok((AppendHeaders(clear.map(|c| (SET_COOKIE, c))), answer).into_response())
}

fn respond(state: &AppState, user: &User, family: Uuid, refresh_token: String) -> ApiResult<Response> {
    let (cookies, body) = issue(state, user, family, refresh_token)?;
    Ok((AppendHeaders(cookies.map(|c| (SET_COOKIE, c))), Json(body)).into_response())
}

/// An access token for `user` in `family`, with the session cookies carrying it and `refresh_token`.
fn issue(
    state: &AppState,
    user: &User,
    family: Uuid,
    refresh_token: String,
) -> ApiResult<([HeaderValue; 3], SessionTokens)> {
    let access = state.tokens.issue(user.id, user.role, family)?;
    let refresh_ttl = state.config.refresh_token_ttl.as_secs();
    let access_expiry = Utc::now().timestamp().saturating_add_unsigned(access.expires_in);
    let cookies = [
        cookie(state, ACCESS_COOKIE, &access.access_token, "/", access.expires_in),
        cookie(state, REFRESH_COOKIE, &refresh_token, REFRESH_COOKIE_PATH, refresh_ttl),
        marker(state, &access_expiry.to_string(), refresh_ttl),
    ];
    let body = SessionTokens {
        access_token: access.access_token,
        token_type: access.token_type,
        expires_in: access.expires_in,
        refresh_token,
    };
    Ok((cookies, body))
}

fn cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: u64) -> HeaderValue {
    let secure = if state.config.cookie_secure { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&cookie).expect("cookie values are URL-safe base64 and JWTs")
}

/// The one session cookie scripts may read: no secret, only when the access token
/// expires (seconds since the epoch), so the web app knows whether it is signed in and
/// refreshes before a request would be refused, never guessing with a 401.
fn marker(state: &AppState, access_expiry: &str, max_age: u64) -> HeaderValue {
    let secure = if state.config.cookie_secure { "; Secure" } else { "" };
    let cookie = format!("{SESSION_MARKER_COOKIE}={access_expiry}; Path=/; Max-Age={max_age}; SameSite=Lax{secure}");
    HeaderValue::from_str(&cookie).expect("the marker is digits")
}

fn expiry(state: &AppState) -> DateTime<Utc> {
    Utc::now() + state.config.refresh_token_ttl
}

async fn insert_refresh(db: &PgPool, user: UserId, family: Uuid, expires_at: DateTime<Utc>) -> ApiResult<String> {
    let token = random_tokens::new();
    sessions::insert(db, &digest(&token), user, family, expires_at).await?;
    Ok(token)
}
