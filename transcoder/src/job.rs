//! One transcode attempt from start to finish, and what its outcome means for the
//! video: ready, retried later, or failed with a reason a person can read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use streambox_common::AppState;
use streambox_common::ids::VideoId;
use streambox_common::storage::keys;
use streambox_common::videos::{self, Published, Video};

use crate::encode::{self, EncodeSettings};
use crate::error::JobError;
use crate::ffmpeg::{self, FfmpegError, Limits};
use crate::{ladder, master, poster, probe, publish};

/// What the queue should do with the job after this attempt.
#[derive(Debug)]
pub enum Verdict {
    /// Try again later (the video is back to `queued`).
    Retry(anyhow::Error),
    /// Stop: the video is `failed` with this reason.
    GiveUp(String),
}

/// Runs one attempt of the job for `video_id`. `Ok` also covers "nothing to do"
/// (the video was deleted, or a duplicate delivery finds it already done).
pub async fn execute(state: &AppState, video_id: VideoId) -> Result<(), Verdict> {
    let started = videos::start_processing(&state.db, video_id).await.map_err(|e| Verdict::Retry(e.into()))?;
    let Some(video) = started else {
        tracing::info!(%video_id, "video is not waiting for a transcode; nothing to do");
        return Ok(());
    };
    let max_attempts = state.config.transcode.max_attempts;
    let attempt = u32::try_from(video.attempts).unwrap_or(u32::MAX);
    tracing::info!(%video_id, attempt, max_attempts, "transcode started");

    let outcome = if attempt > max_attempts {
        Err(JobError::Transient(anyhow::anyhow!("no attempts left")))
    } else {
        transcode(state, &video).await
    };
    match outcome {
        Ok(()) => {
            tracing::info!(%video_id, "video ready");
            Ok(())
        }
        Err(JobError::Permanent(reason)) => give_up(state, video_id, reason).await,
        Err(JobError::Transient(e)) if attempt >= max_attempts => {
            give_up(state, video_id, format!("Transcoding failed {attempt} times; last error: {e:#}")).await
        }
        Err(JobError::Transient(e)) => {
            tracing::warn!(%video_id, attempt, error = %format!("{e:#}"), "transcode attempt failed; will retry");
            videos::requeue(&state.db, video_id).await.map_err(|db| Verdict::Retry(db.into()))?;
            Err(Verdict::Retry(e))
        }
    }
}

async fn give_up(state: &AppState, video_id: VideoId, reason: String) -> Result<(), Verdict> {
    tracing::warn!(%video_id, %reason, "transcode failed for good");
    // If the failure cannot be recorded, the job must stay alive so that it can be.
    videos::mark_failed(&state.db, video_id, &reason).await.map_err(|e| Verdict::Retry(e.into()))?;
    Err(Verdict::GiveUp(reason))
}

async fn transcode(state: &AppState, video: &Video) -> Result<(), JobError> {
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

    let published = Published {
        duration_s: source.duration_s,
        width: source.display_width,
        height: source.display_height,
        renditions,
    };
    if !videos::mark_ready(&state.db, id, &published).await? {
        // Deleted (or finished by a duplicate delivery) while we worked: keep storage consistent.
        if videos::find(&state.db, id).await?.is_none() {
            state.storage.delete_prefix(&keys::hls_prefix(id)).await?;
            state.storage.delete(&keys::poster(id)).await?;
        }
    }
    Ok(())
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
