//! Transcode jobs: the operator's record (attempts, every attempt's error, backoff,
//! the dead-letter state) and the video's lifecycle, changed together in one
//! transaction each, so the two never disagree.
//!
//! `queued -> running -> done`, or `running -> retrying -> running ...`, or
//! `running -> dead` (permanent error, or attempts exhausted). Operators move
//! `dead -> queued` (retry) or `dead -> discarded`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};

use crate::videos::{NewVideo, Published, Video};
use streambox_base::ids::{JobId, UserId, VideoId};

/// Where a job stands in the lifecycle above.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type, schemars::JsonSchema,
)]
#[sqlx(type_name = "job_state", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker: new, released by a worker shutting down, or retried by an operator.
    Queued,
    /// Claimed by a worker, which heartbeats while it works.
    Running,
    /// The last attempt failed transiently; the job runs again after `run_after`.
    Retrying,
    /// On the dead-letter list: a permanent error or no attempts left; the video has failed.
    Dead,
    /// Finished: the video is published and ready.
    Done,
    /// Taken off the dead-letter list by an operator; the video stays failed.
    Discarded,
}

impl JobState {
    /// Every state, in the order they sort (and [`counts`] lists them).
    pub const ALL: [JobState; 6] =
        [JobState::Queued, JobState::Running, JobState::Retrying, JobState::Dead, JobState::Done, JobState::Discarded];

    /// The state's name as the database, the API and the CLI spell it; `parse` reads it back.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Retrying => "retrying",
            JobState::Dead => "dead",
            JobState::Done => "done",
            JobState::Discarded => "discarded",
        }
    }
}

impl std::str::FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown job state {s:?} (queued, running, retrying, dead, done, discarded)"))
    }
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttemptError {
    /// Which attempt failed, counting from 1.
    pub attempt: i32,
    /// When it failed.
    pub at: DateTime<Utc>,
    /// What went wrong, as the worker reported it to operators.
    pub error: String,
    /// A permanent error ends the job at once; a transient one is retried.
    pub permanent: bool,
}

/// The operator's record of transcoding one video: each video has at most one job.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, schemars::JsonSchema)]
pub struct Job {
    /// Names the job in the operator's routes and CLI.
    pub id: JobId,
    /// The video this job transcodes.
    pub video_id: VideoId,
    /// Where the job stands in its lifecycle.
    pub state: JobState,
    /// Attempts begun so far, the running one included; an operator's retry resets it to 0.
    pub attempts: i32,
    /// Attempts allowed before the job goes dead; at least 1.
    pub max_attempts: i32,
    /// Every failed attempt, oldest first; kept when an operator retries the job.
    #[schemars(with = "Vec<AttemptError>")]
    pub errors: Json<Vec<AttemptError>>,
    /// The worker that took the latest attempt; cleared when the job is released or retried.
    pub worker: Option<String>,
    /// When the running attempt's worker last showed it was alive; `None` unless running.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// When a retrying job may run next.
    pub run_after: Option<DateTime<Utc>>,
    /// Of the running attempt, updated with the heartbeat.
    pub progress_percent: Option<f32>,
    /// Of the running attempt: the estimated seconds left, once there is an estimate.
    pub eta_s: Option<f32>,
    /// When the job was created, with its video.
    pub created_at: DateTime<Utc>,
    /// When the job last changed state; job lists are ordered by it.
    pub updated_at: DateTime<Utc>,
    /// When the latest attempt began.
    pub started_at: Option<DateTime<Utc>>,
    /// When the job ended done or dead; `None` while it may still run.
    pub finished_at: Option<DateTime<Utc>>,
}

macro_rules! job_columns {
    () => {
        "id, video_id, state, attempts, max_attempts, errors, worker, heartbeat_at, run_after, \
         progress_percent, eta_s, created_at, updated_at, started_at, finished_at"
    };
}

/// Creates a queued video (its source already stored) with its job, and settles its
/// upload's quota charge to the source's size.
pub async fn create_with_video(db: &PgPool, new: NewVideo<'_>, max_attempts: u32) -> sqlx::Result<(Video, Job)> {
    let mut tx = db.begin().await?;
    crate::quotas::settle(&mut *tx, new.id, Some(new.source_bytes)).await?;
    let video = crate::videos::insert_queued(&mut *tx, new).await?;
    let job = insert_queued(&mut *tx, video.id, max_attempts).await?;
    tx.commit().await?;
    Ok((video, job))
}

/// The queued job of a video just created (in the caller's transaction).
pub async fn insert_queued<'e>(db: impl PgExecutor<'e>, video: VideoId, max_attempts: u32) -> sqlx::Result<Job> {
    sqlx::query_as::<_, Job>(concat!(
        "INSERT INTO transcode_jobs (id, video_id, state, max_attempts) VALUES ($1, $2, 'queued', $3) RETURNING ",
        job_columns!()
    ))
    .bind(JobId::new())
    .bind(video)
    .bind(max_attempts as i32)
    .fetch_one(db)
    .await
}

/// A job whose attempt has begun, with its video.
pub struct Started {
    /// The job, now running under the caller with this attempt counted.
    pub job: Job,
    /// The job's video, now processing.
    pub video: Video,
}

/// Claims a job for `worker`, on the delivery of `delivered`'s. Deliveries are turns, not
/// assignments: the job taken is the one whose uploader is served least — fewest
/// transcodes running, then the longest since one started — so one uploader's backlog
/// never holds up another's upload for more than the jobs already running. Within an
/// uploader, oldest first. A job may be taken when queued, retrying and due (the
/// delivered one also before its due time, which its delivery waited for), or running
/// under a worker silent longer than `orphan_after` (it died; a chunked job's parts
/// are taken over one by one instead, by `chunks::claim`). `None` when there is none:
/// every job is finished, running or locked by another claim.
pub async fn begin_attempt(
    db: &PgPool,
    delivered: VideoId,
    worker: &str,
    orphan_after: Duration,
) -> sqlx::Result<Option<Started>> {
    let mut tx = db.begin().await?;
    let picked: Option<(JobId, VideoId, UserId)> = sqlx::query_as(
        "SELECT j.id, j.video_id, v.owner_id
         FROM transcode_jobs j
         JOIN videos v ON v.id = j.video_id
         LEFT JOIN transcode_load l ON l.owner_id = v.owner_id
         LEFT JOIN transcode_turns t ON t.owner_id = v.owner_id
         WHERE j.state IN ('queued', 'retrying', 'running') AND v.status IN ('queued', 'processing')
           AND (j.state = 'queued'
                OR (j.state = 'retrying' AND (j.run_after IS NULL OR j.run_after <= now() OR j.video_id = $1))
                OR (j.state = 'running' AND (j.heartbeat_at IS NULL OR j.heartbeat_at < now() - $2)
                    AND NOT EXISTS (SELECT 1 FROM transcode_chunks c WHERE c.job_id = j.id)))
         ORDER BY coalesce(l.running, 0), t.last_started_at NULLS FIRST, j.created_at, j.id
         LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
    )
    .bind(delivered)
    .bind(orphan_after)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((job, video, owner)) = picked else { return Ok(None) };
    let Some(video) = crate::videos::start_processing(&mut *tx, video).await? else { return Ok(None) };
    let job = sqlx::query_as::<_, Job>(concat!(
        "UPDATE transcode_jobs SET state = 'running', attempts = attempts + 1, worker = $2, heartbeat_at = now(),
                started_at = now(), run_after = NULL, progress_percent = 0, eta_s = NULL, updated_at = now()
         WHERE id = $1 RETURNING ",
        job_columns!()
    ))
    .bind(job)
    .bind(worker)
    .fetch_one(&mut *tx)
    .await?;
    take_turn(&mut *tx, owner).await?;
    tx.commit().await?;
    Ok(Some(Started { job, video }))
}

/// Records that `owner` was just served: the next turn goes to other uploaders first.
pub(crate) async fn take_turn<'e>(db: impl PgExecutor<'e>, owner: UserId) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO transcode_turns (owner_id, last_started_at) VALUES ($1, clock_timestamp())
         ON CONFLICT (owner_id) DO UPDATE SET last_started_at = EXCLUDED.last_started_at",
    )
    .bind(owner)
    .execute(db)
    .await?;
    Ok(())
}

/// How far the running attempt has come.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    /// How much is done, 0 to 100 (clamped to that when stored).
    pub percent: f32,
    /// Estimated seconds left, `None` while there is no estimate; below 0 is stored as 0.
    pub eta_s: Option<f32>,
}

/// The running job's worker is alive (and, while it beats, nobody else takes the job).
pub async fn heartbeat(db: &PgPool, job: JobId, worker: &str, progress: Progress) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE transcode_jobs SET heartbeat_at = now(), progress_percent = $3, eta_s = $4
         WHERE id = $1 AND worker = $2 AND state = 'running'",
    )
    .bind(job)
    .bind(worker)
    .bind(progress.percent.clamp(0.0, 100.0))
    .bind(progress.eta_s.map(|eta| eta.max(0.0)))
    .execute(db)
    .await?;
    Ok(())
}

/// running -> done, video processing -> ready. False when the video stopped
/// processing meanwhile (deleted): the caller removes what it published.
pub async fn complete(db: &PgPool, job: &Job, published: &Published) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    if !crate::videos::mark_ready(&mut *tx, job.video_id, published).await? {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE transcode_jobs SET state = 'done', finished_at = now(), heartbeat_at = NULL, progress_percent = 100,
                eta_s = 0, updated_at = now()
         WHERE id = $1",
    )
    .bind(job.id)
    .execute(&mut *tx)
    .await?;
    // A chunked job's finishing step is done in the same transaction: nobody (an operator,
    // a test) sees a ready video whose finishing step still runs.
    sqlx::query(
        "UPDATE transcode_chunks SET state = 'done', heartbeat_at = NULL, progress_percent = 100,
                finished_at = now(), updated_at = now()
         WHERE job_id = $1 AND kind = 'finish'",
    )
    .bind(job.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// running -> retrying at `run_after`, recording the error; the video waits as queued.
pub async fn retry_later(db: &PgPool, job: &Job, error: &str, run_after: DateTime<Utc>) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    record_failure(&mut tx, job, error, false, JobState::Retrying, Some(run_after)).await?;
    crate::videos::requeue(&mut *tx, job.video_id).await?;
    tx.commit().await
}

/// running -> dead, recording the error; the video fails with `reason`.
pub async fn bury(db: &PgPool, job: &Job, error: &str, permanent: bool, reason: &str) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    record_failure(&mut tx, job, error, permanent, JobState::Dead, None).await?;
    crate::videos::mark_failed(&mut *tx, job.video_id, reason).await?;
    tx.commit().await
}

async fn record_failure(
    tx: &mut Transaction<'_, Postgres>,
    job: &Job,
    error: &str,
    permanent: bool,
    state: JobState,
    run_after: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    let entry = AttemptError { attempt: job.attempts, at: Utc::now(), error: error.to_owned(), permanent };
    sqlx::query(
        "UPDATE transcode_jobs SET state = $2::job_state, errors = errors || jsonb_build_array($3::jsonb),
                run_after = $4, heartbeat_at = NULL, updated_at = now(),
                finished_at = CASE WHEN $2 = 'dead' THEN now() END
         WHERE id = $1",
    )
    .bind(job.id)
    .bind(state)
    .bind(Json(&entry))
    .bind(run_after)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// running -> queued without counting the attempt: the worker is shutting down.
pub async fn release(db: &PgPool, job: &Job) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE transcode_jobs SET state = 'queued', attempts = GREATEST(attempts - 1, 0), heartbeat_at = NULL,
                worker = NULL, updated_at = now()
         WHERE id = $1 AND state = 'running'",
    )
    .bind(job.id)
    .execute(&mut *tx)
    .await?;
    crate::videos::requeue(&mut *tx, job.video_id).await?;
    tx.commit().await
}

/// The job with this id, in any state.
pub async fn find(db: &PgPool, id: JobId) -> sqlx::Result<Option<Job>> {
    sqlx::query_as::<_, Job>(concat!("SELECT ", job_columns!(), " FROM transcode_jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The job of `video`, in any state; `None` when it has none.
pub async fn find_by_video(db: &PgPool, video: VideoId) -> sqlx::Result<Option<Job>> {
    sqlx::query_as::<_, Job>(concat!("SELECT ", job_columns!(), " FROM transcode_jobs WHERE video_id = $1"))
        .bind(video)
        .fetch_optional(db)
        .await
}

/// Newest first; `state` filters, `None` lists every job.
pub async fn list(db: &PgPool, state: Option<JobState>, limit: i64, offset: i64) -> sqlx::Result<Vec<Job>> {
    sqlx::query_as::<_, Job>(concat!(
        "SELECT ",
        job_columns!(),
        " FROM transcode_jobs WHERE ($1::job_state IS NULL OR state = $1)
         ORDER BY updated_at DESC, id LIMIT $2 OFFSET $3"
    ))
    .bind(state)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// How many jobs are in each state (every state present, zero included).
pub async fn counts(db: &PgPool) -> sqlx::Result<BTreeMap<JobState, i64>> {
    let rows: Vec<(JobState, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM transcode_jobs GROUP BY state").fetch_all(db).await?;
    let mut counts: BTreeMap<JobState, i64> = JobState::ALL.into_iter().map(|s| (s, 0)).collect();
    counts.extend(rows);
    Ok(counts)
}

/// How long the job waiting longest for a worker (queued, or retrying and due) has
/// waited, in seconds; `None` when none waits.
pub async fn oldest_waiting_s(db: &PgPool) -> sqlx::Result<Option<f64>> {
    sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - min(CASE WHEN state = 'queued' THEN updated_at ELSE run_after END))::float8
         FROM transcode_jobs WHERE state = 'queued' OR (state = 'retrying' AND run_after <= now())",
    )
    .fetch_one(db)
    .await
}

/// dead -> queued with a fresh count of attempts (its error history is kept);
/// the video goes back to queued. `None` when the job is not dead.
pub async fn revive(db: &PgPool, id: JobId) -> sqlx::Result<Option<Job>> {
    let mut tx = db.begin().await?;
    let job = sqlx::query_as::<_, Job>(concat!(
        "UPDATE transcode_jobs SET state = 'queued', attempts = 0, run_after = NULL, finished_at = NULL,
                worker = NULL, updated_at = now()
         WHERE id = $1 AND state = 'dead' RETURNING ",
        job_columns!()
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(job) = &job {
        crate::videos::reopen(&mut *tx, job.video_id).await?;
    }
    tx.commit().await?;
    Ok(job)
}

/// dead -> discarded: off the dead-letter list; the video stays failed.
pub async fn discard(db: &PgPool, id: JobId) -> sqlx::Result<Option<Job>> {
    sqlx::query_as::<_, Job>(concat!(
        "UPDATE transcode_jobs SET state = 'discarded', updated_at = now() WHERE id = $1 AND state = 'dead' RETURNING ",
        job_columns!()
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The ids of every dead job, longest dead first (to retry them all).
pub async fn dead_ids(db: &PgPool) -> sqlx::Result<Vec<JobId>> {
    sqlx::query_scalar("SELECT id FROM transcode_jobs WHERE state = 'dead' ORDER BY updated_at").fetch_all(db).await
}

/// Running jobs encoded in one run whose worker has been silent longer than
/// `silent_for` (a chunked job's parts are watched one by one: `chunks::stalled`).
pub async fn orphaned(db: &PgPool, silent_for: Duration) -> sqlx::Result<Vec<Job>> {
    sqlx::query_as::<_, Job>(concat!(
        "SELECT ",
        job_columns!(),
        " FROM transcode_jobs j WHERE state = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < now() - $1)
           AND NOT EXISTS (SELECT 1 FROM transcode_chunks c WHERE c.job_id = j.id)"
    ))
    .bind(silent_for)
    .fetch_all(db)
    .await
}

/// Queued or retrying jobs that should have started more than `grace` ago.
pub async fn overdue(db: &PgPool, grace: Duration) -> sqlx::Result<Vec<Job>> {
    sqlx::query_as::<_, Job>(concat!(
        "SELECT ",
        job_columns!(),
        " FROM transcode_jobs WHERE state IN ('queued', 'retrying') AND COALESCE(run_after, updated_at) < now() - $1"
    ))
    .bind(grace)
    .fetch_all(db)
    .await
}
