//! One transcode attempt from start to finish, and what its outcome means for the
//! job and its video: ready, retried after backoff, released at shutdown, or dead
//! with a reason a person can read.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use rand::Rng;
use streambox_base::config::{SegmentFormat, TranscodeConfig};
use streambox_base::ids::VideoId;
use streambox_core::lifecycle;
use streambox_core::segment_keys;
use streambox_core::{App, Core};
use streambox_db::jobs::{self, Job, Progress, Started};
use streambox_db::videos::{self, Published, SourceSummary, Video};
use streambox_queue::TranscodeJob;
use streambox_storage::layout::{self, keys};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::encode::{self, EncodeSettings};
use crate::error::JobError;
use crate::ffmpeg::{self, FfmpegError, Limits};
use crate::live::{LivePublisher, Sound};
use crate::probe::SourceInfo;
use crate::tone_map::ToneMap;
use crate::{download, embedded_captions, ladder, master, measure, parts, poster, probe, publish, storyboard};

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
    pub state: Core,
    pub worker: String,
    pub shutdown: CancellationToken,
}

/// Runs one attempt of the job the delivery of `delivered`'s gives this worker a turn
/// at (the fairest waiting job, see `jobs::begin_attempt`). `Ok` also covers "nothing
/// to do": every job is finished, running elsewhere, or deleted. Every line the attempt
/// logs carries its job and video ids.
pub async fn execute(runner: &Runner, delivered: VideoId) -> Result<(), Verdict> {
    let state = &runner.state;
    let config = &state.config.transcode;
    let started = jobs::begin_attempt(&state.db, delivered, &runner.worker, config.orphan_after()).await;
    let Some(Started { job, video }) = started.map_err(|e| Verdict::Retry(e.into()))? else {
        tracing::info!(delivered = %delivered, "no transcode to run for this delivery");
        return Ok(());
    };
    let span = tracing::info_span!("job", job = %job.id, video_id = %job.video_id);
    attempt(runner, job, video).instrument(span).await
}

async fn attempt(runner: &Runner, job: Job, video: Video) -> Result<(), Verdict> {
    let state = &runner.state;
    let attempt = job.attempts;
    tracing::info!(attempt, max_attempts = job.max_attempts, "transcode started");
    if attempt > job.max_attempts {
        return give_up(state, &job, "no attempts left".into(), false).await;
    }

    let progress = SharedProgress::default();
    let beating = Heartbeat::start(state.clone(), &job, &runner.worker, progress.clone());
    let outcome = tokio::select! {
        outcome = plan_or_transcode(state, &job, &video, &progress) => Some(outcome),
        () = runner.shutdown.cancelled() => None,
    };
    drop(beating);
    let recorded = match outcome {
        None => release(state, &job).await,
        // Its parts run (and record their outcomes) on their own deliveries.
        Some(Ok(None)) => Ok(()),
        Some(Ok(Some(published))) => finish(state, &job, &published).await,
        Some(Err(JobError::Permanent(reason))) => return give_up(state, &job, reason, true).await,
        Some(Err(JobError::Transient(e))) if attempt >= job.max_attempts => {
            return give_up(state, &job, format!("{e:#}"), false).await;
        }
        Some(Err(JobError::Transient(e))) => retry_later(state, &job, &e).await,
    };
    recorded.map_err(Verdict::Retry)
}

async fn finish(state: &App, job: &Job, published: &Published) -> anyhow::Result<()> {
    if jobs::complete(&state.db, job, published).await? {
        measure::transcoded(&state.metrics, job.started_at, published);
        tracing::info!(video_id = %job.video_id, "video ready");
    } else if videos::find(&state.db, job.video_id).await?.is_some() {
        // Another attempt (one that outlived its heartbeats) finished it first: what is
        // published is that attempt's, and the video plays. Leave it be.
        tracing::warn!(video_id = %job.video_id, "the video was finished by another attempt; leaving its files");
    } else {
        // Deleted while we worked: leave nothing behind.
        tracing::info!(video_id = %job.video_id, "video was deleted during its transcode; removing the output");
        lifecycle::purge(&state.db, &state.storage, job.video_id).await?;
    }
    Ok(())
}

async fn retry_later(state: &App, job: &Job, error: &anyhow::Error) -> anyhow::Result<()> {
    let config = &state.config.transcode;
    let delay = backoff(job.attempts, config.retry_base, config.retry_max);
    let error = format!("{error:#}");
    tracing::warn!(video_id = %job.video_id, attempt = job.attempts, %error, ?delay, "transcode attempt failed; will retry");
    let error = without_paths(&error, &state.config.data_dir);
    jobs::retry_later(&state.db, job, &error, Utc::now() + delay).await?;
    measure::retried(&state.metrics);
    state.queue.enqueue_after(TranscodeJob::new(job.video_id), delay).await
}

/// Shutting down: hand the job back at once instead of making it wait to be orphaned.
async fn release(state: &App, job: &Job) -> anyhow::Result<()> {
    tracing::info!(video_id = %job.video_id, "shutting down; releasing the job");
    jobs::release(&state.db, job).await?;
    state.queue.enqueue(TranscodeJob::new(job.video_id)).await
}

async fn give_up(state: &App, job: &Job, error: String, permanent: bool) -> Result<(), Verdict> {
    let error = without_paths(&error, &state.config.data_dir);
    let reason = if permanent {
        error.clone()
    } else {
        format!("Transcoding failed {} times; the last error was: {error}", job.attempts)
    };
    tracing::warn!(video_id = %job.video_id, %reason, "transcode failed for good");
    // What was published while it encoded is withdrawn before the video is marked failed,
    // so whoever sees it failed finds nothing of it left: a failed video plays nothing.
    if let Err(e) = state.storage.delete_prefix(&keys::hls_prefix(job.video_id)).await {
        tracing::warn!(video_id = %job.video_id, error = %format!("{e:#}"), "could not remove the partial output");
    }
    jobs::bury(&state.db, job, &error, permanent, &reason).await.map_err(|e| Verdict::Retry(e.into()))?;
    measure::failed(&state.metrics, permanent);
    Err(Verdict::GiveUp(reason))
}

/// Errors are read by uploaders and operators, not only in the log: a path into the
/// server's data directory (the job's scratch space) becomes just the file's name.
pub(crate) fn without_paths(text: &str, data_dir: &Path) -> String {
    let root = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let root = root.display().to_string();
    if !root.starts_with('/') || root.len() < 2 {
        return text.to_owned();
    }
    let mut text = without_urls(text);
    while let Some(at) = text.find(&root) {
        let start = if text[..at].ends_with("file:") { at - "file:".len() } else { at };
        let stop = |c: char| c.is_whitespace() || matches!(c, ':' | '\'' | '"' | ',' | ')' | ']');
        let end = text[at..].find(stop).map_or(text.len(), |i| at + i);
        let name = Path::new(&text[at..end]).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        text.replace_range(start..end, &name);
    }
    text
}

/// A URL in an error (ffmpeg names the presigned source it could not read) grants
/// reading the source: it becomes just `source`.
pub(crate) fn without_urls(text: &str) -> String {
    let mut text = text.to_owned();
    while let Some(at) = text.find("https://").or_else(|| text.find("http://")) {
        let end = text[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | ')' | ']'))
            .map_or(text.len(), |i| at + i);
        let end = if text[..end].ends_with(':') { end - 1 } else { end };
        text.replace_range(at..end, "source");
    }
    text
}

/// Exponential backoff with ±20% jitter, so failed jobs do not retry in lockstep.
pub(crate) fn backoff(attempt: i32, base: Duration, max: Duration) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(20);
    let nominal = base.saturating_mul(2u32.pow(exponent)).min(max);
    nominal.mul_f64(rand::rng().random_range(0.8..=1.2))
}

/// Progress of the running ffmpeg, written by its progress callback and read by the heartbeat.
pub(crate) type SharedProgress = Arc<Mutex<Progress>>;

/// Beats for a running job until dropped, carrying its latest progress.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    fn start(state: Core, job: &Job, worker: &str, progress: SharedProgress) -> Self {
        let (id, worker) = (job.id, worker.to_owned());
        let every = state.config.transcode.heartbeat;
        Self(tokio::spawn(
            async move {
                let mut ticks = tokio::time::interval(every);
                loop {
                    ticks.tick().await;
                    let current = *progress.lock().expect("progress lock");
                    if let Err(e) = jobs::heartbeat(&state.db, id, &worker, current).await {
                        tracing::warn!(error = %e, "job heartbeat failed");
                    }
                }
            }
            .in_current_span(),
        ))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A long source is split into parts other deliveries run (`None`); anything else is
/// encoded here in one run.
async fn plan_or_transcode(
    state: &App,
    job: &Job,
    video: &Video,
    progress: &SharedProgress,
) -> Result<Option<Published>, JobError> {
    if parts::plan(state, job, video).await? {
        return Ok(None);
    }
    transcode(state, video, progress).await.map(Some)
}

async fn transcode(state: &App, video: &Video, progress: &SharedProgress) -> Result<Published, JobError> {
    let id = video.id;
    let clock = std::time::Instant::now();
    let scratch = std::path::absolute(&state.config.data_dir).map_err(anyhow::Error::from)?;
    let workdir = Workdir::create(&scratch.join("work").join(id.to_string())).await?;
    let source_path = workdir.path().join("source");
    let Some(size_bytes) = state.storage.download(&keys::source(id), &source_path).await? else {
        return Err(JobError::Permanent("The uploaded file is missing from storage.".into()));
    };

    let config = &state.config.transcode;
    let downloaded = clock.elapsed();
    let input = probe::Input::open(&source_path).await?;
    let source = probe::probe(&input).await?;
    check_limits(&source, config)?;
    let rungs = ladder::plan(&source, &config.ladder);
    tracing::info!(video_id = %id, width = source.display_width, height = source.display_height,
        duration_s = source.duration_s, rungs = ?rungs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), "source probed");

    // Before the encode, so the master that makes the video playable lists them.
    let (subtitles, work) = (&source.subtitle_tracks, workdir.path());
    let limits = Limits { stall: config.stall_timeout, wall_clock: wall_clock_cap(source.duration_s) };
    embedded_captions::take(&state.db, &state.storage, id, &input, subtitles, work, limits).await?;

    let outputs = Outputs::create(workdir.path(), &source).await?;
    let key = segment_keys::of_video(state, id).await?;
    let settings = EncodeSettings {
        preset: &config.preset,
        segment_seconds: config.segment_seconds,
        gop_seconds: config.gop_seconds,
        encoder_threads: encode::threads_per_encoder(),
        loudness: config.loudness,
        // An encrypted video is always MPEG-TS: whole-segment AES-128 over fMP4 would
        // have to cover its initialization segment too, which publishing does not do.
        segment_format: if key.is_some() { SegmentFormat::Ts } else { config.segment_format },
    };
    let (top, duration) = (&rungs[0], source.duration_s);
    let picture = outputs.command(&input, &source, &rungs, &settings);
    let has_audio = !source.audio_tracks.is_empty();
    let sound_run = has_audio.then(|| encode::audio_args(&input, &outputs.hls, &source, &rungs, &settings));
    let limits = Limits { stall: config.stall_timeout, wall_clock: wall_clock_cap(source.duration_s) };
    let sound = if has_audio { Sound::Beside } else { Sound::None };
    let (fps, tracks) = (source.frame_rate_value, &source.audio_tracks);
    let mut live =
        LivePublisher::resume(&state.db, &state.storage, id, &outputs.hls, &rungs, fps, sound, tracks, key.as_ref())
            .await?;
    let started = std::time::Instant::now();
    let prepared = clock.elapsed();
    let finished = CancellationToken::new();
    let encoding = async {
        // The picture's run measures progress; the sound's, far quicker, ends early. The
        // first to fail stops the other.
        let picture = ffmpeg::run(picture, limits, |position| {
            let done = (position.seconds / duration).clamp(0.0, 1.0);
            let elapsed = started.elapsed().as_secs_f64();
            let eta_s = (done > 0.01).then(|| (elapsed * (1.0 - done) / done) as f32);
            *progress.lock().expect("progress lock") = Progress { percent: (done * 100.0) as f32, eta_s };
        });
        let sound = async {
            match sound_run {
                Some(args) => ffmpeg::run(args, limits, |_| {}).await,
                None => Ok(()),
            }
        };
        let outcome = tokio::try_join!(picture, sound).map(|_| ());
        finished.cancel();
        outcome
    };
    let (outcome, ()) = tokio::join!(encoding, publish_while_encoding(state, &mut live, &finished));
    outcome.map_err(classify)?;
    // What ffmpeg finished last; the video is playable from here on whatever came before.
    publish_live(state, &mut live).await.map_err(JobError::Transient)?;
    let encoded = clock.elapsed();

    let Outputs { hls: out, poster: poster_path, tiles: tile_dir, .. } = outputs;
    let (out_dir, ladder, tracks, trick_play) =
        (out.clone(), rungs.clone(), source.audio_tracks.clone(), key.is_none());
    let renditions = tokio::task::spawn_blocking(move || master::write(&out_dir, &ladder, fps, &tracks, trick_play))
        .await
        .map_err(anyhow::Error::from)??;

    // The storyboard is laid out while the renditions upload; the master goes last.
    let previews = async {
        let dir = workdir.path().join("previews");
        tokio::fs::create_dir_all(&dir).await.map_err(anyhow::Error::from)?;
        storyboard::assemble(duration, top.width, top.height, &tile_dir, &dir).await.map_err(classify)?;
        storyboard::write_track(duration, top.width, top.height, &dir).map_err(anyhow::Error::from)?;
        publish::previews(&state.storage, id, &dir).await?;
        state.storage.put_file(&keys::poster(id), &poster_path, "image/jpeg").await?;
        Ok::<_, JobError>(())
    };
    let media = async { publish::playlists(&state.storage, id, &out, key.is_some()).await.map_err(JobError::from) };
    tokio::try_join!(media, previews)?;
    publish::master(&state.db, &state.storage, id, &out).await?;
    let download_rung = download::pick(&rungs, config.download_rung);
    download::publish(&state.storage, id, &out, download_rung, has_audio, duration, config.stall_timeout).await?;
    tracing::info!(video_id = %id, download_s = downloaded.as_secs_f32(), probe_s = (prepared - downloaded).as_secs_f32(),
        ffmpeg_s = (encoded - prepared).as_secs_f32(), publish_s = (clock.elapsed() - encoded).as_secs_f32(), "transcode phases");

    let summary = SourceSummary {
        duration_s: source.duration_s,
        width: source.display_width,
        height: source.display_height,
        frame_rate: source.native_frame_rate,
        video_codec: source.video_codec,
        audio_codec: source.audio_codec,
        bitrate: source.bitrate,
        size_bytes,
        has_audio,
        dynamic_range: source.hdr.map(|hdr| hdr.dynamic_range).unwrap_or_default(),
    };
    Ok(Published { source: summary, renditions, has_storyboard: true, has_download: true })
}

/// How often the live publisher looks for segments ffmpeg has finished (reading a few
/// small local playlists: the first play waits on it).
const LIVE_PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Publishes what ffmpeg finishes until `finished` is cancelled. A failure here (storage
/// briefly away) only delays publishing: the next round, or the job's own publishing
/// once the run ends, catches up.
pub(crate) async fn publish_while_encoding(state: &App, live: &mut LivePublisher<'_>, finished: &CancellationToken) {
    let mut rounds = tokio::time::interval(LIVE_PUBLISH_EVERY);
    rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = finished.cancelled() => return,
            _ = rounds.tick() => {}
        }
        if let Err(e) = publish_live(state, live).await {
            tracing::warn!(video_id = %live.video(), error = %format!("{e:#}"), "publishing while encoding failed; will try again");
        }
    }
}

/// One round of live publishing; the first time the master goes out, the video
/// becomes playable (and streamers hear of it).
pub(crate) async fn publish_live(state: &App, live: &mut LivePublisher<'_>) -> anyhow::Result<()> {
    if live.publish_new().await? && videos::mark_playable(&state.db, live.video()).await? {
        tracing::info!(video_id = %live.video(), "video playable while it is encoded");
    }
    Ok(())
}

/// Where a ladder run writes, inside the job's work directory, and what it reads
/// besides the source.
struct Outputs {
    hls: PathBuf,
    poster: PathBuf,
    tiles: PathBuf,
    /// The HDR source's tone-map table.
    tone_map: Option<ToneMap>,
}

impl Outputs {
    async fn create(workdir: &Path, source: &SourceInfo) -> Result<Self, JobError> {
        let (hls, tiles) = (workdir.join("hls"), workdir.join("sprite-tiles"));
        tokio::fs::create_dir_all(&hls).await.map_err(anyhow::Error::from)?;
        tokio::fs::create_dir_all(&tiles).await.map_err(anyhow::Error::from)?;
        let tone_map = match &source.hdr {
            // Computing the table fails only if this machine's ffmpeg does (the source
            // plays no part): retried, never blamed on the upload.
            Some(hdr) => Some(hdr.prepare(workdir).await.context("computing the HDR tone map")?),
            None => None,
        };
        Ok(Self { hls, poster: workdir.join(layout::POSTER), tiles, tone_map })
    }

    /// The picture's ffmpeg run: every rung, and the poster and storyboard tiles from
    /// the same decoded frames (the sound runs beside it: [`encode::audio_args`]).
    fn command(
        &self,
        input: &probe::Input,
        source: &SourceInfo,
        rungs: &[ladder::Rung],
        settings: &EncodeSettings,
    ) -> Vec<String> {
        let (top, duration) = (&rungs[0], source.duration_s);
        let stills = [
            poster::output(duration, source.frame_rate_value, top, &self.poster),
            storyboard::tiles(duration, top.width, top.height, &self.tiles),
        ];
        encode::ladder_args(input, &self.hls, source, rungs, &stills, self.tone_map.as_ref(), settings, None)
    }
}

/// Over a configured limit is the input's fault: a permanent failure saying which limit.
pub(crate) fn check_limits(source: &SourceInfo, config: &TranscodeConfig) -> Result<(), JobError> {
    let too = |what: String| Err(JobError::Permanent(what));
    if source.duration_s > config.max_duration.as_secs_f64() {
        return too(format!(
            "The video is {:.0} seconds long; the limit is {} seconds.",
            source.duration_s,
            config.max_duration.as_secs()
        ));
    }
    if source.display_width.max(source.display_height) > config.max_dimension {
        return too(format!(
            "The video is {}x{}; the largest side may be at most {} pixels.",
            source.display_width, source.display_height, config.max_dimension
        ));
    }
    if source.native_frame_rate > config.max_frame_rate {
        return too(format!(
            "The video runs at {:.1} frames per second; the limit is {}.",
            source.native_frame_rate, config.max_frame_rate
        ));
    }
    Ok(())
}

/// Killed or stuck ffmpeg runs may succeed next time, and so may one that ran out of
/// what the machine gives it (disk, memory, file descriptors); otherwise an ffmpeg
/// that exits with an error on input that probed fine is looking at a corrupt or
/// unsupported stream.
pub(crate) fn classify(e: FfmpegError) -> JobError {
    match e {
        FfmpegError::Failed { tail, .. } if SERVER_SHORTAGES.iter().any(|s| tail.contains(s)) => {
            let shortage = SERVER_SHORTAGES.iter().find(|s| tail.contains(*s)).copied().unwrap_or_default();
            JobError::Transient(anyhow::anyhow!("the transcoder's machine ran short: {shortage}"))
        }
        FfmpegError::Failed { tail, .. } if STORAGE_FAILURES.iter().any(|s| tail.contains(s)) => {
            let failure = STORAGE_FAILURES.iter().find(|s| tail.contains(*s)).copied().unwrap_or_default();
            JobError::Transient(anyhow::anyhow!("reading the source from storage failed: {failure}"))
        }
        FfmpegError::Failed { tail, .. } => JobError::Permanent(format!("ffmpeg could not convert the video: {tail}")),
        other => JobError::Transient(other.into()),
    }
}

/// How ffmpeg reports (strerror) a shortage of the server's, not a fault of the input.
const SERVER_SHORTAGES: [&str; 4] =
    ["No space left on device", "Disk quota exceeded", "Cannot allocate memory", "Too many open files"];

/// How ffmpeg reports a source it reads from storage (a chunk) becoming unreachable
/// midway: the storage's fault, not the input's.
const STORAGE_FAILURES: [&str; 6] = [
    "Connection refused",
    "Connection reset",
    "Connection timed out",
    "Server returned 5",
    "Server returned 403",
    "Input/output error",
];

/// The longest a ladder encode may take: generous, proportional to the source.
pub(crate) fn wall_clock_cap(duration_s: f64) -> Duration {
    Duration::from_secs_f64((duration_s * 20.0).max(600.0))
}

/// A per-video scratch directory, emptied of any earlier crashed run and removed afterwards.
pub(crate) struct Workdir(PathBuf);

impl Workdir {
    pub(crate) async fn create(path: &Path) -> anyhow::Result<Self> {
        if tokio::fs::try_exists(path).await? {
            tokio::fs::remove_dir_all(path).await?;
        }
        tokio::fs::create_dir_all(path).await?;
        Ok(Self(path.to_owned()))
    }

    pub(crate) fn path(&self) -> &Path {
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

    /// A 320x240 test picture with `filter` applied and a tone, `seconds` long.
    fn test_clip(path: &Path, filter: &str, seconds: u32) {
        let made = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-f", "lavfi", "-i", &format!("testsrc2=size=320x240:rate=30,{filter}")])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", &seconds.to_string()])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"])
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    }

    /// Runs the job's own ladder command on `clip` into `work`; returns the source, the
    /// outputs and every position ffmpeg reported.
    async fn run_ladder(clip: &Path, work: &Path) -> (SourceInfo, Outputs, Vec<f64>) {
        let input = probe::Input::open(clip).await.unwrap();
        let source = probe::probe(&input).await.unwrap();
        let rungs = ladder::plan(&source, &[(1080, 5000), (720, 2800), (480, 1400)]);
        let outputs = Outputs::create(work, &source).await.unwrap();
        let settings = EncodeSettings {
            preset: "ultrafast",
            segment_seconds: 6,
            gop_seconds: 2,
            encoder_threads: 2,
            loudness: None,
            segment_format: Default::default(),
        };
        let args = outputs.command(&input, &source, &rungs, &settings);
        let mut positions = Vec::new();
        let limits = Limits { stall: Duration::from_secs(120), wall_clock: Duration::from_secs(600) };
        ffmpeg::run(args, limits, |position| positions.push(position.seconds)).await.unwrap();
        (source, outputs, positions)
    }

    /// The stall watchdog counts on ffmpeg reporting from the start of an encode, but
    /// ffmpeg reports only once every output has had its first frame: a still that
    /// starts late (the poster's window, 10% in) or at the end (a sprite sheet) would hold
    /// every report back that far, and a long video would be stopped as stalled. Checked
    /// on the position ffmpeg reports, not on time, so a loaded machine cannot change it.
    #[tokio::test]
    async fn the_ladder_run_reports_progress_from_its_first_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("long.mp4");
        test_clip(&clip, "null", 120);
        let (source, outputs, positions) = run_ladder(&clip, &dir.path().join("work")).await;
        let first = positions.first().copied().expect("ffmpeg reported no progress");
        assert!(first < 0.05 * source.duration_s, "the first report came {first} s into {} s", source.duration_s);
        assert!(positions.len() >= 2, "{positions:?}");
        assert!(outputs.poster.is_file(), "the poster was written");
        assert!(outputs.tiles.join("0000.jpg").is_file(), "the storyboard tiles were written");
    }

    /// The poster is the most typical frame of its window about 10% in. This clip is
    /// black every other second: it starts black (the first frame is the poster's
    /// placeholder), and its window (1.0-2.67 s) holds 30 picture frames, then 20 black ones.
    #[tokio::test]
    async fn the_poster_is_the_typical_frame_of_its_window_not_a_black_one() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("blinking.mp4");
        test_clip(&clip, "drawbox=color=black:t=fill:enable='lt(mod(t,2),1)'", 10);
        let (_, outputs, _) = run_ladder(&clip, &dir.path().join("work")).await;
        let gray = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-i"])
            .arg(&outputs.poster)
            .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
            .output()
            .unwrap();
        assert_eq!(gray.stdout.len(), 320 * 240, "the poster has the picture's size");
        let luma = gray.stdout.iter().map(|&y| f64::from(y)).sum::<f64>() / gray.stdout.len() as f64;
        assert!(luma > 60.0, "the poster is black (mean luma {luma:.1})");
    }

    #[test]
    fn a_full_disk_is_the_servers_fault_and_a_broken_stream_the_inputs() {
        let failed = |tail: &str| FfmpegError::Failed { status: "exit status: 1".into(), tail: tail.into() };
        let full = classify(failed("[error] av_interleaved_write_frame(): No space left on device"));
        assert!(
            matches!(&full, JobError::Transient(e) if e.to_string().contains("No space left on device")),
            "{full:?}"
        );
        let broken = classify(failed("[h264 @ 0x1] Invalid NAL unit size | Error while decoding stream"));
        assert!(matches!(broken, JobError::Permanent(_)));
    }

    #[test]
    fn errors_name_no_server_paths() {
        let data = tempfile::tempdir().unwrap();
        let work = data.path().join("work/1234");
        let error = format!(
            "ffmpeg failed (exit 1): file:{0}/source: Invalid data | could not open '{0}/sprite-tiles/%04d.jpg'",
            work.display()
        );
        let shown = without_paths(&error, data.path());
        assert_eq!(shown, "ffmpeg failed (exit 1): source: Invalid data | could not open '%04d.jpg'");
        let remote = "http://127.0.0.1:9000/b/raw/1/source?X-Amz-Signature=abc: Server returned 403 Forbidden";
        assert_eq!(without_paths(remote, data.path()), "source: Server returned 403 Forbidden");
        assert_eq!(without_paths("no paths here", data.path()), "no paths here");
    }

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(60));
        for (attempt, nominal) in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 60.0), (30, 60.0)] {
            let delay = backoff(attempt, base, max).as_secs_f64();
            assert!((nominal * 0.8..=nominal * 1.2).contains(&delay), "attempt {attempt}: {delay}");
        }
    }

    #[test]
    fn a_run_may_take_twenty_times_the_source_and_at_least_ten_minutes() {
        for (duration_s, cap_s) in [(0.5, 600.0), (30.0, 600.0), (31.0, 620.0), (3600.0, 72_000.0)] {
            assert_eq!(wall_clock_cap(duration_s), Duration::from_secs_f64(cap_s), "{duration_s} s of source");
        }
    }

    /// ffmpeg that keeps making progress (realtime input) but runs past its wall clock
    /// is stopped there, and that is the machine's problem (retried), not the input's.
    #[tokio::test]
    async fn a_run_past_its_wall_clock_is_stopped_and_retried() {
        let args = ["-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10", "-t", "60", "-f", "null", "-"];
        let cap = Duration::from_secs(2);
        let limits = Limits { stall: Duration::from_secs(120), wall_clock: cap };
        let started = std::time::Instant::now();
        let mut reports = 0;
        let outcome = ffmpeg::run(args.map(String::from).to_vec(), limits, |_| reports += 1).await;
        let took = started.elapsed();
        assert!(matches!(outcome, Err(FfmpegError::TimedOut(after)) if after == cap), "{outcome:?}");
        assert!(reports > 0, "it was making progress");
        // Stopped at the cap, far short of the 60 s the run would take.
        assert!(took >= cap && took < Duration::from_secs(30), "stopped after {took:?}");
        assert!(matches!(classify(outcome.unwrap_err()), JobError::Transient(_)));
    }
}
