//! Playback heartbeats: a player beats every ~10 s while playing and on pause or end;
//! each beat is credited in Redis and the counts go to PostgreSQL in batches (as views
//! do), so a popular video does not make every beat write its row.
//!
//! Time is credited by the server's clock only: for each viewer and video Redis keeps the
//! instant up to which time was credited, and a beat gets at most the time since then
//! (and at most what it claims). However many sessions, tabs or beats a viewer sends at
//! once, their watch time cannot outrun the time that passed; a viewer's very first beat
//! only starts the clock. Viewers are told apart as views are ([`view_counter`]), and one
//! address counts as at most [`view_counter::ANONYMOUS_PER_ADDRESS`] anonymous viewers
//! of a video, so rotating the user agent cannot multiply time either. Every step of a
//! beat is one Lua script: parallel beats cannot both see the same credit.
//!
//! A playback is a *view* when it is the viewer's first of the video in 30 minutes;
//! later playbacks in that window (a reload) belong to the same view. A view *completes*
//! once a beat of one of its playbacks reports a position at 90% of the video or beyond.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use chrono::{Days, NaiveDate};
use redis::{AsyncCommands, Script};
use streambox_base::ids::VideoId;
use streambox_db::analytics::{self, DayCounts, RenditionDay, VideoDay};
use streambox_http::AppState;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::view_counter::{self, Viewer, ViewerKey};

/// How long a playback, and a viewer's credit clock, are remembered after their last beat.
const MEMORY: Duration = Duration::from_secs(60 * 60);
/// How long a view is remembered as completed (so its later beats do not complete it again).
const COMPLETION_MEMORY: Duration = Duration::from_secs(24 * 60 * 60);

/// One validated beat.
#[derive(Debug, Clone, Copy)]
pub struct Beat {
    /// The playback (a random id the player chose) this beat belongs to.
    pub session: Uuid,
    /// Where playback is, in milliseconds from the start.
    pub position_ms: u64,
    /// Playing time claimed since the playback's previous beat, in milliseconds.
    pub watched_ms: u64,
    /// Stalled time claimed since the previous beat, in milliseconds.
    pub stalled_ms: u64,
    /// On a playback's first beat: milliseconds from the play request to the first frame.
    pub startup_ms: Option<u64>,
    /// The height of the rendition playing.
    pub rendition: Option<u32>,
}

/// What a beat was credited.
#[derive(Debug, Clone, Copy)]
pub struct Credit {
    /// False when nothing of it counts: the address has as many anonymous viewers of the
    /// video as count.
    pub counted: bool,
    /// Playing time credited, in milliseconds.
    pub watched_ms: u64,
}

fn key(state: &AppState, what: &str) -> String {
    format!("{}:playback:{what}", state.config.queue_name)
}

/// ARGV: key prefix, video, playback, viewer, viewer's network digest (empty for a
/// signed-in viewer), watched ms, stalled ms, startup ms (-1: none), rendition height
/// (0: none), position ms, duration ms (0: unknown), view window s, anonymous viewers
/// per address, memory s, completion memory s. Answers {counted, watched ms, stalled ms}.
/// Pending counts go to the hash `pending`, one field per `video:epoch day:metric`.
const CREDIT: &str = r"
local prefix, video, session, who, network = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local watch, stall = tonumber(ARGV[6]), tonumber(ARGV[7])
local startup, height = tonumber(ARGV[8]), tonumber(ARGV[9])
local position, duration = tonumber(ARGV[10]), tonumber(ARGV[11])
local window, per_address = tonumber(ARGV[12]), tonumber(ARGV[13])
local memory, completion_memory = tonumber(ARGV[14]), tonumber(ARGV[15])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local day = math.floor(tonumber(time[1]) / 86400)
if network ~= '' then
  local viewers = prefix .. 'from:' .. video .. ':' .. network
  if redis.call('SISMEMBER', viewers, who) == 0 then
    if redis.call('SCARD', viewers) >= per_address then return {0, 0, 0} end
    redis.call('SADD', viewers, who)
  end
  redis.call('EXPIRE', viewers, window)
end
local playback = prefix .. 'session:' .. video .. ':' .. session
-- A playback is a view (or not) when it starts. Its later beats count for whoever sends
-- them: an anonymous viewer's identity changes when the daily salt does, mid-playback.
local started = redis.call('HEXISTS', playback, 'who') == 1
local pending = prefix .. 'pending'
local at = video .. ':' .. day .. ':'
if not started then
  local viewed = prefix .. 'viewed:' .. video .. ':' .. who
  local view = session
  if redis.call('SET', viewed, session, 'NX', 'EX', window) then
    redis.call('HINCRBY', pending, at .. 'views', 1)
  else
    view = redis.call('GET', viewed)
  end
  redis.call('HSET', playback, 'who', who, 'view', view)
  if startup >= 0 then
    redis.call('HINCRBY', pending, at .. 'startup_ms', startup)
    redis.call('HINCRBY', pending, at .. 'startups', 1)
  end
end
redis.call('EXPIRE', playback, memory)
local seen = prefix .. 'viewers:' .. video .. ':' .. day
if redis.call('SADD', seen, who) == 1 then
  redis.call('EXPIRE', seen, 2 * 86400)
  redis.call('HINCRBY', pending, at .. 'unique_viewers', 1)
end
local clock = prefix .. 'credited:' .. video .. ':' .. who
local credited_until = tonumber(redis.call('GET', clock))
local granted = 0
if credited_until then
  granted = math.max(0, now - math.max(credited_until, now - watch - stall))
end
redis.call('SET', clock, math.max(now, credited_until or 0), 'EX', memory)
local watched = math.min(watch, granted)
local stalled = math.min(stall, granted - watched)
if watched > 0 then
  redis.call('HINCRBY', pending, at .. 'watch_ms', watched)
  if height > 0 then redis.call('HINCRBY', pending, at .. 'r' .. height, watched) end
end
if stalled > 0 then redis.call('HINCRBY', pending, at .. 'stall_ms', stalled) end
if duration > 0 and position * 10 >= duration * 9 then
  local view = redis.call('HGET', playback, 'view')
  if redis.call('SET', prefix .. 'completed:' .. video .. ':' .. view, 1, 'NX', 'EX', completion_memory) then
    redis.call('HINCRBY', pending, at .. 'completed_views', 1)
  end
end
return {1, watched, stalled}
";

static CREDIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CREDIT));

/// Credits `beat` of `viewer` playing `video` (`duration_s` long, when known).
pub async fn record(
    state: &AppState,
    video: VideoId,
    duration_s: Option<f64>,
    viewer: &Viewer,
    beat: &Beat,
) -> anyhow::Result<Credit> {
    let ViewerKey { who, network } = view_counter::identify(state, viewer).await?;
    let duration_ms = duration_s.filter(|d| d.is_finite() && *d > 0.0).map_or(0, |d| (d * 1000.0) as u64);
    let (counted, watched_ms, _stalled_ms): (i64, u64, u64) = CREDIT_SCRIPT
        .arg(key(state, ""))
        .arg(video.to_string())
        .arg(beat.session.to_string())
        .arg(who)
        .arg(network.unwrap_or_default())
        .arg(beat.watched_ms)
        .arg(beat.stalled_ms)
        .arg(beat.startup_ms.map_or(-1, |ms| ms as i64))
        .arg(beat.rendition.unwrap_or(0))
        .arg(beat.position_ms)
        .arg(duration_ms)
        .arg(view_counter::WINDOW.as_secs())
        .arg(view_counter::ANONYMOUS_PER_ADDRESS)
        .arg(MEMORY.as_secs())
        .arg(COMPLETION_MEMORY.as_secs())
        .invoke_async(&mut state.queue.redis())
        .await
        .context("crediting a playback beat")?;
    Ok(Credit { counted: counted == 1, watched_ms })
}

/// Moves what is pending into a batch of its own (listed in `batches`, so any process
/// finds batches a failed flush or a dead process left) and answers every batch listed.
const TAKE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('SADD', KEYS[3], ARGV[1])
end
return redis.call('SMEMBERS', KEYS[3])
";

static TAKE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE));

fn batch_key(state: &AppState, batch: &str) -> String {
    key(state, &format!("batch:{batch}"))
}

/// Adds every beat credited so far to the database, and any batch left by an earlier
/// flush; returns how many batches this call added. A batch is added once: its id is
/// recorded with its counts, and a batch already recorded is only removed. When it
/// returns, everything credited before it was called is in the database (a batch
/// another process is adding meanwhile is waited for: recording its id waits on that
/// process's transaction).
pub async fn flush(state: &AppState) -> anyhow::Result<usize> {
    let batch = Uuid::new_v4().to_string();
    let batches: Vec<String> = TAKE_SCRIPT
        .key(key(state, "pending"))
        .key(batch_key(state, &batch))
        .key(key(state, "batches"))
        .arg(&batch)
        .invoke_async(&mut state.queue.redis())
        .await
        .context("taking pending playback counts")?;
    let mut added = 0;
    for batch in batches {
        added += usize::from(add_batch(state, &batch).await?);
    }
    Ok(added)
}

async fn add_batch(state: &AppState, batch: &str) -> anyhow::Result<bool> {
    let mut redis = state.queue.redis();
    let batch_key = batch_key(state, batch);
    let fields: Vec<(String, i64)> = redis.hgetall(&batch_key).await.context("reading a playback batch")?;
    let first = match Uuid::try_parse(batch) {
        Ok(id) if !fields.is_empty() => {
            let (days, renditions) = tally(&fields);
            analytics::add_batch(&state.db, id, &days, &renditions).await?
        }
        _ => false,
    };
    let _: () = redis::pipe()
        .del(&batch_key)
        .srem(key(state, "batches"), batch)
        .query_async(&mut redis)
        .await
        .context("removing a playback batch")?;
    Ok(first)
}

/// A batch's fields (`video:epoch day:metric` → count) as rows per video and day.
fn tally(fields: &[(String, i64)]) -> (Vec<VideoDay>, Vec<RenditionDay>) {
    let mut days: BTreeMap<(Uuid, NaiveDate), DayCounts> = BTreeMap::new();
    let mut renditions: BTreeMap<(Uuid, NaiveDate, i32), i64> = BTreeMap::new();
    for (field, count) in fields {
        let mut parts = field.splitn(3, ':');
        let (Some(video), Some(day), Some(metric)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let (Ok(video), Some(day)) = (Uuid::try_parse(video), day.parse().ok().and_then(epoch_day)) else { continue };
        if let Some(height) = metric.strip_prefix('r').and_then(|h| h.parse().ok()) {
            *renditions.entry((video, day, height)).or_default() += count;
            continue;
        }
        let counts = days.entry((video, day)).or_default();
        let slot = match metric {
            "views" => &mut counts.views,
            "unique_viewers" => &mut counts.unique_viewers,
            "watch_ms" => &mut counts.watch_ms,
            "completed_views" => &mut counts.completed_views,
            "startup_ms" => &mut counts.startup_ms,
            "startups" => &mut counts.startups,
            "stall_ms" => &mut counts.stall_ms,
            _ => continue,
        };
        *slot += count;
    }
    (
        days.into_iter().map(|((video, day), counts)| VideoDay { video: VideoId(video), day, counts }).collect(),
        renditions
            .into_iter()
            .map(|((video, day, height), watch_ms)| RenditionDay { video: VideoId(video), day, height, watch_ms })
            .collect(),
    )
}

/// The UTC day `days` days after 1970-01-01.
fn epoch_day(days: u64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_days(Days::new(days))
}

/// How often old batch ids are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60 * 60);

/// Flushes every `view_flush` until shutdown (and once more then).
pub async fn run(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut forgot_at = tokio::time::Instant::now();
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(state.config.view_flush) => false,
            () = shutdown.cancelled() => true,
        };
        if let Err(e) = flush(&state).await {
            tracing::warn!(error = %format!("{e:#}"), "flushing playback counts failed; will try again");
        }
        if stopping {
            return Ok(());
        }
        if forgot_at.elapsed() >= FORGET_EVERY {
            match analytics::forget_old_batches(&state.db).await {
                Ok(()) => forgot_at = tokio::time::Instant::now(),
                Err(e) => tracing::warn!(error = %e, "forgetting old playback batches failed; will try again"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_tallied_per_video_and_day_and_unknown_fields_are_skipped() {
        let video = Uuid::new_v4();
        let fields = vec![
            (format!("{video}:20426:views"), 2),
            (format!("{video}:20426:watch_ms"), 1500),
            (format!("{video}:20425:views"), 1),
            (format!("{video}:20426:r720"), 1000),
            (format!("{video}:20426:r480"), 500),
            (format!("{video}:20426:nonsense"), 9),
            ("garbage".to_owned(), 1),
        ];
        let (days, renditions) = tally(&fields);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].day, NaiveDate::from_ymd_opt(2025, 12, 3).unwrap());
        assert_eq!(days[0].counts.views, 1);
        assert_eq!((days[1].counts.views, days[1].counts.watch_ms), (2, 1500));
        assert_eq!(renditions.iter().map(|r| (r.height, r.watch_ms)).collect::<Vec<_>>(), [(480, 500), (720, 1000)]);
    }
}
