//! The `follows` table: who follows which creator, since when. Following twice is one
//! follow (the primary key decides).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::feeds::Cursor;
use streambox_base::ids::UserId;

/// One side of a follow, as lists show it.
#[derive(Debug, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Person {
    /// The follower or the creator, whichever the list is of.
    pub id: UserId,
    /// Their display name as it is now.
    pub display_name: String,
    /// When the follow began.
    pub since: DateTime<Utc>,
}

impl Person {
    /// Where the page after this person starts.
    pub fn cursor(&self) -> Cursor {
        Cursor { key: self.since.timestamp_micros(), id: self.id.0 }
    }
}

/// `follower` follows `creator`; following again changes nothing, not even the date.
pub async fn follow(db: &PgPool, follower: UserId, creator: UserId) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO follows (follower_id, creator_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(follower)
        .bind(creator)
        .execute(db)
        .await?;
    Ok(())
}

/// `follower` stops following `creator`; nothing when they did not follow.
pub async fn unfollow(db: &PgPool, follower: UserId, creator: UserId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND creator_id = $2")
        .bind(follower)
        .bind(creator)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether `follower` follows `creator`.
pub async fn is_following(db: &PgPool, follower: UserId, creator: UserId) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND creator_id = $2)")
        .bind(follower)
        .bind(creator)
        .fetch_one(db)
        .await
}

/// How many people follow `creator`.
pub async fn followers_of(db: &PgPool, creator: UserId) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM follows WHERE creator_id = $1").bind(creator).fetch_one(db).await
}

/// Who follows `creator`, most recent first, after `after` (a cursor of this list).
pub async fn followers(db: &PgPool, creator: UserId, after: Option<Cursor>, limit: i64) -> sqlx::Result<Vec<Person>> {
    people(
        db,
        "SELECT u.id, u.display_name, f.created_at AS since FROM follows f JOIN users u ON u.id = f.follower_id
         WHERE f.creator_id = $1 AND ($2::timestamptz IS NULL OR (f.created_at, f.follower_id) < ($2, $3))
         ORDER BY f.created_at DESC, f.follower_id DESC LIMIT $4",
        creator,
        after,
        limit,
    )
    .await
}

/// Whom `follower` follows, most recent first, after `after` (a cursor of this list).
pub async fn following(db: &PgPool, follower: UserId, after: Option<Cursor>, limit: i64) -> sqlx::Result<Vec<Person>> {
    people(
        db,
        "SELECT u.id, u.display_name, f.created_at AS since FROM follows f JOIN users u ON u.id = f.creator_id
         WHERE f.follower_id = $1 AND ($2::timestamptz IS NULL OR (f.created_at, f.creator_id) < ($2, $3))
         ORDER BY f.created_at DESC, f.creator_id DESC LIMIT $4",
        follower,
        after,
        limit,
    )
    .await
}

async fn people(
    db: &PgPool,
    sql: &'static str,
    of: UserId,
    after: Option<Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<Person>> {
    let (at, id) = Cursor::time_bounds(after);
    sqlx::query_as(sql).bind(of).bind(at).bind(id).bind(limit).fetch_all(db).await
}
