//! Playback analytics: per video per UTC day, what the players' heartbeats added up to
//! (views, viewers, watch and stall time, completions, startup time, time per rendition).
//! Batches of beats credited in Redis are added here, each batch at most once; reads sum
//! the days of a range for one video or for all of a creator's videos.

use chrono::NaiveDate;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::{FromRow, PgPool, Postgres};
use streambox_base::ids::{UserId, VideoId};
use uuid::Uuid;

/// How long a batch's id is kept: far longer than a batch stays in Redis.
const BATCH_MEMORY: &str = "7 days";

/// One video's counts for one day, as a batch adds them or a read sums them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct DayCounts {
    /// Playbacks started (at most one per viewer per video per 30 minutes).
    pub views: i64,
    /// Viewers seen that day.
    pub unique_viewers: i64,
    /// Playing time credited, in milliseconds.
    pub watch_ms: i64,
    /// Views that reached 90% of the video.
    pub completed_views: i64,
    /// Startup times (play request to first frame) summed, in milliseconds.
    pub startup_ms: i64,
    /// How many startup times `startup_ms` sums.
    pub startups: i64,
    /// Time spent stalled, in milliseconds.
    pub stall_ms: i64,
}

impl DayCounts {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &DayCounts) {
        self.views += other.views;
        self.unique_viewers += other.unique_viewers;
        self.watch_ms += other.watch_ms;
        self.completed_views += other.completed_views;
        self.startup_ms += other.startup_ms;
        self.startups += other.startups;
        self.stall_ms += other.stall_ms;
    }
}

/// A batch's counts for one video and day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoDay {
    /// The video.
    pub video: VideoId,
    /// The UTC day.
    pub day: NaiveDate,
    /// What to add.
    pub counts: DayCounts,
}

/// A batch's watch time of one rendition of a video on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenditionDay {
    /// The video.
    pub video: VideoId,
    /// The UTC day.
    pub day: NaiveDate,
    /// The rendition's height (short side) in pixels.
    pub height: i32,
    /// Watch time to add, in milliseconds.
    pub watch_ms: i64,
}

/// Adds a batch's counts (each video and day at most once in `days`, each video, day
/// and height at most once in `renditions`) unless batch `batch` was added before.
/// Videos gone since are skipped. Returns whether the batch was new.
pub async fn add_batch(db: &PgPool, batch: Uuid, days: &[VideoDay], renditions: &[RenditionDay]) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let first = sqlx::query("INSERT INTO playback_batches (id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(batch)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !first {
        tx.commit().await?;
        return Ok(false);
    }
    let column = |f: fn(&DayCounts) -> i64| days.iter().map(|d| f(&d.counts)).collect::<Vec<i64>>();
    sqlx::query(
        "INSERT INTO playback_daily
             (video_id, day, views, unique_viewers, watch_ms, completed_views, startup_ms, startups, stall_ms)
         SELECT * FROM unnest($1::uuid[], $2::date[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
                              $7::bigint[], $8::bigint[], $9::bigint[])
             AS b (video_id, day, views, unique_viewers, watch_ms, completed_views, startup_ms, startups, stall_ms)
         WHERE EXISTS (SELECT 1 FROM videos WHERE videos.id = b.video_id)
         ON CONFLICT (video_id, day) DO UPDATE SET
             views = playback_daily.views + EXCLUDED.views,
             unique_viewers = playback_daily.unique_viewers + EXCLUDED.unique_viewers,
             watch_ms = playback_daily.watch_ms + EXCLUDED.watch_ms,
             completed_views = playback_daily.completed_views + EXCLUDED.completed_views,
             startup_ms = playback_daily.startup_ms + EXCLUDED.startup_ms,
             startups = playback_daily.startups + EXCLUDED.startups,
             stall_ms = playback_daily.stall_ms + EXCLUDED.stall_ms",
    )
    .bind(days.iter().map(|d| d.video).collect::<Vec<_>>())
    .bind(days.iter().map(|d| d.day).collect::<Vec<_>>())
    .bind(column(|c| c.views))
    .bind(column(|c| c.unique_viewers))
    .bind(column(|c| c.watch_ms))
    .bind(column(|c| c.completed_views))
    .bind(column(|c| c.startup_ms))
    .bind(column(|c| c.startups))
    .bind(column(|c| c.stall_ms))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO playback_rendition_daily (video_id, day, height, watch_ms)
         SELECT b.video_id, b.day, b.height, b.watch_ms
         FROM unnest($1::uuid[], $2::date[], $3::integer[], $4::bigint[]) AS b (video_id, day, height, watch_ms)
         WHERE EXISTS (SELECT 1 FROM videos WHERE videos.id = b.video_id)
         ON CONFLICT (video_id, day, height) DO UPDATE SET watch_ms = playback_rendition_daily.watch_ms + EXCLUDED.watch_ms",
    )
    .bind(renditions.iter().map(|r| r.video).collect::<Vec<_>>())
    .bind(renditions.iter().map(|r| r.day).collect::<Vec<_>>())
    .bind(renditions.iter().map(|r| r.height).collect::<Vec<_>>())
    .bind(renditions.iter().map(|r| r.watch_ms).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Forgets the ids of batches added long ago.
pub async fn forget_old_batches(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM playback_batches WHERE applied_at < now() - $1::interval")
        .bind(BATCH_MEMORY)
        .execute(db)
        .await?;
    Ok(())
}

/// Whose videos a read sums.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// One video.
    Video(VideoId),
    /// Every video of a creator (not those being deleted).
    Owner(UserId),
}

/// The videos of a scope, as SQL over the binds `$1` (a video) and `$2` (an owner).
macro_rules! scope {
    () => {
        "SELECT id FROM videos WHERE (id = $1 OR owner_id = $2) AND status <> 'deleted'"
    };
}

/// One day of a range with the scope's counts summed (zeros on a day without any).
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Day {
    /// The UTC day.
    pub day: NaiveDate,
    /// The counts.
    #[sqlx(flatten)]
    pub counts: DayCounts,
}

/// Every day from `from` to `to` (inclusive), oldest first, with the scope's counts.
pub async fn daily(db: &PgPool, scope: Scope, from: NaiveDate, to: NaiveDate) -> sqlx::Result<Vec<Day>> {
    over_range(
        concat!(
            "SELECT d.day::date AS day,
                coalesce(sum(p.views), 0)::bigint AS views,
                coalesce(sum(p.unique_viewers), 0)::bigint AS unique_viewers,
                coalesce(sum(p.watch_ms), 0)::bigint AS watch_ms,
                coalesce(sum(p.completed_views), 0)::bigint AS completed_views,
                coalesce(sum(p.startup_ms), 0)::bigint AS startup_ms,
                coalesce(sum(p.startups), 0)::bigint AS startups,
                coalesce(sum(p.stall_ms), 0)::bigint AS stall_ms
         FROM generate_series($3::date, $4::date, interval '1 day') AS d (day)
         LEFT JOIN playback_daily p ON p.day = d.day::date AND p.video_id IN (",
            scope!(),
            ") GROUP BY d.day ORDER BY d.day"
        ),
        scope,
        from,
        to,
    )
    .fetch_all(db)
    .await
}

/// Watch time per rendition height over the range, tallest first.
pub async fn renditions(db: &PgPool, scope: Scope, from: NaiveDate, to: NaiveDate) -> sqlx::Result<Vec<(i32, i64)>> {
    over_range(
        concat!(
            "SELECT height, sum(watch_ms)::bigint FROM playback_rendition_daily WHERE day BETWEEN $3 AND $4 AND video_id IN (",
            scope!(),
            ") GROUP BY height ORDER BY height DESC"
        ),
        scope,
        from,
        to,
    )
    .fetch_all(db)
    .await
}

/// `sql` with the scope's binds (`$1` a video, `$2` an owner, as [`scope!`] reads them) and
/// the range's (`$3` its first day, `$4` its last).
fn over_range<O>(
    sql: &'static str,
    scope: Scope,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryAs<'static, Postgres, O, PgArguments>
where
    O: for<'r> FromRow<'r, PgRow>,
{
    let (video, owner) = match scope {
        Scope::Video(id) => (Some(id), None),
        Scope::Owner(id) => (None, Some(id)),
    };
    sqlx::query_as(sql).bind(video).bind(owner).bind(from).bind(to)
}

/// A creator's video with its views and watch time over a range.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TopVideo {
    /// The video.
    pub id: VideoId,
    /// Its title.
    pub title: String,
    /// Views in the range.
    pub views: i64,
    /// Watch time in the range, in milliseconds.
    pub watch_ms: i64,
}

/// `owner`'s `limit` most watched videos over the range (watch time, then views).
pub async fn top_videos(
    db: &PgPool,
    owner: UserId,
    from: NaiveDate,
    to: NaiveDate,
    limit: i64,
) -> sqlx::Result<Vec<TopVideo>> {
    sqlx::query_as(
        "SELECT v.id, v.title, sum(p.views)::bigint AS views, sum(p.watch_ms)::bigint AS watch_ms
         FROM playback_daily p JOIN videos v ON v.id = p.video_id
         WHERE v.owner_id = $1 AND v.status <> 'deleted' AND p.day BETWEEN $2 AND $3
         GROUP BY v.id, v.title
         ORDER BY sum(p.watch_ms) DESC, sum(p.views) DESC, v.id
         LIMIT $4",
    )
    .bind(owner)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(db)
    .await
}
