//! View counts: batches of counted views added to each video's total and to its daily
//! row, each batch at most once.

use sqlx::PgPool;
use uuid::Uuid;

/// How long a batch's id is kept: far longer than a batch stays in Redis (one flush
/// round, or a few while PostgreSQL is unreachable).
const BATCH_MEMORY: &str = "7 days";

/// Adds `views[i]` to video `ids[i]`'s total and today's count, unless batch `batch` was
/// added before (a flush that failed after committing and is tried again). Videos gone
/// since are skipped. Returns whether the batch was new.
pub async fn add_batch(db: &PgPool, batch: Uuid, ids: &[Uuid], views: &[i64]) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let first = sqlx::query("INSERT INTO view_batches (id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(batch)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if first {
        sqlx::query(
            "UPDATE videos SET view_count = view_count + batch.views
             FROM unnest($1::uuid[], $2::bigint[]) AS batch (id, views) WHERE videos.id = batch.id",
        )
        .bind(ids)
        .bind(views)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO video_views_daily (video_id, day, views)
             SELECT batch.id, current_date, batch.views FROM unnest($1::uuid[], $2::bigint[]) AS batch (id, views)
             WHERE EXISTS (SELECT 1 FROM videos WHERE videos.id = batch.id)
             ON CONFLICT (day, video_id) DO UPDATE SET views = video_views_daily.views + EXCLUDED.views",
        )
        .bind(ids)
        .bind(views)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(first)
}

/// Forgets the ids of batches added long ago.
pub async fn forget_old_batches(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM view_batches WHERE applied_at < now() - $1::interval")
        .bind(BATCH_MEMORY)
        .execute(db)
        .await?;
    Ok(())
}
