//! Per-user quotas: bytes uploaded in any 24 hours, bytes of sources kept, and videos
//! uploading or waiting for a worker at once.
//!
//! Every upload is charged when it is admitted, in the same transaction that checks the
//! user's usage (one user's admissions are serialised by a lock on the user), so two
//! uploads at once cannot both take the last of a quota. A charge is *pending* until
//! its upload becomes a video or is given up, and is then settled to the bytes it
//! really stored: a pending charge counts as stored bytes and as a queued video, a
//! settled one only towards the day's uploads (the video itself counts after that).

use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};

use streambox_base::config::Quotas;
use streambox_base::ids::{UserId, VideoId};

/// An admin's override of one user's limits: `None` takes the configured default,
/// `-1` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, sqlx::FromRow, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Bytes per 24 hours; absent or null for the default, -1 for unlimited.
    #[schemars(range(min = -1))]
    pub upload_bytes_per_day: Option<i64>,
    /// Bytes of sources kept; absent or null for the default, -1 for unlimited.
    #[schemars(range(min = -1))]
    pub stored_bytes: Option<i64>,
    /// Videos uploading, waiting or transcoding; absent or null for the default, -1 for unlimited.
    #[schemars(range(min = -1))]
    pub queued_videos: Option<i32>,
}

impl Overrides {
    /// The limits that apply: each override, or the default where there is none.
    pub fn apply(&self, defaults: Quotas) -> Quotas {
        fn pick<T: TryFrom<i64>>(over: Option<i64>, default: Option<T>) -> Option<T> {
            match over {
                None => default,
                Some(n) => T::try_from(n).ok(),
            }
        }
        Quotas {
            upload_bytes_per_day: pick(self.upload_bytes_per_day, defaults.upload_bytes_per_day),
            stored_bytes: pick(self.stored_bytes, defaults.stored_bytes),
            queued_videos: pick(self.queued_videos.map(i64::from), defaults.queued_videos),
        }
    }
}

/// What a user is using of their quotas now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Usage {
    /// Bytes charged in the last 24 hours (uploads in progress at their full size).
    pub uploaded_today: i64,
    /// Bytes of the sources of their videos (not deleted) and of uploads in progress.
    pub stored_bytes: i64,
    /// Videos uploading, waiting or transcoding.
    pub queued_videos: i64,
}

/// How many bytes an upload asks to be charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Its size is known (tus, presigned, a declared length): all of it, or nothing.
    Exactly(u64),
    /// Its size is only bounded (a streamed form): as much of it as the quotas leave,
    /// and the upload is stopped if it grows past what was granted.
    UpTo(u64),
}

/// What an admitted upload may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Bytes it may store.
    pub bytes: u64,
    /// When a quota (not the size asked) set `bytes`: the refusal for going past it.
    pub past: Option<Refusal>,
}

/// Why an upload was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The last 24 hours' uploads would pass the daily limit.
    UploadPerDay {
        /// Bytes charged in the last 24 hours.
        used: u64,
        /// Bytes the upload asked for.
        wanted: u64,
        /// Bytes allowed in 24 hours.
        limit: u64,
    },
    /// The kept sources would pass the storage limit.
    Stored {
        /// Bytes kept now.
        used: u64,
        /// Bytes the upload asked for.
        wanted: u64,
        /// Bytes that may be kept.
        limit: u64,
    },
    /// As many videos as allowed are uploading or waiting already.
    Queued {
        /// Videos uploading, waiting or transcoding.
        count: u64,
        /// How many are allowed.
        limit: u32,
    },
}

/// A user's overrides (all `None` when an admin set none).
pub async fn overrides(db: &PgPool, user: UserId) -> sqlx::Result<Overrides> {
    let row = sqlx::query_as::<_, Overrides>(
        "SELECT upload_bytes_per_day, stored_bytes, queued_videos FROM user_quotas WHERE user_id = $1",
    )
    .bind(user)
    .fetch_optional(db)
    .await?;
    Ok(row.unwrap_or_default())
}

/// Replaces a user's overrides; all `None` removes them.
pub async fn set_overrides(db: &PgPool, user: UserId, overrides: &Overrides) -> sqlx::Result<()> {
    if *overrides == Overrides::default() {
        sqlx::query("DELETE FROM user_quotas WHERE user_id = $1").bind(user).execute(db).await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO user_quotas (user_id, upload_bytes_per_day, stored_bytes, queued_videos) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET upload_bytes_per_day = EXCLUDED.upload_bytes_per_day,
             stored_bytes = EXCLUDED.stored_bytes, queued_videos = EXCLUDED.queued_videos, updated_at = now()",
    )
    .bind(user)
    .bind(overrides.upload_bytes_per_day)
    .bind(overrides.stored_bytes)
    .bind(overrides.queued_videos)
    .execute(db)
    .await?;
    Ok(())
}

/// What `user` uses now.
pub async fn usage<'e>(db: impl PgExecutor<'e>, user: UserId) -> sqlx::Result<Usage> {
    // A pending charge whose upload left no row behind (a streamed upload whose process
    // died mid-stream) stops counting after a day, longer than any streamed upload takes.
    sqlx::query_as(
        "WITH pending AS (
             SELECT c.bytes FROM upload_charges c
             WHERE c.user_id = $1 AND c.pending
               AND (c.charged_at > now() - interval '1 day' OR EXISTS (SELECT 1 FROM uploads u WHERE u.id = c.upload_id)))
         SELECT
             (SELECT coalesce(sum(bytes), 0) FROM upload_charges
              WHERE user_id = $1 AND charged_at > now() - interval '24 hours')::bigint AS uploaded_today,
             ((SELECT coalesce(sum(source_bytes), 0) FROM videos WHERE owner_id = $1 AND status <> 'deleted')
              + (SELECT coalesce(sum(bytes), 0) FROM pending))::bigint AS stored_bytes,
             ((SELECT count(*) FROM videos WHERE owner_id = $1 AND status IN ('uploading', 'queued', 'processing'))
              + (SELECT count(*) FROM pending))::bigint AS queued_videos",
    )
    .bind(user)
    .fetch_one(db)
    .await
}

/// Charges upload `upload` of `user` if `limits` allow it, and answers how many bytes it
/// may store: all of [`Wanted::Exactly`], or as much of [`Wanted::UpTo`] as is left.
pub async fn charge(
    db: &PgPool,
    user: UserId,
    limits: Quotas,
    upload: VideoId,
    wanted: Wanted,
) -> sqlx::Result<Result<Grant, Refusal>> {
    let mut tx = db.begin().await?;
    // One admission per user at a time: the check and the charge below are one step.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('quota:' || $1::text, 0))")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    let used = usage(&mut *tx, user).await?;
    let granted = match grant(used, limits, wanted) {
        Ok(granted) => granted,
        Err(refusal) => return Ok(Err(refusal)),
    };
    sqlx::query("INSERT INTO upload_charges (user_id, upload_id, bytes, pending) VALUES ($1, $2, $3, true)")
        .bind(user)
        .bind(upload)
        .bind(i64::try_from(granted.bytes).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Ok(granted))
}

/// The bytes `limits` leave for an upload, given what is `used`.
fn grant(used: Usage, limits: Quotas, wanted: Wanted) -> Result<Grant, Refusal> {
    let count = u64::try_from(used.queued_videos).unwrap_or(0);
    if let Some(limit) = limits.queued_videos
        && count >= u64::from(limit)
    {
        return Err(Refusal::Queued { count, limit });
    }
    let today = u64::try_from(used.uploaded_today).unwrap_or(0);
    let stored = u64::try_from(used.stored_bytes).unwrap_or(0);
    let (asked, whole) = match wanted {
        Wanted::Exactly(n) => (n, true),
        Wanted::UpTo(n) => (n, false),
    };
    // Each byte limit: what it leaves, and the refusal for going past it.
    let bounds = [
        limits
            .upload_bytes_per_day
            .map(|limit| (limit.saturating_sub(today), Refusal::UploadPerDay { used: today, wanted: asked, limit })),
        limits
            .stored_bytes
            .map(|limit| (limit.saturating_sub(stored), Refusal::Stored { used: stored, wanted: asked, limit })),
    ];
    // A streamed upload needs at least a byte of room to be worth starting.
    let needed = if whole { asked } else { asked.min(1) };
    let mut granted = Grant { bytes: asked, past: None };
    for (left, refusal) in bounds.into_iter().flatten() {
        if needed > left {
            return Err(refusal);
        }
        if left < granted.bytes {
            granted = Grant { bytes: left, past: Some(refusal) };
        }
    }
    Ok(granted)
}

/// The upload's charge stops being pending, at `bytes` (what it really stored) when
/// given; run in the transaction that makes it a video, or when it is given up.
pub async fn settle<'e>(db: impl PgExecutor<'e>, upload: VideoId, bytes: Option<u64>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE upload_charges SET pending = false, bytes = coalesce($2, bytes) WHERE upload_id = $1 AND pending",
    )
    .bind(upload)
    .bind(bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)))
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Usage = Usage { uploaded_today: 0, stored_bytes: 0, queued_videos: 0 };
    const LIMITS: Quotas = Quotas { upload_bytes_per_day: Some(100), stored_bytes: Some(1000), queued_videos: Some(2) };

    #[test]
    fn a_known_size_is_granted_whole_or_refused() {
        assert_eq!(grant(NONE, LIMITS, Wanted::Exactly(100)), Ok(Grant { bytes: 100, past: None }));
        let used = Usage { uploaded_today: 60, ..NONE };
        assert_eq!(
            grant(used, LIMITS, Wanted::Exactly(41)),
            Err(Refusal::UploadPerDay { used: 60, wanted: 41, limit: 100 })
        );
        let used = Usage { stored_bytes: 990, ..NONE };
        assert_eq!(
            grant(used, LIMITS, Wanted::Exactly(11)),
            Err(Refusal::Stored { used: 990, wanted: 11, limit: 1000 })
        );
        let used = Usage { queued_videos: 2, ..NONE };
        assert_eq!(grant(used, LIMITS, Wanted::Exactly(1)), Err(Refusal::Queued { count: 2, limit: 2 }));
    }

    #[test]
    fn a_bounded_size_gets_what_is_left_and_nothing_when_nothing_is() {
        let used = Usage { uploaded_today: 60, stored_bytes: 980, queued_videos: 1 };
        let stored = Refusal::Stored { used: 980, wanted: 500, limit: 1000 };
        assert_eq!(grant(used, LIMITS, Wanted::UpTo(500)), Ok(Grant { bytes: 20, past: Some(stored) }));
        let used = Usage { uploaded_today: 100, ..NONE };
        assert!(matches!(grant(used, LIMITS, Wanted::UpTo(500)), Err(Refusal::UploadPerDay { .. })));
    }

    #[test]
    fn unlimited_is_unlimited_and_overrides_win() {
        let unlimited = Quotas { upload_bytes_per_day: None, stored_bytes: None, queued_videos: None };
        let used = Usage { uploaded_today: i64::MAX, stored_bytes: i64::MAX, queued_videos: 1 << 40 };
        assert_eq!(grant(used, unlimited, Wanted::UpTo(7)), Ok(Grant { bytes: 7, past: None }));
        let over = Overrides { upload_bytes_per_day: Some(-1), stored_bytes: Some(5), queued_videos: None };
        assert_eq!(
            over.apply(LIMITS),
            Quotas { upload_bytes_per_day: None, stored_bytes: Some(5), queued_videos: Some(2) }
        );
    }
}
