//! One transcode attempt from start to finish, and what its outcome means for the
//! job and its video: ready, retried after backoff, released at shutdown, or dead
//! with a reason a person can read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use streambox_common::AppState;
use streambox_common::ids::VideoId;
use streambox_common::jobs::{self, Job, Started};
use streambox_common::queue::TranscodeJob;
use streambox_common::storage::keys;
use streambox_common::videos::{Published, Video};
use tokio_util::sync::CancellationToken;

use crate::encode::{self, EncodeSettings};
use crate::error::JobError;
use crate::ffmpeg::{self, FfmpegError, Limits};
use crate::{ladder, master, poster, probe, publish};

/// What apalis should do with the delivery after this attempt. Retries with our
/// backoff are scheduled by us (`Ok`); apalis's own retries are the last resort when
/// the outcome could not even be recorded.
#[derive(Debug)]
pub enum Verdict {
    /// Recording the outcome failed: let apalis deliver again.
    Retry(anyhow::Error),
    /// The job is dead (recorded); the delivery ends in apalis's dead set too.
    GiveUp(String),
}

/// What one worker needs to run jobs.
#[derive(Clone)]
pub struct Runner {
    pub state: AppState,
    pub worker: String,
    pub shutdown: CancellationToken,
}

/// Runs one attempt of the job for `video_id`. `Ok` also covers "nothing to do": the
/// video was deleted, the job is finished, or another worker is running it.
pub async fn execute(runner: &Runner, video_id: VideoId) -> Result<(), Verdict> {
    let state = &runner.state;
    let config = &state.config.transcode;
    let started = jobs::begin_attempt(&state.db, video_id, &runner.worker, config.orphan_after()).await;
    let Some(Started { job, video }) = started.map_err(|e| Verdict::Retry(e.into()))? else {
        tracing::info!(%video_id, "no transcode to run for this delivery");
        return Ok(());
    };
    let attempt = job.attempts;
    tracing::info!(%video_id, job = %job.id, attempt, max_attempts = job.max_attempts, "transcode started");
    if attempt > job.max_attempts {
        return give_up(state, &job, "no attempts left".into(), false).await;
    }

    let beating = Heartbeat::start(state.clone(), &job, &runner.worker);
    let outcome = tokio::select! {
        outcome = transcode(state, &video) => Some(outcome),
        () = runner.shutdown.cancelled() => None,
    };
    drop(beating);
    let recorded = match outcome {
        None => release(state, &job).await,
        Some(Ok(published)) => finish(state, &job, &published).await,
        Some(Err(JobError::Permanent(reason))) => return give_up(state, &job, reason, true).await,
        Some(Err(JobError::Transient(e))) if attempt >= job.max_attempts => {
            return give_up(state, &job, format!("{e:#}"), false).await;
        }
        Some(Err(JobError::Transient(e))) => retry_later(state, &job, &e).await,
    };
    recorded.map_err(Verdict::Retry)
}

async fn finish(state: &AppState, job: &Job, published: &Published) -> anyhow::Result<()> {
    if jobs::complete(&state.db, job, published).await? {
        tracing::info!(video_id = %job.video_id, "video ready");
    } else {
        // Deleted while we worked: leave nothing behind.
        tracing::info!(video_id = %job.video_id, "video was deleted during its transcode; removing the output");
        state.storage.delete_prefix(&keys::hls_prefix(job.video_id)).await?;
        state.storage.delete(&keys::poster(job.video_id)).await?;
    }
    Ok(())
}

async fn retry_later(state: &AppState, job: &Job, error: &anyhow::Error) -> anyhow::Result<()> {
    let config = &state.config.transcode;
    let delay = backoff(job.attempts, config.retry_base, config.retry_max);
    let error = format!("{error:#}");
    tracing::warn!(video_id = %job.video_id, attempt = job.attempts, %error, ?delay, "transcode attempt failed; will retry");
    jobs::retry_later(&state.db, job, &error, Utc::now() + delay).await?;
    state.queue.enqueue_after(TranscodeJob { video_id: job.video_id }, delay).await
}

/// Shutting down: hand the job back at once instead of making it wait to be orphaned.
async fn release(state: &AppState, job: &Job) -> anyhow::Result<()> {
    tracing::info!(video_id = %job.video_id, "shutting down; releasing the job");
    jobs::release(&state.db, job).await?;
    state.queue.enqueue(TranscodeJob { video_id: job.video_id }).await
}

async fn give_up(state: &AppState, job: &Job, error: String, permanent: bool) -> Result<(), Verdict> {
    let reason = if permanent {
        error.clone()
    } else {
        format!("Transcoding failed {} times; the last error was: {error}", job.attempts)
    };
    tracing::warn!(video_id = %job.video_id, %reason, "transcode failed for good");
    jobs::bury(&state.db, job, &error, permanent, &reason).await.map_err(|e| Verdict::Retry(e.into()))?;
    Err(Verdict::GiveUp(reason))
}

/// Exponential backoff with ±20% jitter, so failed jobs do not retry in lockstep.
fn backoff(attempt: i32, base: Duration, max: Duration) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(20);
    let nominal = base.saturating_mul(2u32.pow(exponent)).min(max);
    nominal.mul_f64(rand::rng().random_range(0.8..=1.2))
}

/// Beats for a running job until dropped.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    fn start(state: AppState, job: &Job, worker: &str) -> Self {
        let (id, worker) = (job.id, worker.to_owned());
        let every = state.config.transcode.heartbeat;
        Self(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                if let Err(e) = jobs::heartbeat(&state.db, id, &worker).await {
                    tracing::warn!(error = %e, "job heartbeat failed");
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn transcode(state: &AppState, video: &Video) -> Result<Published, JobError> {
    let id = video.id;
    let workdir = Workdir::create(&state.config.data_dir.join("work").join(id.to_string())).await?;
    let source_path = workdir.path().join("source");
    if state.storage.get(&keys::source(id)).await?.is_none() {
        return Err(JobError::Permanent("The uploaded file is missing from storage.".into()));
    }
    state.storage.download(&keys::source(id), &source_path).await?;

    let source = probe::probe(&source_path).await?;
    let rungs = ladder::plan(&source);
    tracing::info!(video_id = %id, width = source.display_width, height = source.display_height,
        duration_s = source.duration_s, rungs = ?rungs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), "source probed");

    let out = workdir.path().join("hls");
    tokio::fs::create_dir_all(&out).await.map_err(anyhow::Error::from)?;
    let config = &state.config.transcode;
    let settings = EncodeSettings {
        preset: &config.preset,
        segment_seconds: config.segment_seconds,
        gop_seconds: config.gop_seconds,
    };
    let args = encode::ladder_args(&source_path, &out, &source, &rungs, &settings);
    let limits = Limits { stall: config.stall_timeout, wall_clock: wall_clock_cap(source.duration_s) };
    let duration = source.duration_s;
    ffmpeg::run(args, limits, |position| {
        tracing::debug!(video_id = %id, percent = (100.0 * position / duration).min(100.0), "transcode progress");
    })
    .await
    .map_err(classify)?;

    let (out_dir, ladder, fps, has_audio) =
        (out.clone(), rungs.clone(), source.frame_rate_value, source.audio_stream.is_some());
    let renditions = tokio::task::spawn_blocking(move || master::write(&out_dir, &ladder, fps, has_audio))
        .await
        .map_err(anyhow::Error::from)??;

    let poster_path = workdir.path().join("poster.jpg");
    poster::extract(&source_path, source.duration_s, &rungs[0], &poster_path).await.map_err(classify)?;

    publish::hls(&state.storage, id, &out).await?;
    state.storage.put_file(&keys::poster(id), &poster_path, "image/jpeg").await?;

    Ok(Published {
        duration_s: source.duration_s,
        width: source.display_width,
        height: source.display_height,
        renditions,
    })
}

/// Killed or stuck ffmpeg runs may succeed next time; an ffmpeg that exits with an
/// error on input that probed fine is looking at a corrupt or unsupported stream.
fn classify(e: FfmpegError) -> JobError {
    match e {
        FfmpegError::Failed { tail, .. } => JobError::Permanent(format!("ffmpeg could not convert the video: {tail}")),
        other => JobError::Transient(other.into()),
    }
}

/// The longest a ladder encode may take: generous, proportional to the source.
fn wall_clock_cap(duration_s: f64) -> Duration {
    Duration::from_secs_f64((duration_s * 20.0).max(600.0))
}

/// A per-video scratch directory, emptied of any earlier crashed run and removed afterwards.
struct Workdir(PathBuf);

impl Workdir {
    async fn create(path: &Path) -> anyhow::Result<Self> {
        if tokio::fs::try_exists(path).await? {
            tokio::fs::remove_dir_all(path).await?;
        }
        tokio::fs::create_dir_all(path).await?;
        Ok(Self(path.to_owned()))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(error = %e, dir = %self.0.display(), "could not remove a work directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(60));
        for (attempt, nominal) in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 60.0), (30, 60.0)] {
            let delay = backoff(attempt, base, max).as_secs_f64();
            assert!((nominal * 0.8..=nominal * 1.2).contains(&delay), "attempt {attempt}: {delay}");
        }
    }
}
