//! Tokens (HS256 JWTs): access tokens for the API and per-video playback tokens for
//! the streamer, each with its own audience so neither can stand in for the other.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use streambox_base::config::Secret;
use streambox_base::ids::{UserId, VideoId};
use streambox_base::role::Role;

const ISSUER: &str = "streambox";
const ACCESS_AUDIENCE: &str = "streambox-api";
const PLAYBACK_AUDIENCE: &str = "streambox-playback";

/// What an access token says, as [`TokenKeys::verify`] answers it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user the token was issued to.
    pub sub: UserId,
    /// The session (refresh token family) the token was issued to: signing out, or a
    /// replayed refresh token, revokes it with the session.
    pub sid: Uuid,
    /// The user's role when the token was issued; the `AuthUser` extractor reads the
    /// current one instead.
    pub role: Role,
    /// When it was issued, in seconds since the Unix epoch.
    pub iat: u64,
    /// When it expires, in seconds since the Unix epoch; verification allows 5 s of clock skew.
    pub exp: u64,
    /// The issuer: always `streambox`.
    pub iss: String,
    /// The audience: always `streambox-api`, which no playback token has.
    pub aud: String,
}

/// A playback token opens exactly one video until it expires, or until the video's
/// visibility changes (its playback generation moves on).
#[derive(Debug, Serialize, Deserialize)]
struct PlaybackClaims {
    sub: VideoId,
    #[serde(rename = "gen")]
    generation: i32,
    iat: u64,
    exp: u64,
    iss: String,
    aud: String,
}

/// The signing secret in every form tokens need (HS256 signing and verifying, the
/// refresh-token derivation), and how long access tokens last.
pub struct TokenKeys {
    /// Keys derivations that must be repeatable (a refresh token's successor).
    mac_key: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    playback_validation: Validation,
    ttl: Duration,
}

/// A newly signed access token, with what a client needs to use it.
#[derive(Debug, Serialize)]
pub struct IssuedToken {
    /// The signed JWT, for `Authorization: Bearer` or the access cookie.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires: the access-token lifetime the keys were made with.
    pub expires_in: u64,
}

impl TokenKeys {
    /// Keys from the signing `secret`; access tokens issued with them last `ttl`. Only
    /// HS256 tokens with StreamBox's issuer and the right audience verify.
    pub fn new(secret: &Secret, ttl: Duration) -> Self {
        // Only HS256 is accepted: `alg: none` and algorithm confusion fail validation.
        let validation_for = |audience: &str| {
            let mut validation = Validation::new(Algorithm::HS256);
            validation.leeway = 5;
            validation.set_issuer(&[ISSUER]);
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
            validation
        };
        Self {
            mac_key: secret.expose().as_bytes().to_vec(),
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation: validation_for(ACCESS_AUDIENCE),
            playback_validation: validation_for(PLAYBACK_AUDIENCE),
            ttl,
        }
    }

    /// Signs an access token for `user` with `role` in `session` (its refresh token
    /// family); it errors only if signing fails.
    pub fn issue(&self, user: UserId, role: Role, session: Uuid) -> anyhow::Result<IssuedToken> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user,
            sid: session,
            role,
            iat: now,
            exp: now + self.ttl.as_secs(),
            iss: ISSUER.to_owned(),
            aud: ACCESS_AUDIENCE.to_owned(),
        };
        let access_token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken { access_token, token_type: "Bearer", expires_in: self.ttl.as_secs() })
    }

    /// The claims of `token` if it is an unexpired access token signed with this secret;
    /// otherwise 401 `unauthorized`. Whether its user and session still exist is the
    /// caller's check (the `AuthUser` extractor makes it).
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::unauthorized("the access token is invalid or expired"))
    }

    /// The refresh token that follows `presented` in its family: derived from it (an
    /// HMAC under the signing secret), so a second refresh racing the first can be
    /// answered with the same successor instead of looking like a replay.
    pub fn successor_token(&self, presented: &str) -> String {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.mac_key).expect("HMAC takes keys of any size");
        mac.update(b"streambox refresh successor\0");
        mac.update(presented.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Signs a playback token that opens `video` for `ttl`, while the video's playback
    /// `generation` stays this one; it errors only if signing fails.
    pub fn issue_playback(&self, video: VideoId, generation: i32, ttl: Duration) -> anyhow::Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = PlaybackClaims {
            sub: video,
            generation,
            iat: now,
            exp: now + ttl.as_secs(),
            iss: ISSUER.to_owned(),
            aud: PLAYBACK_AUDIENCE.to_owned(),
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// Whether `token` is a valid, unexpired playback token for exactly `video` in its
    /// current playback `generation`.
    pub fn verify_playback(&self, token: &str, video: VideoId, generation: i32) -> bool {
        jsonwebtoken::decode::<PlaybackClaims>(token, &self.decoding, &self.playback_validation)
            .is_ok_and(|data| data.claims.sub == video && data.claims.generation == generation)
    }
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
        let token = a.issue(user, Role::Creator, Uuid::new_v4()).unwrap().access_token;
        assert_eq!(a.verify(&token).unwrap().sub, user);
        assert_eq!(b.verify(&token).unwrap_err().status(), 401);
        assert_eq!(a.verify("garbage").unwrap_err().status(), 401);
    }

    /// `iat` and `exp` of a token, read from its payload.
    fn lifetime(token: &str) -> (u64, u64) {
        let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap())
    }

    #[test]
    fn tokens_expire_their_ttl_after_they_are_issued() {
        let a = keys("a-secret-that-is-long-enough-000000", 900);
        let (iat, exp) = lifetime(&a.issue(UserId::new(), Role::Creator, Uuid::new_v4()).unwrap().access_token);
        assert_eq!(exp - iat, 900, "an access token lives its TTL");
        let (iat, exp) = lifetime(&a.issue_playback(VideoId::new(), 1, Duration::from_secs(60)).unwrap());
        assert_eq!(exp - iat, 60, "a playback token lives the TTL it is issued for");
    }

    #[test]
    fn a_refresh_successor_is_the_same_for_the_same_token_and_unguessable_otherwise() {
        let a = keys("a-secret-that-is-long-enough-000000", 60);
        let b = keys("another-secret-long-enough-1111111", 60);
        assert_eq!(a.successor_token("first"), a.successor_token("first"), "racing refreshes agree");
        assert_ne!(a.successor_token("first"), a.successor_token("second"), "each token its own successor");
        assert_ne!(a.successor_token("first"), b.successor_token("first"), "derived under the secret");
        assert!(a.successor_token("first").len() >= 43, "256 bits");
    }

    #[test]
    fn unsigned_tokens_are_rejected() {
        let a = keys("a-secret-that-is-long-enough-000000", 60);
        let token = a.issue(UserId::new(), Role::Admin, Uuid::new_v4()).unwrap().access_token;
        let payload = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let forged = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(a.verify(&forged).unwrap_err().status(), 401);
    }

    #[test]
    fn playback_tokens_open_one_video_and_are_not_access_tokens() {
        let keys = keys("a-secret-that-is-long-enough-000000", 60);
        let (a, b) = (VideoId::new(), VideoId::new());
        let token = keys.issue_playback(a, 3, Duration::from_secs(60)).unwrap();
        assert!(keys.verify_playback(&token, a, 3));
        assert!(!keys.verify_playback(&token, b, 3));
        assert!(!keys.verify_playback(&token, a, 4), "a token of an earlier generation is revoked");
        assert!(keys.verify(&token).is_err(), "a playback token is not an access token");
        let access = keys.issue(UserId::new(), Role::Admin, Uuid::new_v4()).unwrap().access_token;
        assert!(!keys.verify_playback(&access, a, 0), "an access token is not a playback token");
    }
}
