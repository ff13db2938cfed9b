//! The parts of a chunked transcode: a long source's picture in chunks, its audio
//! once, and the finishing step. Any worker claims the most urgent part of any video;
//! each part has its own attempts, heartbeat and errors, and the job knows its parts.
//!
//! `queued -> running -> done`, `running -> retrying -> running ...`, or
//! `running -> dead` (which fails the job). The finishing step becomes claimable
//! only once every other part of its job is done; the worker completing the last of
//! them claims it in the same transaction, so it runs exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Transaction};

use crate::jobs::{AttemptError, Job};
use crate::videos::Video;
use streambox_base::ids::{JobId, UserId, VideoId};

/// What a part encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, schemars::JsonSchema)]
#[sqlx(type_name = "chunk_kind", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ChunkKind {
    /// Every rung of the picture over the chunk's frames.
    Video,
    /// The shared audio rendition, for the whole source.
    Audio,
    /// Stitching the playlists, measuring the master, the poster and the storyboard.
    Finish,
}

/// Where a part stands (see the module's lifecycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, schemars::JsonSchema)]
#[sqlx(type_name = "chunk_state", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ChunkState {
    /// Waiting for a worker.
    Queued,
    /// Claimed by a worker, which heartbeats while it works.
    Running,
    /// The last attempt failed transiently; it runs again after `run_after`.
    Retrying,
    /// Finished; its output is recorded.
    Done,
    /// Failed for good: its job is dead.
    Dead,
}

impl ChunkState {
    /// The state's name as the database and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkState::Queued => "queued",
            ChunkState::Running => "running",
            ChunkState::Retrying => "retrying",
            ChunkState::Done => "done",
            ChunkState::Dead => "dead",
        }
    }
}

/// One segment a part wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRecord {
    /// Its file name (`seg_012.ts`), numbered across the whole video.
    pub name: String,
    /// Its duration as the playlist states it.
    pub seconds: f64,
    /// Its size in storage.
    pub bytes: u64,
    /// Its keyframes, for the rung's I-frame playlist (none for audio).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyframes: Vec<KeyframeRecord>,
}

/// One keyframe in a segment: the byte range an I-frame playlist names, and how long it
/// shows (until the next keyframe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyframeRecord {
    /// Where its range starts in the segment, in bytes.
    pub offset: u64,
    /// Its range's length in bytes.
    pub length: u64,
    /// How long it shows.
    pub seconds: f64,
}

/// What a part wrote for one rendition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionOutput {
    /// In playlist order.
    pub segments: Vec<SegmentRecord>,
    /// Its playlist's EXT-X-TARGETDURATION.
    pub target_duration: u64,
    /// RFC 6381 codec string of its first segment (video rungs).
    pub codec: Option<String>,
}

/// What a done part produced, per rendition name.
pub type PartOutput = BTreeMap<String, RenditionOutput>;

/// One part of a chunked job.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, schemars::JsonSchema)]
pub struct Chunk {
    /// Its job.
    pub job_id: JobId,
    /// Its place in the job's schedule: video chunks in time order, then audio, then finish.
    pub seq: i32,
    /// What it encodes.
    pub kind: ChunkKind,
    /// Its first picture frame (at the ladder's constant rate).
    pub first_frame: i64,
    /// The frame after its last; `None` for the last chunk (to the end of the source).
    pub end_frame: Option<i64>,
    /// Where it starts in the source, in seconds.
    pub start_s: f64,
    /// How long it is, in seconds.
    pub duration_s: f64,
    /// The number of its first segment.
    pub first_segment: i32,
    /// Where it stands.
    pub state: ChunkState,
    /// Attempts begun so far, the running one included.
    pub attempts: i32,
    /// Every failed attempt, oldest first.
    #[schemars(with = "Vec<AttemptError>")]
    pub errors: Json<Vec<AttemptError>>,
    /// The worker that took the latest attempt.
    pub worker: Option<String>,
    /// When the running attempt's worker last showed it was alive.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// When a retrying part may run next.
    pub run_after: Option<DateTime<Utc>>,
    /// Of the running attempt.
    pub progress_percent: Option<f32>,
    /// What it produced, once done (not shown to operators: it lists every segment).
    #[serde(skip)]
    pub output: Option<Json<PartOutput>>,
    /// When the latest attempt began.
    pub started_at: Option<DateTime<Utc>>,
    /// When it was done.
    pub finished_at: Option<DateTime<Utc>>,
}

macro_rules! chunk_columns {
    () => {
        "job_id, seq, kind, first_frame, end_frame, start_s, duration_s, first_segment, state, attempts, errors, \
         worker, heartbeat_at, run_after, progress_percent, output, started_at, finished_at"
    };
}

/// The finishing step waits for every other part of its job.
macro_rules! finish_ready {
    () => {
        "(c.kind <> 'finish' OR NOT EXISTS (SELECT 1 FROM transcode_chunks o
           WHERE o.job_id = c.job_id AND o.kind <> 'finish' AND o.state <> 'done'))"
    };
}

/// A part to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunk {
    /// What it encodes.
    pub kind: ChunkKind,
    /// Its first frame.
    pub first_frame: i64,
    /// The frame after its last, `None` to the end.
    pub end_frame: Option<i64>,
    /// Where it starts, in seconds.
    pub start_s: f64,
    /// How long it is, in seconds.
    pub duration_s: f64,
    /// The number of its first segment.
    pub first_segment: i32,
}

/// The parts of `job`, in schedule order (empty for a job encoded in one run).
pub async fn of_job(db: &PgPool, job: JobId) -> sqlx::Result<Vec<Chunk>> {
    sqlx::query_as::<_, Chunk>(concat!(
        "SELECT ",
        chunk_columns!(),
        " FROM transcode_chunks WHERE job_id = $1 ORDER BY seq"
    ))
    .bind(job)
    .fetch_all(db)
    .await
}

/// Creates the parts of a running job (numbered in the given order). Returns the
/// parts a worker may take now: all but the finishing step.
pub async fn create(db: &PgPool, job: JobId, parts: &[NewChunk]) -> sqlx::Result<usize> {
    let mut tx = db.begin().await?;
    for (seq, part) in parts.iter().enumerate() {
        sqlx::query(
            "INSERT INTO transcode_chunks (job_id, seq, kind, first_frame, end_frame, start_s, duration_s, first_segment)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(job)
        .bind(seq as i32)
        .bind(part.kind)
        .bind(part.first_frame)
        .bind(part.end_frame)
        .bind(part.start_s)
        .bind(part.duration_s)
        .bind(part.first_segment)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(parts.iter().filter(|p| p.kind != ChunkKind::Finish).count())
}

/// A job coming back (an operator's retry, a takeover of its planning): every part not
/// done is queued again with a fresh count of attempts. Returns how many parts a worker
/// may take now.
pub async fn reopen(db: &PgPool, job: JobId) -> sqlx::Result<usize> {
    sqlx::query(
        "UPDATE transcode_chunks SET state = 'queued', attempts = 0, worker = NULL, heartbeat_at = NULL,
                run_after = NULL, progress_percent = NULL, updated_at = now()
         WHERE job_id = $1 AND state <> 'done'",
    )
    .bind(job)
    .execute(db)
    .await?;
    claimable(db, job).await
}

/// How many parts of `job` a worker could take now.
pub async fn claimable(db: &PgPool, job: JobId) -> sqlx::Result<usize> {
    let n: i64 = sqlx::query_scalar(concat!(
        "SELECT count(*) FROM transcode_chunks c WHERE c.job_id = $1 AND c.state IN ('queued', 'retrying') AND ",
        finish_ready!()
    ))
    .bind(job)
    .fetch_one(db)
    .await?;
    Ok(n as usize)
}

/// A part claimed by a worker, with its job and video.
pub struct Claimed {
    /// The part, now running under the caller with this attempt counted.
    pub chunk: Chunk,
    /// Its job (running).
    pub job: Job,
    /// The job's video (processing).
    pub video: Video,
}

/// Claims the most urgent part any worker may take: queued, retrying and due, or
/// running under a worker silent longer than `orphan_after`. Finishing steps come
/// first (a video about to be ready), then the parts of the uploaders with the fewest
/// parts running (so one uploader's long videos cannot take every worker), then every
/// video's first parts (its first chunk and its audio: what makes it playable), then
/// the uploader served longest ago, then later chunks by when a viewer who started at
/// upload would reach them. `None` when there is nothing to take.
pub async fn claim(db: &PgPool, worker: &str, orphan_after: Duration) -> sqlx::Result<Option<Claimed>> {
    let mut tx = db.begin().await?;
    let picked: Option<(JobId, i32, UserId)> = sqlx::query_as(concat!(
        "SELECT c.job_id, c.seq, v.owner_id FROM transcode_chunks c JOIN transcode_jobs j ON j.id = c.job_id
         JOIN videos v ON v.id = j.video_id
         LEFT JOIN transcode_load l ON l.owner_id = v.owner_id
         LEFT JOIN transcode_turns t ON t.owner_id = v.owner_id
         WHERE j.state = 'running'
           AND (c.state = 'queued' OR (c.state = 'retrying' AND c.run_after <= now())
                OR (c.state = 'running' AND (c.heartbeat_at IS NULL OR c.heartbeat_at < now() - $1)))
           AND ",
        finish_ready!(),
        " ORDER BY c.kind = 'finish' DESC, coalesce(l.running, 0), (c.kind = 'video' AND c.first_frame > 0),
                  t.last_started_at NULLS FIRST, j.created_at + make_interval(secs => c.start_s), c.seq
         LIMIT 1 FOR UPDATE OF c SKIP LOCKED"
    ))
    .bind(orphan_after)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((job_id, seq, owner)) = picked else { return Ok(None) };
    let chunk = sqlx::query_as::<_, Chunk>(concat!(
        "UPDATE transcode_chunks SET state = 'running', attempts = attempts + 1, worker = $3, heartbeat_at = now(),
                started_at = now(), run_after = NULL, progress_percent = 0, updated_at = now()
         WHERE job_id = $1 AND seq = $2 RETURNING ",
        chunk_columns!()
    ))
    .bind(job_id)
    .bind(seq)
    .bind(worker)
    .fetch_one(&mut *tx)
    .await?;
    crate::jobs::take_turn(&mut *tx, owner).await?;
    tx.commit().await?;
    let Some(job) = crate::jobs::find(db, job_id).await? else { return Ok(None) };
    let Some(video) = crate::videos::find(db, job.video_id).await? else { return Ok(None) };
    Ok(Some(Claimed { chunk, job, video }))
}

/// The running part's worker is alive; the job's progress is its parts' (video chunks
/// weighted by length), and its heartbeat is its parts'.
pub async fn heartbeat(db: &PgPool, chunk: &Chunk, worker: &str, percent: f32) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    let beat = sqlx::query(
        "UPDATE transcode_chunks SET heartbeat_at = now(), progress_percent = $4
         WHERE job_id = $1 AND seq = $2 AND worker = $3 AND state = 'running'",
    )
    .bind(chunk.job_id)
    .bind(chunk.seq)
    .bind(worker)
    .bind(percent.clamp(0.0, 100.0))
    .execute(&mut *tx)
    .await?;
    if beat.rows_affected() == 1 {
        sqlx::query(
            "UPDATE transcode_jobs SET heartbeat_at = now(), progress_percent = (
                SELECT LEAST(100, COALESCE(sum(duration_s * CASE WHEN state = 'done' THEN 100
                                                   ELSE COALESCE(progress_percent, 0) END) / NULLIF(sum(duration_s), 0), 0))
                FROM transcode_chunks WHERE job_id = $1 AND kind = 'video'), eta_s = NULL
             WHERE id = $1 AND state = 'running'",
        )
        .bind(chunk.job_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// A part's completion, not yet committed: the job's row is locked until it is, so
/// the caller can publish what the done parts add up to without another worker's
/// publishing overtaking it.
pub struct Completion<'c> {
    /// Commit to record the completion (and the claim of the finishing step).
    pub tx: Transaction<'c, Postgres>,
    /// Every part of the job as it stands with this one done.
    pub chunks: Vec<Chunk>,
    /// The finishing step, claimed by the caller, when this was the last part it waited for.
    pub finish: Option<Chunk>,
}

/// running -> done with its output, if the caller still runs it and the job is still
/// running; `None` otherwise (taken over, or the job ended meanwhile).
pub async fn complete<'c>(
    db: &'c PgPool,
    chunk: &Chunk,
    worker: &str,
    output: &PartOutput,
) -> sqlx::Result<Option<Completion<'c>>> {
    let mut tx = db.begin().await?;
    let running: Option<JobId> =
        sqlx::query_scalar("SELECT id FROM transcode_jobs WHERE id = $1 AND state = 'running' FOR UPDATE")
            .bind(chunk.job_id)
            .fetch_optional(&mut *tx)
            .await?;
    if running.is_none() {
        return Ok(None);
    }
    let done = sqlx::query(
        "UPDATE transcode_chunks SET state = 'done', output = $4, heartbeat_at = NULL, progress_percent = 100,
                finished_at = now(), updated_at = now()
         WHERE job_id = $1 AND seq = $2 AND worker = $3 AND state = 'running'",
    )
    .bind(chunk.job_id)
    .bind(chunk.seq)
    .bind(worker)
    .bind(Json(output))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let finish = sqlx::query_as::<_, Chunk>(concat!(
        "UPDATE transcode_chunks c SET state = 'running', attempts = attempts + 1, worker = $2, heartbeat_at = now(),
                started_at = now(), progress_percent = 0, updated_at = now()
         WHERE c.job_id = $1 AND c.kind = 'finish' AND c.state = 'queued' AND ",
        finish_ready!(),
        " RETURNING ",
        chunk_columns!()
    ))
    .bind(chunk.job_id)
    .bind(worker)
    .fetch_optional(&mut *tx)
    .await?;
    let chunks = sqlx::query_as::<_, Chunk>(concat!(
        "SELECT ",
        chunk_columns!(),
        " FROM transcode_chunks WHERE job_id = $1 ORDER BY seq"
    ))
    .bind(chunk.job_id)
    .fetch_all(&mut *tx)
    .await?;
    Ok(Some(Completion { tx, chunks, finish }))
}

/// running -> retrying at `run_after`, recording the error.
pub async fn retry_later(db: &PgPool, chunk: &Chunk, error: &str, run_after: DateTime<Utc>) -> sqlx::Result<()> {
    record_failure(db, chunk, error, false, ChunkState::Retrying, Some(run_after)).await
}

/// running -> dead, recording the error (the caller buries the job).
pub async fn bury(db: &PgPool, chunk: &Chunk, error: &str, permanent: bool) -> sqlx::Result<()> {
    record_failure(db, chunk, error, permanent, ChunkState::Dead, None).await
}

async fn record_failure(
    db: &PgPool,
    chunk: &Chunk,
    error: &str,
    permanent: bool,
    state: ChunkState,
    run_after: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    let entry = AttemptError { attempt: chunk.attempts, at: Utc::now(), error: error.to_owned(), permanent };
    sqlx::query(
        "UPDATE transcode_chunks SET state = $3::chunk_state, errors = errors || jsonb_build_array($4::jsonb),
                run_after = $5, heartbeat_at = NULL, updated_at = now()
         WHERE job_id = $1 AND seq = $2",
    )
    .bind(chunk.job_id)
    .bind(chunk.seq)
    .bind(state)
    .bind(Json(&entry))
    .bind(run_after)
    .execute(db)
    .await?;
    Ok(())
}

/// running -> queued without counting the attempt: the worker is shutting down.
pub async fn release(db: &PgPool, chunk: &Chunk, worker: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE transcode_chunks SET state = 'queued', attempts = GREATEST(attempts - 1, 0), heartbeat_at = NULL,
                worker = NULL, updated_at = now()
         WHERE job_id = $1 AND seq = $2 AND worker = $3 AND state = 'running'",
    )
    .bind(chunk.job_id)
    .bind(chunk.seq)
    .bind(worker)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a part of `video`'s running job is running (on a worker that may yet die).
pub async fn any_running(db: &PgPool, video: VideoId) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM transcode_chunks c JOIN transcode_jobs j ON j.id = c.job_id
                        WHERE j.video_id = $1 AND j.state = 'running' AND c.state = 'running')",
    )
    .bind(video)
    .fetch_one(db)
    .await
}

/// Videos of running jobs with a part nothing is moving: claimable for longer than
/// `grace`, or running under a worker silent longer than `silent_for`. With how many
/// such parts each has.
pub async fn stalled(db: &PgPool, grace: Duration, silent_for: Duration) -> sqlx::Result<Vec<(VideoId, i64)>> {
    sqlx::query_as(concat!(
        "SELECT j.video_id, count(*) FROM transcode_chunks c JOIN transcode_jobs j ON j.id = c.job_id
         WHERE j.state = 'running' AND ",
        finish_ready!(),
        " AND ((c.state IN ('queued', 'retrying') AND COALESCE(c.run_after, c.updated_at) < now() - $1)
                OR (c.state = 'running' AND (c.heartbeat_at IS NULL OR c.heartbeat_at < now() - $2)))
         GROUP BY j.video_id"
    ))
    .bind(grace)
    .bind(silent_for)
    .fetch_all(db)
    .await
}
