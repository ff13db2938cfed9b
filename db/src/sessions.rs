//! Refresh tokens, stored only as SHA-256 hashes of what the client holds, grouped in
//! families (one per sign-in) that are revoked together.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use streambox_base::ids::UserId;
use uuid::Uuid;

/// A stored refresh token.
#[derive(Debug, sqlx::FromRow)]
pub struct RefreshToken {
    /// The row's id.
    pub id: Uuid,
    /// The sign-in this token descends from; revoking it ends every token of the family.
    pub family_id: Uuid,
    /// Whose session it is.
    pub user_id: UserId,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged for its successor, if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// When its family was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The token whose hash is `hash`, locked for the rest of the transaction.
pub async fn lock_by_hash<'e>(db: impl PgExecutor<'e>, hash: &[u8]) -> sqlx::Result<Option<RefreshToken>> {
    sqlx::query_as(
        "SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens
         WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(hash)
    .fetch_optional(db)
    .await
}

/// The state of the token of `family` whose hash is `hash`, locked: when it was used,
/// and whether it is still live (neither revoked nor expired).
pub async fn lock_in_family<'e>(
    db: impl PgExecutor<'e>,
    hash: &[u8],
    family: Uuid,
) -> sqlx::Result<Option<(Option<DateTime<Utc>>, bool)>> {
    sqlx::query_as(
        "SELECT used_at, revoked_at IS NULL AND expires_at > now() FROM refresh_tokens
         WHERE token_hash = $1 AND family_id = $2 FOR UPDATE",
    )
    .bind(hash)
    .bind(family)
    .fetch_optional(db)
    .await
}

/// Records that the token `id` was exchanged for its successor.
pub async fn mark_used<'e>(db: impl PgExecutor<'e>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE id = $1").bind(id).execute(db).await?;
    Ok(())
}

/// Revokes every live token of `family`.
pub async fn revoke_family<'e>(db: impl PgExecutor<'e>, family: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL")
        .bind(family)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes the family of the token whose hash is `hash`; nothing if there is none.
pub async fn revoke_family_of<'e>(db: impl PgExecutor<'e>, hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE revoked_at IS NULL AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
    )
    .bind(hash)
    .execute(db)
    .await?;
    Ok(())
}

/// Stores a new token of `family` by its hash.
pub async fn insert<'e>(
    db: impl PgExecutor<'e>,
    hash: &[u8],
    user: UserId,
    family: Uuid,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(family)
    .bind(user)
    .bind(hash)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Revokes every live token of every family of `user`: all their sessions end, and the
/// access tokens issued to them stop working.
pub async fn revoke_user<'e>(db: impl PgExecutor<'e>, user: UserId) -> sqlx::Result<()> {
    sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}
