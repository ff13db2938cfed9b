//! Accounts: validated emails and passwords, argon2id hashes, and their SQL.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::ids::UserId;
use crate::text::{TextRule, ValidationError, text_schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, schemars::JsonSchema)]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Creator,
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "creator" => Ok(Role::Creator),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?} (viewer, creator, admin)")),
        }
    }
}

impl Role {
    pub fn can_upload(self) -> bool {
        matches!(self, Role::Creator | Role::Admin)
    }
}

/// An email address, trimmed and lower-cased so that uniqueness is exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            });
        match valid {
            true => Ok(Self(email)),
            false => Err(ValidationError { field: "email", problem: "is not a valid email address".into() }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl schemars::JsonSchema for Email {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Email".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "email", "maxLength": 254 })
    }
}

/// A password that satisfies the length rules; never logged.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: String) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        let fail = |problem: String| Err(ValidationError { field: "password", problem });
        if chars < Self::MIN_CHARS {
            return fail(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if chars > Self::MAX_CHARS {
            return fail(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        Ok(Self(raw))
    }

    /// The rule as JSON Schema, for the API document.
    pub fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "minLength": Self::MIN_CHARS, "maxLength": Self::MAX_CHARS })
    }

    /// argon2id with the library defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
    /// CPU-heavy, so it runs off the async threads.
    pub async fn hash(self) -> anyhow::Result<String> {
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(self.0.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
        })
        .await?
    }
}

/// A hash of a password nobody has: checked against when the email is unknown,
/// so that an unknown email costs as much time as a wrong password.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"decoy password that matches no account")
        .expect("argon2 hashes a constant")
        .to_string()
});

/// Checks `password` against `stored` (or the decoy when there is no account).
pub async fn verify_password(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DECOY_HASH.clone());
        let hash = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
    })
    .await?
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub bio: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub display_name: &'a DisplayName,
    pub role: Role,
}

/// `Ok(None)` when the email is taken.
pub async fn insert(db: &PgPool, new: NewUser<'_>) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "INSERT INTO users (id, email, password_hash, display_name, role) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (email) DO NOTHING
         RETURNING id, email, password_hash, display_name, bio, role, created_at",
    )
    .bind(UserId::new())
    .bind(new.email.as_str())
    .bind(new.password_hash)
    .bind(new.display_name.as_str())
    .bind(new.role)
    .fetch_optional(db)
    .await
}

pub async fn find_by_email(db: &PgPool, email: &Email) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "SELECT id, email, password_hash, display_name, bio, role, created_at FROM users WHERE email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(db)
    .await
}

/// A display name: 1..=100 characters after trimming, no control characters.
pub struct DisplayName(String);

impl DisplayName {
    pub const RULE: TextRule = TextRule { field: "display_name", min_chars: 1, max_chars: 100, multiline: false };

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::RULE.check(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_schema!(DisplayName);

/// A creator's bio: at most 2000 characters; line breaks allowed.
pub struct Bio(String);

impl Bio {
    pub const RULE: TextRule = TextRule { field: "bio", min_chars: 0, max_chars: 2000, multiline: true };

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::RULE.check(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_schema!(Bio);

pub async fn update_profile(
    db: &PgPool,
    id: UserId,
    display_name: Option<&DisplayName>,
    bio: Option<&Bio>,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "UPDATE users SET display_name = COALESCE($2, display_name), bio = COALESCE($3, bio), updated_at = now()
         WHERE id = $1 RETURNING id, email, password_hash, display_name, bio, role, created_at",
    )
    .bind(id)
    .bind(display_name.map(DisplayName::as_str))
    .bind(bio.map(Bio::as_str))
    .fetch_optional(db)
    .await
}

pub async fn find(db: &PgPool, id: UserId) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "SELECT id, email, password_hash, display_name, bio, role, created_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The user, unless `session` — the refresh token family an access token was issued
/// to — has been revoked (signed out, or a refresh token replayed).
pub async fn find_in_session(db: &PgPool, id: UserId, session: uuid::Uuid) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "SELECT id, email, password_hash, display_name, bio, role, created_at FROM users
         WHERE id = $1
           AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $2 AND revoked_at IS NOT NULL)",
    )
    .bind(id)
    .bind(session)
    .fetch_optional(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ann@Example.ORG ").unwrap().as_str(), "ann@example.org");
        for bad in ["", "ann", "@example.org", "ann@", "ann@example", "a b@example.org", "ann@.org", "a@b@c.org"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn password_length_rules() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("x".repeat(129)).is_err());
        assert!(Password::parse("long enough pass".into()).is_ok());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hash = Password::parse("correct horse battery".into()).unwrap().hash().await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse battery".into(), Some(hash.clone())).await.unwrap());
        assert!(!verify_password("wrong horse battery".into(), Some(hash)).await.unwrap());
        assert!(!verify_password("anything at all".into(), None).await.unwrap());
    }
}
