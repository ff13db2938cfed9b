//! Uploads in progress — resumable (tus) and direct-to-storage (presigned) — and the
//! one step that turns a finished upload into a queued video with its job.
//!
//! An upload's bytes go to `raw/{id}/source` as an S3 multipart upload whose parts are
//! recorded here; bytes short of a part wait in a tail object, so the stored offset
//! survives a restart of the upload service. Nothing is a video until it is complete.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use crate::App;
use crate::lifecycle;
use streambox_base::ids::{UserId, VideoId};
use streambox_db::videos::{self, Description, NewVideo, Title, Video, Visibility};
use streambox_db::{jobs, quotas};
use streambox_storage::layout::keys;

/// How an upload's bytes arrive; stored as `tus` or `presigned`, and an upload is only
/// found (by [`find_owned`]) through the protocol that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum UploadKind {
    /// Resumable: the client PATCHes the bytes through the upload service, which keeps the offset.
    Tus,
    /// The client PUTs the whole file straight to storage at a presigned URL, then completes it.
    Presigned,
}

/// An upload in progress: a row of `uploads`, deleted when it becomes a video or is discarded.
#[derive(Debug, Clone, FromRow)]
pub struct Upload {
    /// Also the id of the video it becomes, and so the key of its `raw/{id}/` objects.
    pub id: VideoId,
    /// The user who created it; only they may write to or complete it.
    pub owner_id: UserId,
    /// The protocol its bytes arrive by.
    pub kind: UploadKind,
    /// The video's title, validated when the upload was created.
    pub title: String,
    /// The video's description, validated when the upload was created.
    pub description: String,
    /// Who may see the video it becomes, as chosen when the upload was created.
    pub visibility: Visibility,
    /// The declared size of the whole file, in bytes.
    pub length: i64,
    /// Bytes stored so far (the recorded parts plus the tail): the tus offset. It equals
    /// `length` once assembled; a presigned upload stays at 0 until then.
    pub stored: i64,
    /// Bytes after the recorded parts, held in the tail object; fewer than a part.
    pub tail_bytes: i64,
    /// The S3 multipart upload of the source, started when the first part is sent;
    /// cleared on assembly.
    pub multipart_id: Option<String>,
    /// The source object is complete in storage, and only turning it into a video is left.
    pub assembled: bool,
    /// The sealed segment key of the video it becomes, if that is to be encrypted
    /// (decided when the upload was created).
    pub segment_key: Option<Vec<u8>>,
    /// When the upload was created.
    pub created_at: DateTime<Utc>,
    /// After this its owner can no longer write to or complete it, and the reconciler
    /// discards it unless it is assembled.
    pub expires_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "id, owner_id, kind, title, description, visibility, length, stored, tail_bytes, multipart_id, assembled, \
         segment_key, created_at, expires_at"
    };
}

/// What [`create`] records for a new upload.
pub struct NewUpload<'a> {
    /// A fresh id (the video's, once it is one), under which its quota charge is made.
    pub id: VideoId,
    /// The uploading user.
    pub owner_id: UserId,
    /// The protocol its bytes will arrive by.
    pub kind: UploadKind,
    /// The title the video will have.
    pub title: &'a Title,
    /// The description the video will have.
    pub description: &'a Description,
    /// Who may see the video it becomes.
    pub visibility: Visibility,
    /// The declared size of the file, in bytes (above `i64::MAX` it is stored as `i64::MAX`).
    pub length: u64,
    /// When an incomplete upload is given up; see [`Upload::expires_at`].
    pub expires_at: DateTime<Utc>,
    /// See [`Upload::segment_key`].
    pub sealed_key: Option<Vec<u8>>,
}

/// A recorded S3 part.
#[derive(Debug, Clone, FromRow)]
pub struct Part {
    /// The part's S3 number: from 1, in the order of the bytes.
    pub part_number: i32,
    /// The ETag storage answered for the part, needed to complete the multipart upload.
    pub e_tag: String,
    /// The part's length in bytes.
    pub size: i64,
}

/// Records a new upload, with nothing stored yet.
pub async fn create(db: &PgPool, new: NewUpload<'_>) -> sqlx::Result<Upload> {
    sqlx::query_as(concat!(
        "INSERT INTO uploads (id, owner_id, kind, title, description, visibility, length, expires_at, segment_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
        columns!()
    ))
    .bind(new.id)
    .bind(new.owner_id)
    .bind(new.kind)
    .bind(new.title.as_str())
    .bind(new.description.as_str())
    .bind(new.visibility)
    .bind(i64::try_from(new.length).unwrap_or(i64::MAX))
    .bind(new.expires_at)
    .bind(new.sealed_key)
    .fetch_one(db)
    .await
}

/// The upload `id` whoever owns it, expired or not; `None` when there is none (any more).
pub async fn find(db: &PgPool, id: VideoId) -> sqlx::Result<Option<Upload>> {
    sqlx::query_as(concat!("SELECT ", columns!(), " FROM uploads WHERE id = $1")).bind(id).fetch_optional(db).await
}

/// The upload `id` if `owner` may touch it (and it has not expired).
pub async fn find_owned(db: &PgPool, id: VideoId, owner: UserId, kind: UploadKind) -> sqlx::Result<Option<Upload>> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM uploads WHERE id = $1 AND owner_id = $2 AND kind = $3 AND expires_at > now()"
    ))
    .bind(id)
    .bind(owner)
    .bind(kind)
    .fetch_optional(db)
    .await
}

/// The parts recorded for upload `id`, in part-number order.
pub async fn parts(db: &PgPool, id: VideoId) -> sqlx::Result<Vec<Part>> {
    sqlx::query_as("SELECT part_number, e_tag, size FROM upload_parts WHERE upload_id = $1 ORDER BY part_number")
        .bind(id)
        .fetch_all(db)
        .await
}

/// Records the S3 multipart upload that upload `id`'s parts go to.
pub async fn set_multipart_id(db: &PgPool, id: VideoId, multipart_id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE uploads SET multipart_id = $2 WHERE id = $1").bind(id).bind(multipart_id).execute(db).await?;
    Ok(())
}

/// Records an uploaded part: the stored offset becomes the end of the parts.
pub async fn record_part(db: &PgPool, id: VideoId, part: &Part) -> sqlx::Result<i64> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO upload_parts (upload_id, part_number, e_tag, size) VALUES ($1, $2, $3, $4)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET e_tag = EXCLUDED.e_tag, size = EXCLUDED.size",
    )
    .bind(id)
    .bind(part.part_number)
    .bind(&part.e_tag)
    .bind(part.size)
    .execute(&mut *tx)
    .await?;
    let stored = sqlx::query_scalar(
        "UPDATE uploads SET stored = (SELECT coalesce(sum(size), 0) FROM upload_parts WHERE upload_id = $1),
                            tail_bytes = 0
         WHERE id = $1 RETURNING stored",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// Records `tail_bytes` held in the tail object after the parts.
pub async fn record_tail(db: &PgPool, id: VideoId, tail_bytes: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "UPDATE uploads SET tail_bytes = $2,
                stored = (SELECT coalesce(sum(size), 0) FROM upload_parts WHERE upload_id = $1) + $2
         WHERE id = $1 RETURNING stored",
    )
    .bind(id)
    .bind(tail_bytes)
    .fetch_one(db)
    .await
}

/// The source object is complete in storage.
pub async fn mark_assembled(db: &PgPool, id: VideoId) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE uploads SET assembled = true, stored = length, tail_bytes = 0, multipart_id = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Incomplete uploads past their expiry, for the reconciler to discard.
pub async fn expired(db: &PgPool) -> sqlx::Result<Vec<Upload>> {
    sqlx::query_as(concat!("SELECT ", columns!(), " FROM uploads WHERE expires_at <= now() AND NOT assembled"))
        .fetch_all(db)
        .await
}

/// Assembled uploads nobody turned into a video (the process stopped in between),
/// for the reconciler to finish.
pub async fn stranded(db: &PgPool, older_than: std::time::Duration) -> sqlx::Result<Vec<Upload>> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM uploads WHERE assembled AND created_at < now() - make_interval(secs => $1)"
    ))
    .bind(older_than.as_secs_f64())
    .fetch_all(db)
    .await
}

/// Forgets an upload and everything it stored: the multipart upload, tail and source;
/// its quota charge is settled. The caller holds its [`UploadLock`].
pub async fn discard(state: &App, upload: &Upload) -> anyhow::Result<()> {
    if let Some(multipart_id) = &upload.multipart_id {
        state.storage.abort_multipart(&keys::source(upload.id), multipart_id).await?;
    }
    state.storage.delete_prefix(&keys::raw_prefix(upload.id)).await?;
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM uploads WHERE id = $1").bind(upload.id).execute(&mut *tx).await?;
    // A resumable upload is charged what it stored; a direct one its declared size,
    // since what was PUT to storage is not known.
    let charged = (upload.kind == UploadKind::Tus).then(|| u64::try_from(upload.stored).unwrap_or(0));
    quotas::settle(&mut *tx, upload.id, charged).await?;
    tx.commit().await?;
    Ok(())
}

/// Turns an assembled upload into a queued video with its job, in the same
/// transaction that removes the upload — so it happens once — then queues it.
/// `Ok(None)` when another request already did.
pub async fn into_video(state: &App, upload: &Upload) -> anyhow::Result<Option<Video>> {
    let title = Title::parse(&upload.title).map_err(|e| anyhow::anyhow!("stored title: {e}"))?;
    let description =
        Description::parse(&upload.description).map_err(|e| anyhow::anyhow!("stored description: {e}"))?;
    let mut tx = state.db.begin().await?;
    let claimed =
        sqlx::query("DELETE FROM uploads WHERE id = $1 AND assembled").bind(upload.id).execute(&mut *tx).await?;
    if claimed.rows_affected() == 0 {
        return Ok(None);
    }
    let new = NewVideo {
        id: upload.id,
        owner_id: upload.owner_id,
        title: &title,
        description: &description,
        visibility: upload.visibility,
        source_bytes: u64::try_from(upload.length).unwrap_or(0),
        sealed_key: upload.segment_key.clone(),
    };
    let video = videos::insert_queued(&mut *tx, new).await?;
    quotas::settle(&mut *tx, video.id, None).await?;
    jobs::insert_queued(&mut *tx, video.id, state.config.transcode.max_attempts).await?;
    tx.commit().await?;
    if let Err(e) = state.storage.delete(&keys::upload_tail(upload.id)).await {
        tracing::warn!(error = %e, video_id = %upload.id, "could not remove an upload's tail object");
    }
    lifecycle::deliver(&state.queue, video.id).await;
    tracing::info!(video_id = %video.id, bytes = upload.length, "upload complete and queued");
    Ok(Some(video))
}

/// One writer per upload at a time, across processes: a lease on the upload's row,
/// taken and released by single UPDATEs, so no database connection is held while a
/// client sends its body. The holder renews it while it works; a holder that dies
/// loses it [`LEASE`] later. Release it with [`UploadLock::release`].
pub struct UploadLock {
    db: PgPool,
    id: VideoId,
    token: uuid::Uuid,
    renewing: tokio::task::JoinHandle<()>,
}

/// How long a writer's lease lasts without renewal.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(60);

impl UploadLock {
    /// `Ok(None)` when another writer holds it. An upload that does not exist (any
    /// more) is "held": there is nothing to write to, and the caller finds that out.
    pub async fn acquire(db: &PgPool, id: VideoId) -> sqlx::Result<Option<Self>> {
        let token = uuid::Uuid::new_v4();
        let held: bool = sqlx::query_scalar(
            "WITH taken AS (
                 UPDATE uploads SET writer = $2, writer_until = now() + make_interval(secs => $3)
                 WHERE id = $1 AND (writer IS NULL OR writer_until < now()) RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM taken) OR NOT EXISTS (SELECT 1 FROM uploads WHERE id = $1)",
        )
        .bind(id)
        .bind(token)
        .bind(LEASE.as_secs_f64())
        .fetch_one(db)
        .await?;
        if !held {
            return Ok(None);
        }
        let renewing = tokio::spawn(renew(db.clone(), id, token));
        Ok(Some(Self { db: db.clone(), id, token, renewing }))
    }

    /// Gives the lease up at once, so the next writer need not wait for it to lapse.
    /// A failure is only logged: the lease then lapses by itself.
    pub async fn release(self) {
        self.renewing.abort();
        let released =
            sqlx::query("UPDATE uploads SET writer = NULL, writer_until = NULL WHERE id = $1 AND writer = $2")
                .bind(self.id)
                .bind(self.token)
                .execute(&self.db)
                .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, upload = %self.id, "releasing an upload's lease failed; it lapses by itself");
        }
    }
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        self.renewing.abort();
    }
}

/// Extends the lease every third of its length while it is still ours.
async fn renew(db: PgPool, id: VideoId, token: uuid::Uuid) {
    let mut ticks = tokio::time::interval(LEASE / 3);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let renewed = sqlx::query(
            "UPDATE uploads SET writer_until = now() + make_interval(secs => $3) WHERE id = $1 AND writer = $2",
        )
        .bind(id)
        .bind(token)
        .bind(LEASE.as_secs_f64())
        .execute(&db)
        .await;
        match renewed {
            Ok(done) if done.rows_affected() == 0 => return,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, upload = %id, "renewing an upload's lease failed"),
        }
    }
}
