//! Who an account is at an OpenID provider: `(issuer, subject)` pairs, each naming one
//! account for good. A pair is added when a person first signs in through the provider
//! (to a new account, or to the account of their verified email), and never moved.

use sqlx::{PgExecutor, PgPool};

use crate::users::{self, NewUser, User};

/// The account linked to `subject` at `issuer`, if any.
pub async fn find_user(db: &PgPool, issuer: &str, subject: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, User>(
        "SELECT u.id, u.email, u.password_hash, u.display_name, u.bio, u.role, u.created_at, u.email_verified_at
           FROM user_identities i JOIN users u ON u.id = i.user_id
          WHERE i.issuer = $1 AND i.subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(db)
    .await
}

/// Links `subject` at `issuer` to `user`; `false` when the pair is already linked (to
/// this account or, after a race, another: the caller looks again).
pub async fn link<'e>(db: impl PgExecutor<'e>, user: &User, issuer: &str, subject: &str) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO user_identities (user_id, issuer, subject) VALUES ($1, $2, $3)
         ON CONFLICT (issuer, subject) DO NOTHING",
    )
    .bind(user.id)
    .bind(issuer)
    .bind(subject)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Creates an account linked to `subject` at `issuer`, both or neither; `Ok(None)` when
/// the email is taken or the pair already linked (a concurrent first sign-in).
pub async fn insert_user(db: &PgPool, new: NewUser<'_>, issuer: &str, subject: &str) -> sqlx::Result<Option<User>> {
    let mut tx = db.begin().await?;
    let Some(user) = users::insert(&mut *tx, new).await? else { return Ok(None) };
    if !link(&mut *tx, &user, issuer, subject).await? {
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(user))
}
