//! Sign-ins sent to the OpenID provider and not back yet: `state` → (nonce, PKCE
//! verifier, return path, the browser that started it), kept in Redis (any replica may
//! get the callback) for [`PENDING_TTL`] and taken at most once. The browser is known
//! by the `sb_oidc` cookie: only the hash of its value is stored, so a callback carried
//! to another browser finds no sign-in of its own.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use streambox_http::auth::cookie;
use streambox_http::{ApiError, ApiResult, AppState};

use crate::random_tokens;

/// The cookie naming the browser a sign-in was started in.
pub const BROWSER_COOKIE: &str = "sb_oidc";
/// How long a person has at the provider before the sign-in is forgotten.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// The longest a call to Redis may take before the sign-in answers 503.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest `state` or browser cookie accepted; this server's are 43 characters.
const MAX_TOKEN: usize = 128;

/// What a callback needs of the sign-in it ends.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier of the authorization request.
    pub pkce_verifier: String,
    /// Where in the web app the person goes once signed in (a relative path).
    pub return_to: String,
    /// SHA-256 of the browser cookie, hex.
    browser: String,
}

/// The browser cookie's value: the one this browser has, or a new one (two tabs
/// signing in at once keep working).
pub fn browser_of(headers: &HeaderMap) -> String {
    match cookie(headers, BROWSER_COOKIE).filter(|v| well_formed(v)) {
        Some(value) => value.to_owned(),
        None => random_tokens::new(),
    }
}

/// The `Set-Cookie` for the browser cookie: only the sign-in routes see it, for as long
/// as a sign-in may be pending; a top-level navigation back from the provider carries it.
pub fn browser_cookie(state: &AppState, browser: &str) -> HeaderValue {
    let secure = if state.config.cookie_secure { "; Secure" } else { "" };
    let cookie = format!(
        "{BROWSER_COOKIE}={browser}; Path=/api/v1/auth/oidc; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        PENDING_TTL.as_secs()
    );
    HeaderValue::from_str(&cookie).expect("the browser cookie is URL-safe base64")
}

/// Remembers a sign-in started by `browser` under `sign_in_state`.
pub async fn remember(
    state: &AppState,
    sign_in_state: &str,
    browser: &str,
    nonce: String,
    pkce_verifier: String,
    return_to: String,
) -> ApiResult<()> {
    let pending = Pending { nonce, pkce_verifier, return_to, browser: digest(browser) };
    let value = serde_json::to_string(&pending).map_err(ApiError::internal)?;
    let mut redis = state.queue.redis();
    let mut set = redis::cmd("SET");
    set.arg(key(state, sign_in_state)).arg(value).arg("EX").arg(PENDING_TTL.as_secs());
    bounded(set.query_async::<()>(&mut redis)).await
}

/// Takes the sign-in named `sign_in_state` if this browser started it; `None` when it is
/// unknown, expired, already taken, or another browser's. Taken either way: a state
/// presented once never works again.
pub async fn take(state: &AppState, sign_in_state: &str, headers: &HeaderMap) -> ApiResult<Option<Pending>> {
    if !well_formed(sign_in_state) {
        return Ok(None);
    }
    let mut redis = state.queue.redis();
    let taken: Option<String> =
        bounded(redis::cmd("GETDEL").arg(key(state, sign_in_state)).query_async(&mut redis)).await?;
    let Some(pending) = taken.and_then(|v| serde_json::from_str::<Pending>(&v).ok()) else { return Ok(None) };
    let browser = cookie(headers, BROWSER_COOKIE).map(digest);
    Ok((browser.as_deref() == Some(pending.browser.as_str())).then_some(pending))
}

fn key(state: &AppState, sign_in_state: &str) -> String {
    format!("{}:oidc:{sign_in_state}", state.config.queue_name)
}

fn well_formed(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn digest(value: &str) -> String {
    random_tokens::digest(value).iter().map(|b| format!("{b:02x}")).collect()
}

async fn bounded<T>(call: impl Future<Output = redis::RedisResult<T>>) -> ApiResult<T> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(result) => result.map_err(unavailable),
        Err(_) => Err(unavailable("timed out")),
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "single sign-on: Redis did not answer");
    ApiError::unavailable("single sign-on")
}
