//! Access tokens (HS256 JWTs) and the extractor that turns a Bearer header into a
//! known, still-existing user.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::error::ApiError;
use crate::ids::UserId;
use crate::state::AppState;
use crate::users::{self, Role};

const ISSUER: &str = "streambox";
const ACCESS_AUDIENCE: &str = "streambox-api";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub role: Role,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

#[derive(Debug, Serialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

impl TokenKeys {
    pub fn new(secret: &Secret, ttl: Duration) -> Self {
        // Only HS256 is accepted: `alg: none` and algorithm confusion fail validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[ACCESS_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            ttl,
        }
    }

    pub fn issue(&self, user: UserId, role: Role) -> anyhow::Result<IssuedToken> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user,
            role,
            iat: now,
            exp: now + self.ttl.as_secs(),
            iss: ISSUER.to_owned(),
            aud: ACCESS_AUDIENCE.to_owned(),
        };
        let access_token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken { access_token, token_type: "Bearer", expires_in: self.ttl.as_secs() })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::unauthorized("the access token is invalid or expired"))
    }
}

/// The caller, authenticated by a valid access token of a user that still exists.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: UserId,
    pub role: Role,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(|| ApiError::unauthorized("an access token is required"))?;
        let claims = state.tokens.verify(token)?;
        // The role is read fresh: a deleted or demoted user loses access at once.
        let user = users::find(&state.db, claims.sub)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the access token is invalid or expired"))?;
        Ok(Self { id: user.id, role: user.role })
    }
}

/// The caller if a token was presented; a bad token is still rejected, never ignored.
impl axum::extract::OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        if parts.headers.contains_key(AUTHORIZATION) {
            <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await.map(Some)
        } else {
            Ok(None)
        }
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str, ttl: u64) -> TokenKeys {
        TokenKeys::new(&Secret::new(secret), Duration::from_secs(ttl))
    }

    #[test]
    fn a_token_verifies_only_with_its_secret() {
        let a = keys("a-secret-that-is-long-enough-000000", 60);
        let b = keys("another-secret-long-enough-1111111", 60);
        let user = UserId::new();
        let token = a.issue(user, Role::Creator).unwrap().access_token;
        assert_eq!(a.verify(&token).unwrap().sub, user);
        assert_eq!(b.verify(&token).unwrap_err().status(), 401);
        assert_eq!(a.verify("garbage").unwrap_err().status(), 401);
    }

    #[test]
    fn unsigned_tokens_are_rejected() {
        let a = keys("a-secret-that-is-long-enough-000000", 60);
        let token = a.issue(UserId::new(), Role::Admin).unwrap().access_token;
        let payload = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let forged = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(a.verify(&forged).unwrap_err().status(), 401);
    }
}
