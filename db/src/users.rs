//! Accounts: validated emails, passwords and names, and their SQL.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use streambox_base::ids::UserId;
use streambox_base::role::Role;
use streambox_base::text::{TextRule, ValidationError};
use streambox_base::text_schema;

/// An email address, trimmed and lower-cased so that uniqueness is exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The normalised address, or a [`ValidationError`] naming `email` when it is not
    /// one: at most 254 bytes, no spaces or control characters, `local@domain.tld`.
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

    /// The normalised address, for storing or looking it up.
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
    /// The fewest characters a password may have.
    pub const MIN_CHARS: usize = 10;
    /// The most characters a password may have.
    pub const MAX_CHARS: usize = 128;

    /// The password as given (not trimmed), or a [`ValidationError`] naming `password`
    /// when its length in characters is outside [`Self::MIN_CHARS`]..=[`Self::MAX_CHARS`].
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

    /// The password itself, for hashing it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An account as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    /// Names the account everywhere else (videos, follows, tokens).
    pub id: UserId,
    /// The sign-in address, normalised as [`Email`] makes it; unique.
    pub email: String,
    /// The password's hash as a PHC string; never the password itself.
    pub password_hash: String,
    /// The name others see on the user's videos, comments and profile.
    pub display_name: String,
    /// The creator's profile text; empty unless they wrote one.
    pub bio: String,
    /// What the account may do.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When its owner followed a verification link mailed to `email`; `None` until then.
    pub email_verified_at: Option<DateTime<Utc>>,
}

impl User {
    /// Whether the owner has shown they receive mail at the account's address.
    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

/// The stored password hash of an account that has no password (made through single
/// sign-on): not a PHC string, so no password verifies against it.
pub const NO_PASSWORD: &str = "!";

/// An account to create, its fields already validated and its password hashed.
pub struct NewUser<'a> {
    /// The sign-in address; [`insert`] refuses one that is taken.
    pub email: &'a Email,
    /// The password's hash as a PHC string.
    pub password_hash: &'a str,
    /// The name others will see.
    pub display_name: &'a DisplayName,
    /// What the account may do.
    pub role: Role,
    /// Whether the address counts as verified from the start (an operator's account).
    pub email_verified: bool,
}

/// `Ok(None)` when the email is taken.
pub async fn insert<'e>(db: impl PgExecutor<'e>, new: NewUser<'_>) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "INSERT INTO users (id, email, password_hash, display_name, role, email_verified_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END)
         ON CONFLICT (email) DO NOTHING
         RETURNING id, email, password_hash, display_name, bio, role, created_at, email_verified_at",
    )
    .bind(UserId::new())
    .bind(new.email.as_str())
    .bind(new.password_hash)
    .bind(new.display_name.as_str())
    .bind(new.role)
    .bind(new.email_verified)
    .fetch_optional(db)
    .await
}

/// The account signed in with `email`, if there is one.
pub async fn find_by_email(db: &PgPool, email: &Email) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "SELECT id, email, password_hash, display_name, bio, role, created_at, email_verified_at FROM users WHERE email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(db)
    .await
}

/// A display name: 1..=100 characters after trimming, no control characters.
pub struct DisplayName(String);

impl DisplayName {
    /// The bounds a display name is checked against.
    pub const RULE: TextRule = TextRule { field: "display_name", min_chars: 1, max_chars: 100, multiline: false };

    /// The trimmed name, or a [`ValidationError`] naming `display_name` when it breaks [`Self::RULE`].
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::RULE.check(raw).map(Self)
    }

    /// The checked name, for storing it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_schema!(DisplayName);

/// A creator's bio: at most 2000 characters; line breaks allowed.
pub struct Bio(String);

impl Bio {
    /// The bounds a bio is checked against.
    pub const RULE: TextRule = TextRule { field: "bio", min_chars: 0, max_chars: 2000, multiline: true };

    /// The trimmed bio, or a [`ValidationError`] naming `bio` when it breaks [`Self::RULE`].
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::RULE.check(raw).map(Self)
    }

    /// The checked bio, for storing it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_schema!(Bio);

/// Changes the display name and/or bio, leaving a `None` one as it is; returns the
/// account, `None` when it is gone.
pub async fn update_profile(
    db: &PgPool,
    id: UserId,
    display_name: Option<&DisplayName>,
    bio: Option<&Bio>,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "UPDATE users SET display_name = COALESCE($2, display_name), bio = COALESCE($3, bio), updated_at = now()
         WHERE id = $1 RETURNING id, email, password_hash, display_name, bio, role, created_at, email_verified_at",
    )
    .bind(id)
    .bind(display_name.map(DisplayName::as_str))
    .bind(bio.map(Bio::as_str))
    .fetch_optional(db)
    .await
}

/// The account with this id, if there is one.
pub async fn find(db: &PgPool, id: UserId) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "SELECT id, email, password_hash, display_name, bio, role, created_at, email_verified_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The user, unless `session` — the refresh token family an access token was issued
/// to — has been revoked (signed out, or a refresh token replayed).
pub async fn find_in_session(db: &PgPool, id: UserId, session: uuid::Uuid) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "SELECT id, email, password_hash, display_name, bio, role, created_at, email_verified_at FROM users
         WHERE id = $1
           AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $2 AND revoked_at IS NOT NULL)",
    )
    .bind(id)
    .bind(session)
    .fetch_optional(db)
    .await
}

/// Marks `id`'s address verified, if it is still `email` (the address the link went to).
pub async fn mark_email_verified<'e>(db: impl PgExecutor<'e>, id: UserId, email: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE users SET email_verified_at = now(), updated_at = now()
         WHERE id = $1 AND email = $2 AND email_verified_at IS NULL",
    )
    .bind(id)
    .bind(email)
    .execute(db)
    .await?;
    Ok(())
}

/// Replaces `id`'s password hash.
pub async fn set_password_hash<'e>(db: impl PgExecutor<'e>, id: UserId, password_hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(db)
        .await?;
    Ok(())
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
}
