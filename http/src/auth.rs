//! The extractors that turn a Bearer header or session cookie into a known user
//! (checked with [`crate::tokens`]), and the session cookies' names.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::AppState;
use crate::error::ApiError;
use streambox_base::ids::UserId;
use streambox_base::role::Role;
use streambox_db::users::{self};
use uuid::Uuid;

/// Session cookies for the browser: httpOnly, so scripts never see the tokens.
pub const ACCESS_COOKIE: &str = "sb_access";
/// The refresh token's session cookie; the API scopes it to its auth routes.
pub const REFRESH_COOKIE: &str = "sb_refresh";

/// The caller, authenticated by a valid access token of a user that still exists.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    /// The signed-in user.
    pub id: UserId,
    /// Their role as stored now, not as it was when the token was issued.
    pub role: Role,
    /// Whether their email address is verified, as stored now.
    pub email_verified: bool,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(<Session as FromRequestParts<AppState>>::from_request_parts(parts, state).await?.user)
    }
}

/// The caller and the session their access token belongs to, for a response that lasts
/// (a stream of updates): it must end when the token expires or the session is signed out.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    /// The signed-in user.
    pub user: AuthUser,
    /// The session (refresh token family) of the token.
    pub id: Uuid,
    /// When the access token expires, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl Session {
    /// The user's role now, or `None` once the session is signed out or the user gone.
    pub async fn current_role(&self, state: &AppState) -> sqlx::Result<Option<Role>> {
        Ok(users::find_in_session(&state.db, self.user.id, self.id).await?.map(|u| u.role))
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token =
            presented_token(&parts.headers).ok_or_else(|| ApiError::unauthorized("an access token is required"))?;
        let claims = state.tokens.verify(token)?;
        // The role is read fresh: a deleted or demoted user, or a session signed out,
        // loses access at once.
        let user = users::find_in_session(&state.db, claims.sub, claims.sid)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the access token is invalid or expired"))?;
        Ok(Self {
            user: AuthUser { id: user.id, role: user.role, email_verified: user.email_verified() },
            id: claims.sid,
            expires_at: claims.exp,
        })
    }
}

/// The caller if a token was presented; a bad token is still rejected, never ignored.
impl axum::extract::OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        if parts.headers.contains_key(AUTHORIZATION) || presented_token(&parts.headers).is_some() {
            <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await.map(Some)
        } else {
            Ok(None)
        }
    }
}

impl AuthUser {
    /// Whether the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Owners manage their own resources; admins manage everyone's.
    pub fn may_manage(&self, owner: UserId) -> bool {
        self.id == owner || self.is_admin()
    }
}

/// An authenticated administrator (operator endpoints).
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = <AuthUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        if user.is_admin() { Ok(Self(user)) } else { Err(ApiError::forbidden("this needs an administrator")) }
    }
}

/// The access token from `Authorization: Bearer` or, for browsers, the session cookie.
pub fn presented_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    match headers.get(AUTHORIZATION) {
        Some(value) => {
            let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
        }
        None => cookie(headers, ACCESS_COOKIE),
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}
