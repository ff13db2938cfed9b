//! A chunked transcode: planning a long source's parts, and running whichever part is
//! most urgent when a chunk delivery arrives — a chunk of the picture (every rung, its
//! frames only, read from storage by ranged GETs), the audio, or the finishing step —
//! with a retry, a dead letter or a release for each part on its own.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use streambox_base::ids::VideoId;
use streambox_core::lifecycle;
use streambox_core::segment_keys::{self, SegmentKey};
use streambox_core::{App, Core};
use streambox_db::chunks::{self, Chunk, ChunkKind, Claimed, PartOutput, RenditionOutput, SegmentRecord};
use streambox_db::jobs::{self, Job, Progress};
use streambox_db::videos::{self, Published, SourceSummary, Video};
use streambox_queue::TranscodeJob;
use streambox_storage::container;
use streambox_storage::layout::{PLAYLIST, POSTER, keys};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::chunking::{self, ChunkSettings};
use crate::encode::{self, EncodeSettings, FrameRange};
use crate::error::JobError;
use crate::ffmpeg::{self, Limits, Position};
use crate::job::{self, Runner, SharedProgress, Verdict, Workdir};
use crate::ladder::{self, Rung};
use crate::live::{LivePublisher, Sound};
use crate::probe::{self, Input, SourceInfo};
use crate::stitch::{self, Ladder, Parts};
use crate::tracks::AudioTrack;
use crate::{audio, continuity, download, embedded_captions, iframes, master, measure, poster, publish, storyboard};

/// How long the presigned URL a planning probe reads the source with stays valid.
const PROBE_URL_TTL: Duration = Duration::from_secs(600);

/// Splits the video's source into parts and delivers them, when it is long enough
/// (or resumes the parts an earlier attempt made). False: encode it in one run.
pub async fn plan(state: &App, job: &Job, video: &Video) -> Result<bool, JobError> {
    if !chunks::of_job(&state.db, job.id).await?.is_empty() {
        // Done parts are kept: only the rest runs again.
        let claimable = chunks::reopen(&state.db, job.id).await?;
        state.queue.enqueue_chunks(video.id, claimable.max(1)).await?;
        tracing::info!(video_id = %video.id, claimable, "chunked transcode resumed");
        return Ok(true);
    }
    let config = &state.config.transcode;
    if config.chunk_seconds == 0 {
        return Ok(false);
    }
    let (_, source) = open_source(state, video.id, PROBE_URL_TTL).await?;
    job::check_limits(&source, config)?;
    let settings = ChunkSettings {
        chunk_seconds: config.chunk_seconds,
        segment_seconds: config.segment_seconds,
        gop_frames: encode::gop_frames(source.frame_rate_value, config.gop_seconds),
    };
    let has_audio = !source.audio_tracks.is_empty();
    let Some(parts) = chunking::plan(source.duration_s, source.frame_rate_value, has_audio, settings) else {
        return Ok(false);
    };
    let claimable = chunks::create(&state.db, job.id, &parts).await?;
    state.queue.enqueue_chunks(video.id, claimable).await?;
    tracing::info!(video_id = %video.id, duration_s = source.duration_s, parts = parts.len(), "source split into chunks");
    Ok(true)
}

/// The stored source through a presigned URL valid for `ttl`, sniffed and probed.
async fn open_source(state: &App, video: VideoId, ttl: Duration) -> Result<(Input, SourceInfo), JobError> {
    let key = keys::source(video);
    let range = format!("bytes=0-{}", container::NEEDED - 1);
    let Some(object) = state.storage.get_range(&key, Some(range)).await? else {
        return Err(JobError::Permanent("The uploaded file is missing from storage.".into()));
    };
    let head = object.body.collect().await.context("reading the source's first bytes")?.into_bytes();
    let url = state.storage.internal_presigned_get(&key, ttl).await?;
    let input = Input::remote(url, &head)?;
    let source = probe::probe(&input).await?;
    Ok((input, source))
}

/// What running a part came to.
enum Ran {
    /// A chunk or the audio: its output, and what publishing it needs.
    Output { output: PartOutput, rungs: Vec<Rung>, tracks: Vec<AudioTrack>, frame_rate: f64, encrypted: bool },
    /// The finishing step: the video is ready (recorded).
    Finished,
}

/// One chunk delivery: claims the most urgent part of any chunked video and runs it;
/// the worker that completes a job's last part runs its finishing step too.
pub async fn execute(runner: &Runner, delivered_for: VideoId) -> Result<(), Verdict> {
    let state = &runner.state;
    let orphan_after = state.config.transcode.orphan_after();
    let claimed = chunks::claim(&state.db, &runner.worker, orphan_after).await.map_err(|e| Verdict::Retry(e.into()))?;
    let Some(mut claimed) = claimed else {
        // A part running on a worker that may have died: its delivery comes back (apalis
        // re-delivers a dead worker's), or this one keeps watch until it is taken over.
        if chunks::any_running(&state.db, delivered_for).await.map_err(|e| Verdict::Retry(e.into()))? {
            state
                .queue
                .enqueue_after(TranscodeJob::chunk_of(delivered_for), orphan_after)
                .await
                .map_err(Verdict::Retry)?;
        }
        return Ok(());
    };
    loop {
        let span = tracing::info_span!("part", job = %claimed.job.id, video_id = %claimed.video.id, part = %describe(&claimed.chunk));
        match run_claimed(runner, &claimed).instrument(span).await? {
            Some(finish) => claimed = Claimed { chunk: finish, ..claimed },
            None => return Ok(()),
        }
    }
}

/// Runs one claimed part and records its outcome; returns the job's finishing step
/// when this part was the last one it waited for (claimed by this worker).
async fn run_claimed(runner: &Runner, claimed: &Claimed) -> Result<Option<Chunk>, Verdict> {
    let state = &runner.state;
    let Claimed { chunk, job, video } = claimed;
    tracing::info!(video_id = %video.id, part = %describe(chunk), attempt = chunk.attempts, "chunk started");
    if chunk.attempts > job.max_attempts {
        return Err(give_up(state, job, chunk, "no attempts left".into(), false).await);
    }
    let progress = SharedProgress::default();
    let beating = Heartbeat::start(state.clone(), chunk, &runner.worker, progress.clone());
    let outcome = tokio::select! {
        outcome = run(state, job, chunk, video, &progress) => Some(outcome),
        () = runner.shutdown.cancelled() => None,
    };
    drop(beating);
    let recorded = match outcome {
        None => release(state, chunk, video.id, &runner.worker).await,
        Some(Ok(Ran::Finished)) => Ok(None),
        Some(Ok(Ran::Output { output, rungs, tracks, frame_rate, encrypted })) => {
            let ladder = Ladder { rungs: &rungs, tracks: &tracks, frame_rate, encrypted };
            complete(state, chunk, video.id, &runner.worker, &output, ladder).await
        }
        Some(Err(JobError::Permanent(reason))) => return Err(give_up(state, job, chunk, reason, true).await),
        Some(Err(JobError::Transient(e))) if chunk.attempts >= job.max_attempts => {
            return Err(give_up(state, job, chunk, format!("{e:#}"), false).await);
        }
        Some(Err(JobError::Transient(e))) => retry_later(state, chunk, video.id, &e).await.map(|()| None),
    };
    recorded.map_err(Verdict::Retry)
}

async fn run(state: &App, job: &Job, chunk: &Chunk, video: &Video, progress: &SharedProgress) -> Result<Ran, JobError> {
    let scratch = std::path::absolute(&state.config.data_dir).map_err(anyhow::Error::from)?;
    let workdir = Workdir::create(&scratch.join("work").join(format!("{}-{}", video.id, chunk.seq))).await?;
    let ttl = job::wall_clock_cap(chunk.duration_s) + Duration::from_secs(600);
    let (input, source) = open_source(state, video.id, ttl).await?;
    let rungs = ladder::plan(&source, &state.config.transcode.ladder);
    let frame_rate = source.frame_rate_value;
    let key = segment_keys::of_video(state, video.id).await?;
    let (key, work) = (key.as_ref(), workdir.path());
    let output = match chunk.kind {
        ChunkKind::Video => encode_chunk(state, chunk, video.id, &input, &source, &rungs, work, progress, key).await?,
        ChunkKind::Audio => encode_audio(state, chunk, video.id, &input, &source, &rungs, work, progress, key).await?,
        ChunkKind::Finish => {
            finish(state, job, chunk, video.id, &input, &source, &rungs, work, key).await?;
            return Ok(Ran::Finished);
        }
    };
    Ok(Ran::Output { output, rungs, tracks: source.audio_tracks, frame_rate, encrypted: key.is_some() })
}

fn settings(state: &App) -> EncodeSettings<'_> {
    let config = &state.config.transcode;
    EncodeSettings {
        preset: &config.preset,
        segment_seconds: config.segment_seconds,
        gop_seconds: config.gop_seconds,
        encoder_threads: encode::threads_per_encoder(),
        loudness: config.loudness,
        segment_format: config.segment_format,
    }
}

/// How a part's progress is counted.
#[derive(Clone, Copy)]
enum Measure {
    /// Frames written of this many (a chunk's run keeps the video's timestamps, and
    /// ffmpeg's reported time does not follow them).
    Frames(f64),
    /// Seconds of output of this many.
    Seconds(f64),
}

fn reporter(progress: &SharedProgress, measure: Measure) -> impl FnMut(Position) + '_ {
    move |position| {
        let done = match measure {
            Measure::Frames(total) => f64::from(position.frame) / total.max(1.0),
            Measure::Seconds(total) => position.seconds / total.max(0.001),
        };
        let percent = (done.clamp(0.0, 1.0) * 100.0) as f32;
        *progress.lock().expect("progress lock") = Progress { percent, eta_s: None };
    }
}

/// Every rung over the chunk's frames, its storyboard tiles and (if the poster's
/// window starts in it) the poster. The first chunk publishes as it encodes, as one
/// run does; the others publish their segments when done.
#[allow(clippy::too_many_arguments)]
async fn encode_chunk(
    state: &App,
    chunk: &Chunk,
    video: VideoId,
    input: &Input,
    source: &SourceInfo,
    rungs: &[Rung],
    work: &std::path::Path,
    progress: &SharedProgress,
    key: Option<&SegmentKey>,
) -> Result<PartOutput, JobError> {
    let (hls, tiles) = (work.join("hls"), work.join("sprite-tiles"));
    tokio::fs::create_dir_all(&hls).await.map_err(anyhow::Error::from)?;
    tokio::fs::create_dir_all(&tiles).await.map_err(anyhow::Error::from)?;
    let tone_map = match &source.hdr {
        Some(hdr) => Some(hdr.prepare(work).await.context("computing the HDR tone map")?),
        None => None,
    };
    let first_frame = chunk.first_frame as u64;
    let end_frame = chunk.end_frame.map(|e| e as u64);
    let range = FrameRange { first_frame, end_frame, first_segment: chunk.first_segment as u32 };
    let (top, fps, duration) = (&rungs[0], source.frame_rate_value, source.duration_s);
    let poster_path = work.join(POSTER);
    let poster = poster::output_in_chunk(duration, fps, top, &poster_path, first_frame, end_frame);
    let made_poster = poster.is_some();
    let (tile_still, numbering) = storyboard::tiles_in_chunk(duration, fps, top.width, top.height, first_frame, &tiles);
    let stills: Vec<_> = poster.into_iter().chain([tile_still]).collect();
    let settings = settings(state);
    let args = encode::ladder_args(input, &hls, source, rungs, &stills, tone_map.as_ref(), &settings, Some(range));
    let config = &state.config.transcode;
    let limits = Limits { stall: config.stall_timeout, wall_clock: job::wall_clock_cap(chunk.duration_s) };

    let sound = if source.audio_tracks.is_empty() { Sound::None } else { Sound::Elsewhere };
    let tracks = &source.audio_tracks;
    let mut live = match first_frame {
        0 => Some(LivePublisher::resume(&state.db, &state.storage, video, &hls, rungs, fps, sound, tracks, key).await?),
        _ => None,
    };
    let finished = CancellationToken::new();
    let encoding = async {
        let frames = Measure::Frames(chunk.duration_s * fps);
        let outcome = ffmpeg::run(args, limits, reporter(progress, frames)).await;
        finished.cancel();
        outcome
    };
    let publishing = async {
        if let Some(live) = live.as_mut() {
            job::publish_while_encoding(state, live, &finished).await;
        }
    };
    let (outcome, ()) = tokio::join!(encoding, publishing);
    outcome.map_err(job::classify)?;

    let mut output = PartOutput::new();
    for rung in rungs {
        let (record, files) =
            local_rendition(&hls.join(&rung.name), Rendition::Picture { follows_a_chunk: first_frame > 0 })?;
        if live.is_none() {
            publish::upload(&state.storage, video, files, key).await?;
        }
        output.insert(rung.name.clone(), record);
    }
    if let Some(live) = live.as_mut() {
        // What ffmpeg finished last; the growing playlists name it all.
        job::publish_live(state, live).await.map_err(JobError::Transient)?;
    }
    if made_poster {
        state.storage.put_file(&keys::chunk_staging(video, POSTER), &poster_path, "image/jpeg").await?;
    }
    for index in 0.. {
        let file = tiles.join(storyboard::tile_name(index));
        if !file.is_file() {
            break;
        }
        if let Some(tile) = numbering.tile_of(index) {
            state.storage.put_file(&stitch::staged_tile(video, tile), &file, "image/jpeg").await?;
        }
    }
    Ok(output)
}

/// The audio renditions of the whole source (every track in every group), as one run
/// encodes them beside the rungs.
#[allow(clippy::too_many_arguments)]
async fn encode_audio(
    state: &App,
    chunk: &Chunk,
    video: VideoId,
    input: &Input,
    source: &SourceInfo,
    rungs: &[Rung],
    work: &std::path::Path,
    progress: &SharedProgress,
    key: Option<&SegmentKey>,
) -> Result<PartOutput, JobError> {
    let tracks = &source.audio_tracks;
    if tracks.is_empty() {
        return Err(JobError::Permanent("The source's audio is gone: the stored file changed.".into()));
    }
    let out = work.join("hls");
    tokio::fs::create_dir_all(&out).await.map_err(anyhow::Error::from)?;
    let args = encode::audio_args(input, &out, source, rungs, &settings(state));
    let limits =
        Limits { stall: state.config.transcode.stall_timeout, wall_clock: job::wall_clock_cap(chunk.duration_s) };
    ffmpeg::run(args, limits, reporter(progress, Measure::Seconds(chunk.duration_s))).await.map_err(job::classify)?;
    let mut output = PartOutput::new();
    for rendition in audio::outputs(rungs, tracks.len()) {
        let (record, files) = local_rendition(&out.join(&rendition.folder), Rendition::Sound)?;
        publish::upload(&state.storage, video, files, key).await?;
        output.insert(rendition.folder, record);
    }
    Ok(output)
}

/// Which rendition a part wrote.
#[derive(Clone, Copy)]
enum Rendition {
    /// A rung; a chunk after the first marks its streams' first packets
    /// (`continuity`) before anything reads them.
    Picture { follows_a_chunk: bool },
    /// The audio, encoded in one run.
    Sound,
}

/// What ffmpeg wrote for one rendition in `dir`: its record and its segment files
/// (as `publish::upload` takes them).
fn local_rendition(
    dir: &std::path::Path,
    rendition: Rendition,
) -> anyhow::Result<(RenditionOutput, Vec<(std::path::PathBuf, String)>)> {
    let raw = std::fs::read(dir.join(PLAYLIST)).with_context(|| format!("reading {PLAYLIST}"))?;
    let playlist = m3u8_rs::parse_media_playlist_res(&raw)
        .map_err(|e| anyhow::anyhow!("ffmpeg wrote an unreadable playlist: {e}"))?;
    anyhow::ensure!(playlist.end_list && !playlist.segments.is_empty(), "ffmpeg did not finish the playlist");
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if let Rendition::Picture { follows_a_chunk: true } = rendition {
        let unmarked = continuity::mark_chunk_start(&dir.join(&playlist.segments[0].uri))?;
        if unmarked > 0 {
            tracing::warn!(rendition = %name, unmarked, "streams of a chunk's first segment could not be marked as continuing");
        }
    }
    let mut segments = Vec::with_capacity(playlist.segments.len());
    let mut files = Vec::with_capacity(playlist.segments.len());
    for segment in &playlist.segments {
        let path = dir.join(&segment.uri);
        let bytes = std::fs::metadata(&path).with_context(|| format!("segment {}", segment.uri))?.len();
        let seconds = f64::from(segment.duration);
        let keyframes = match rendition {
            Rendition::Picture { .. } => {
                iframes::keyframes(&std::fs::read(&path).with_context(|| format!("segment {}", segment.uri))?, seconds)
            }
            Rendition::Sound => Vec::new(),
        };
        segments.push(SegmentRecord { name: segment.uri.clone(), seconds, bytes, keyframes });
        files.push((path, format!("{name}/{}", segment.uri)));
    }
    let codec = match rendition {
        Rendition::Picture { .. } => Some(master::video_codec_of(dir, &playlist.segments[0])?),
        Rendition::Sound => None,
    };
    Ok((RenditionOutput { segments, target_duration: playlist.target_duration, codec }, files))
}

/// The last step: the source's embedded captions (read from `input`), stitched
/// playlists, the storyboard, the poster and the measured master, then the video is ready.
#[allow(clippy::too_many_arguments)]
async fn finish(
    state: &App,
    job: &Job,
    chunk: &Chunk,
    video: VideoId,
    input: &Input,
    source: &SourceInfo,
    rungs: &[Rung],
    work: &std::path::Path,
    key: Option<&SegmentKey>,
) -> Result<(), JobError> {
    let limits =
        Limits { stall: state.config.transcode.stall_timeout, wall_clock: job::wall_clock_cap(source.duration_s) };
    let subtitles = &source.subtitle_tracks;
    embedded_captions::take(&state.db, &state.storage, video, input, subtitles, work, limits).await?;
    let parts = chunks::of_job(&state.db, job.id).await?;
    let ladder =
        Ladder { rungs, tracks: &source.audio_tracks, frame_rate: source.frame_rate_value, encrypted: key.is_some() };
    let renditions = stitch::finish(state, video, &parts, ladder, source.duration_s, work).await?;
    publish_download(state, video, source, rungs, work, key).await?;
    let size_bytes = state.storage.head(&keys::source(video)).await?.map_or(0, |meta| meta.len);
    let published = Published {
        source: SourceSummary {
            duration_s: source.duration_s,
            width: source.display_width,
            height: source.display_height,
            frame_rate: source.native_frame_rate,
            video_codec: source.video_codec.clone(),
            audio_codec: source.audio_codec.clone(),
            bitrate: source.bitrate,
            size_bytes,
            has_audio: !source.audio_tracks.is_empty(),
            dynamic_range: source.hdr.as_ref().map(|hdr| hdr.dynamic_range).unwrap_or_default(),
        },
        renditions,
        has_storyboard: true,
        has_download: true,
    };
    if jobs::complete(&state.db, job, &published).await? {
        measure::part_done(&state.metrics, chunk.kind);
        measure::transcoded(&state.metrics, job.started_at, &published);
        tracing::info!(video_id = %video, "video ready");
        if let Err(e) = stitch::remove_staging(&state.storage, video, source.duration_s, &rungs[0]).await {
            tracing::warn!(video_id = %video, error = %format!("{e:#}"), "could not remove the chunks' staging");
        }
    } else if videos::find(&state.db, video).await?.is_none() {
        lifecycle::purge(&state.db, &state.storage, video).await.map_err(anyhow::Error::from)?;
    }
    Ok(())
}

/// The download, remuxed from its rung and the audio as the parts stored them: copied
/// to the finishing step's scratch space first (ffmpeg reads local files only; an
/// encrypted video's segments are decrypted there with its `key`), which holds one rung
/// and the audio it plays, about the size of the MP4 it makes.
async fn publish_download(
    state: &App,
    video: VideoId,
    source: &SourceInfo,
    rungs: &[Rung],
    work: &std::path::Path,
    key: Option<&SegmentKey>,
) -> Result<(), JobError> {
    let config = &state.config.transcode;
    let rung = download::pick(rungs, config.download_rung);
    let has_audio = !source.audio_tracks.is_empty();
    let hls = work.join("download");
    download::fetch_rendition(&state.storage, video, &rung.name, &hls, key).await?;
    if has_audio {
        download::fetch_rendition(&state.storage, video, audio::of(rung).name, &hls, key).await?;
    }
    download::publish(&state.storage, video, &hls, rung, has_audio, source.duration_s, config.stall_timeout).await
}

/// Records the part done, publishes what the done parts add up to (under the job's
/// lock), and returns the finishing step if this worker claimed it.
async fn complete(
    state: &App,
    chunk: &Chunk,
    video: VideoId,
    worker: &str,
    output: &PartOutput,
    ladder: Ladder<'_>,
) -> anyhow::Result<Option<Chunk>> {
    let Some(completion) = chunks::complete(&state.db, chunk, worker, output).await? else {
        if videos::find(&state.db, video).await?.is_none() {
            // Deleted while it encoded: leave nothing behind.
            lifecycle::purge(&state.db, &state.storage, video).await?;
        }
        tracing::info!(video_id = %video, part = %describe(chunk), "chunk no longer wanted (taken over, or its job ended)");
        return Ok(None);
    };
    let parts = Parts::new(&completion.chunks);
    let published = stitch::publish_progress(&state.db, &state.storage, video, &parts, ladder).await;
    let finish = completion.finish;
    completion.tx.commit().await?;
    measure::part_done(&state.metrics, chunk.kind);
    tracing::info!(video_id = %video, part = %describe(chunk), "chunk done");
    match published {
        Ok(true) if videos::mark_playable(&state.db, video).await? => {
            tracing::info!(video_id = %video, "video playable while it is encoded");
        }
        Ok(_) => {}
        // Only delays playback: the next part's completion publishes again.
        Err(e) => tracing::warn!(video_id = %video, error = %format!("{e:#}"), "publishing the done chunks failed"),
    }
    Ok(finish)
}

async fn retry_later(state: &App, chunk: &Chunk, video: VideoId, error: &anyhow::Error) -> anyhow::Result<()> {
    let config = &state.config.transcode;
    let delay = job::backoff(chunk.attempts, config.retry_base, config.retry_max);
    let error = job::without_paths(&format!("{error:#}"), &state.config.data_dir);
    tracing::warn!(video_id = %video, part = %describe(chunk), attempt = chunk.attempts, %error, ?delay, "chunk failed; will retry");
    chunks::retry_later(&state.db, chunk, &error, Utc::now() + delay).await?;
    measure::retried(&state.metrics);
    state.queue.enqueue_after(TranscodeJob::chunk_of(video), delay).await
}

async fn release(state: &App, chunk: &Chunk, video: VideoId, worker: &str) -> anyhow::Result<Option<Chunk>> {
    tracing::info!(video_id = %video, part = %describe(chunk), "shutting down; releasing the chunk");
    chunks::release(&state.db, chunk, worker).await?;
    state.queue.enqueue(TranscodeJob::chunk_of(video)).await?;
    Ok(None)
}

/// A part failed for good: so does its video, with the part named in the reason. The
/// published playlists are withdrawn; done parts' segments stay for an operator's retry.
async fn give_up(state: &App, job: &Job, chunk: &Chunk, error: String, permanent: bool) -> Verdict {
    let error = job::without_paths(&error, &state.config.data_dir);
    let reason = match permanent {
        true => error.clone(),
        false => {
            format!("Transcoding {} failed {} times; the last error was: {error}", describe(chunk), chunk.attempts)
        }
    };
    tracing::warn!(video_id = %job.video_id, part = %describe(chunk), %reason, "chunk failed for good");
    let recorded = async {
        chunks::bury(&state.db, chunk, &error, permanent).await?;
        jobs::bury(&state.db, job, &error, permanent, &reason).await
    };
    if let Err(e) = recorded.await {
        return Verdict::Retry(e.into());
    }
    measure::failed(&state.metrics, permanent);
    match state.storage.list(&keys::hls_prefix(job.video_id)).await {
        Ok(listed) => {
            for key in listed.iter().filter(|key| key.ends_with(".m3u8")) {
                if let Err(e) = state.storage.delete(key).await {
                    tracing::warn!(video_id = %job.video_id, error = %format!("{e:#}"), "could not withdraw a playlist");
                }
            }
        }
        Err(e) => {
            tracing::warn!(video_id = %job.video_id, error = %format!("{e:#}"), "could not withdraw the playlists")
        }
    }
    Verdict::GiveUp(reason)
}

/// `chunk 2 (60.0-120.0 s)`, `the audio`, `the finishing step`: for logs and reasons.
fn describe(chunk: &Chunk) -> String {
    match chunk.kind {
        ChunkKind::Video => {
            format!("chunk {} ({:.1}-{:.1} s)", chunk.seq + 1, chunk.start_s, chunk.start_s + chunk.duration_s)
        }
        ChunkKind::Audio => "the audio".into(),
        ChunkKind::Finish => "the finishing step".into(),
    }
}

/// Beats for a running part until dropped, carrying its progress.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    fn start(state: Core, chunk: &Chunk, worker: &str, progress: SharedProgress) -> Self {
        let (chunk, worker) = (chunk.clone(), worker.to_owned());
        let every = state.config.transcode.heartbeat;
        Self(tokio::spawn(
            async move {
                let mut ticks = tokio::time::interval(every);
                loop {
                    ticks.tick().await;
                    let current = progress.lock().expect("progress lock").percent;
                    if let Err(e) = chunks::heartbeat(&state.db, &chunk, &worker, current).await {
                        tracing::warn!(error = %e, "chunk heartbeat failed");
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
