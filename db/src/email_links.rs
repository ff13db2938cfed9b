//! Links mailed to an account's address: one to verify the address, one to reset the
//! password. Each carries a random token of which only a SHA-256 hash is stored; a
//! link works until it expires, and once: `unused → used` by [`consume`].

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use streambox_base::ids::UserId;

/// What a link is for; stored as its snake-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Purpose {
    /// Following it shows the account's owner receives mail at its address.
    VerifyEmail,
    /// Following it lets the owner choose a new password (and signs out every session).
    ResetPassword,
}

/// A stored link, found by its token's hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EmailLink {
    /// The account it was mailed for.
    pub user_id: UserId,
    /// The address it was mailed to.
    pub email: String,
    /// After this it is refused.
    pub expires_at: DateTime<Utc>,
    /// When it was followed, if it was; a used link is refused.
    pub used_at: Option<DateTime<Utc>>,
}

/// Why a link is not (any more) good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No link of this purpose has this token.
    Unknown,
    /// It was followed already.
    Used,
    /// It is past its expiry.
    Expired,
}

impl EmailLink {
    /// `Ok` while the link may be followed, else why not.
    pub fn check(&self) -> Result<(), Refusal> {
        match (self.used_at, self.expires_at <= Utc::now()) {
            (Some(_), _) => Err(Refusal::Used),
            (None, true) => Err(Refusal::Expired),
            (None, false) => Ok(()),
        }
    }
}

/// How long a link is kept past its expiry (so following it says "expired", not
/// "unknown"); then [`forget_old`] deletes it.
pub const KEPT_PAST_EXPIRY_DAYS: i32 = 7;

/// Deletes `user`'s links that expired over [`KEPT_PAST_EXPIRY_DAYS`] ago, so an
/// account's links do not pile up.
pub async fn forget_old<'e>(db: impl PgExecutor<'e>, user: UserId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM email_links WHERE user_id = $1 AND expires_at < now() - make_interval(days => $2)")
        .bind(user)
        .bind(KEPT_PAST_EXPIRY_DAYS)
        .execute(db)
        .await?;
    Ok(())
}

/// Records a link for `user`, mailed to `email`, by its token's hash.
pub async fn insert<'e>(
    db: impl PgExecutor<'e>,
    token_hash: &[u8],
    user: UserId,
    purpose: Purpose,
    email: &str,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO email_links (token_hash, user_id, purpose, email, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user)
    .bind(purpose)
    .bind(email)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The link of `purpose` whose token hashes to `token_hash`, used or not.
pub async fn find<'e>(db: impl PgExecutor<'e>, token_hash: &[u8], purpose: Purpose) -> sqlx::Result<Option<EmailLink>> {
    sqlx::query_as("SELECT user_id, email, expires_at, used_at FROM email_links WHERE token_hash = $1 AND purpose = $2")
        .bind(token_hash)
        .bind(purpose)
        .fetch_optional(db)
        .await
}

/// `unused → used`: marks the link used if it is unused and unexpired, answering it;
/// otherwise answers why it cannot be followed. Of two requests racing with one link,
/// exactly one gets it.
pub async fn consume(
    db: &mut sqlx::PgConnection,
    token_hash: &[u8],
    purpose: Purpose,
) -> sqlx::Result<Result<EmailLink, Refusal>> {
    let consumed: Option<EmailLink> = sqlx::query_as(
        "UPDATE email_links SET used_at = now()
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id, email, expires_at, used_at",
    )
    .bind(token_hash)
    .bind(purpose)
    .fetch_optional(&mut *db)
    .await?;
    if let Some(link) = consumed {
        return Ok(Ok(link));
    }
    Ok(Err(match find(&mut *db, token_hash, purpose).await? {
        Some(link) => link.check().err().unwrap_or(Refusal::Used),
        None => Refusal::Unknown,
    }))
}

/// Marks every unused link of `purpose` of `user` used: after a reset, the other reset
/// links mailed before it stop working.
pub async fn retire_all<'e>(db: impl PgExecutor<'e>, user: UserId, purpose: Purpose) -> sqlx::Result<()> {
    sqlx::query("UPDATE email_links SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
        .bind(user)
        .bind(purpose)
        .execute(db)
        .await?;
    Ok(())
}
