//! Creator analytics: the player's heartbeats in (`POST /api/v1/videos/{id}/heartbeats`,
//! anyone who may watch), and what they add up to out, per day and in total, for one
//! video (`GET /api/v1/videos/{id}/analytics`, its owner or an admin) or all of a
//! creator's (`GET /api/v1/me/analytics`). Reads first flush the beats credited so far,
//! so they are never behind the beats already answered.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use streambox_base::ids::VideoId;
use streambox_db::analytics::{self, Day, DayCounts, Scope};
use streambox_http::auth::AuthUser;
use streambox_http::client_address::ClientAddress;
use streambox_http::error::{ApiJson, ApiPath, ApiQuery};
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};
use uuid::Uuid;

use super::video_access::{manageable, viewable};
use crate::playback_beats::{self, Beat};
use crate::view_counter::Viewer;

/// The largest beat body taken: a beat is a few short fields.
pub const BEAT_BODY_LIMIT: usize = 1024;
/// Most playing (or stalled) time one beat may claim: a background tab's player may
/// beat only once a minute, so twice that.
const MAX_BEAT_SECONDS: f64 = 120.0;
/// Longest startup a beat may report.
const MAX_STARTUP_MS: u32 = 600_000;
/// Tallest rendition a beat may name.
const MAX_RENDITION: u32 = 10_000;
/// A position where the video's duration is not known yet: at most this.
const MAX_POSITION_S: f64 = 7.0 * 86_400.0;
/// Days a report covers unless asked, and at most.
const DEFAULT_DAYS: i64 = 28;
const MAX_DAYS: i64 = 366;
/// Videos in a creator's top list.
const TOP_VIDEOS: i64 = 10;

/// What a player reports while playing (every ~10 s) and on pause, end and page hide.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// A random id the player chose for this playback (one page's playing of the video).
    session: Uuid,
    /// Where playback is, in seconds from the start.
    #[schemars(range(min = 0.0))]
    position_s: f64,
    /// Seconds of video played since this playback's previous beat.
    #[schemars(range(min = 0.0, max = MAX_BEAT_SECONDS))]
    watched_s: f64,
    /// Milliseconds spent stalled (rebuffering) since the previous beat.
    #[serde(default)]
    #[schemars(range(max = 120_000))]
    stalled_ms: u32,
    /// On the playback's first beat: milliseconds from the play request to the first frame.
    #[schemars(range(max = MAX_STARTUP_MS))]
    startup_ms: Option<u32>,
    /// The height (short side, as in `720p`) of the rendition playing.
    #[schemars(range(min = 1, max = MAX_RENDITION))]
    rendition: Option<u32>,
}

impl Heartbeat {
    /// The beat, if every field is within its bounds (`duration_s`: the video's length).
    fn parse(&self, duration_s: Option<f64>) -> Result<Beat, ApiError> {
        let longest = duration_s.map_or(MAX_POSITION_S, |d| d + 1.0);
        if !(self.position_s.is_finite() && (0.0..=longest).contains(&self.position_s)) {
            return Err(ApiError::invalid_field("position_s", "must be a position within the video, in seconds"));
        }
        if !(self.watched_s.is_finite() && (0.0..=MAX_BEAT_SECONDS).contains(&self.watched_s)) {
            return Err(ApiError::invalid_field("watched_s", "must be between 0 and 120 seconds"));
        }
        if f64::from(self.stalled_ms) > MAX_BEAT_SECONDS * 1000.0 {
            return Err(ApiError::invalid_field("stalled_ms", "must be between 0 and 120000"));
        }
        if self.startup_ms.is_some_and(|ms| ms > MAX_STARTUP_MS) {
            return Err(ApiError::invalid_field("startup_ms", "must be between 0 and 600000"));
        }
        if self.rendition.is_some_and(|h| !(1..=MAX_RENDITION).contains(&h)) {
            return Err(ApiError::invalid_field("rendition", "must be a rendition's height in pixels"));
        }
        Ok(Beat {
            session: self.session,
            position_ms: (self.position_s * 1000.0) as u64,
            watched_ms: (self.watched_s * 1000.0) as u64,
            stalled_ms: u64::from(self.stalled_ms),
            startup_ms: self.startup_ms.map(u64::from),
            rendition: self.rendition,
        })
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct BeatTaken {
    /// False when nothing of the beat counts: one address counts as at most three
    /// anonymous viewers of a video.
    counted: bool,
    /// Playing time credited: at most what was claimed, and at most the time since this
    /// viewer's previous beat of the video (a viewer's first beat starts the clock).
    credited_s: f64,
}

#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn beat(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(id): ApiPath<VideoId>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    ApiJson(heartbeat): ApiJson<Heartbeat>,
) -> ApiResult<(StatusCode, Json<BeatTaken>)> {
    let video = viewable(&state, id, viewer).await?;
    if !video.is_playable() {
        return Err(ApiError::conflict(codes::NOT_READY, "the video is not ready to play yet"));
    }
    let beat = heartbeat.parse(video.duration_s)?;
    let who = Viewer::of(viewer, address, &headers);
    let credit = playback_beats::record(&state, id, video.duration_s, &who, &beat).await.map_err(|e| {
        tracing::warn!(error = %format!("{e:#}"), "could not credit a playback beat");
        ApiError::unavailable("playback analytics")
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BeatTaken { counted: credit.counted, credited_s: credit.watched_ms as f64 / 1000.0 }),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    /// How many days up to today (UTC) to report, today included (default 28).
    #[schemars(range(min = 1, max = MAX_DAYS))]
    days: Option<i64>,
}

impl AnalyticsQuery {
    /// The first and last day of the range.
    fn range(&self) -> ApiResult<(NaiveDate, NaiveDate)> {
        let days = self.days.unwrap_or(DEFAULT_DAYS);
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(ApiError::invalid_field("days", &format!("must be between 1 and {MAX_DAYS}")));
        }
        let to = Utc::now().date_naive();
        let from = to.checked_sub_days(Days::new(days as u64 - 1)).unwrap_or(to);
        Ok((from, to))
    }
}

/// Counts of a day, or of a range in total.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Stats {
    /// Playbacks started: at most one per viewer per video per 30 minutes.
    views: i64,
    /// Viewers seen (anonymous viewers are told apart within a day only: over several
    /// days this is the sum of each day's).
    unique_viewers: i64,
    /// Playing time, in seconds.
    watch_s: f64,
    /// Watch time per view, in seconds (null without views).
    average_view_duration_s: Option<f64>,
    /// Views whose playback reached 90% of the video.
    completed_views: i64,
    /// `completed_views / views` (null without views).
    completion_rate: Option<f64>,
    /// Mean time from the play request to the first frame, in ms (null when none was reported).
    average_startup_ms: Option<f64>,
    /// Stalled time / (watch time + stalled time) (null when nothing played).
    rebuffering_ratio: Option<f64>,
}

impl From<&DayCounts> for Stats {
    fn from(c: &DayCounts) -> Self {
        let ratio = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
        Self {
            views: c.views,
            unique_viewers: c.unique_viewers,
            watch_s: c.watch_ms as f64 / 1000.0,
            average_view_duration_s: ratio(c.watch_ms, c.views).map(|ms| ms / 1000.0),
            completed_views: c.completed_views,
            completion_rate: ratio(c.completed_views, c.views),
            average_startup_ms: ratio(c.startup_ms, c.startups),
            rebuffering_ratio: ratio(c.stall_ms, c.watch_ms + c.stall_ms),
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct DayStats {
    /// The UTC day.
    day: NaiveDate,
    #[serde(flatten)]
    stats: Stats,
}

/// Watch time of one rendition.
#[derive(Serialize, schemars::JsonSchema)]
pub struct RenditionShare {
    /// Its height (short side) in pixels.
    height: i32,
    watch_s: f64,
    /// Its part of the watch time of the renditions reported, 0–1.
    share: f64,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Report {
    /// First day of the range (UTC).
    from: NaiveDate,
    /// Last day of the range: today (UTC).
    to: NaiveDate,
    /// The whole range.
    totals: Stats,
    /// Watch time per rendition played, tallest first.
    renditions: Vec<RenditionShare>,
    /// Every day of the range, oldest first (zeros where nothing was played).
    days: Vec<DayStats>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct VideoAnalytics {
    video_id: VideoId,
    #[serde(flatten)]
    report: Report,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct TopVideo {
    id: VideoId,
    title: String,
    views: i64,
    watch_s: f64,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct CreatorAnalytics {
    #[serde(flatten)]
    report: Report,
    /// The most watched videos of the range, most watch time first.
    top_videos: Vec<TopVideo>,
}

async fn report(state: &AppState, scope: Scope, (from, to): (NaiveDate, NaiveDate)) -> ApiResult<Report> {
    playback_beats::flush(state).await.map_err(|e| match e.downcast::<sqlx::Error>() {
        Ok(db) => ApiError::from(db),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "could not flush playback counts before a report");
            ApiError::unavailable("playback analytics")
        }
    })?;
    let days: Vec<Day> = analytics::daily(&state.db, scope, from, to).await?;
    let mut totals = DayCounts::default();
    for day in &days {
        totals.add(&day.counts);
    }
    let renditions = analytics::renditions(&state.db, scope, from, to).await?;
    let rendition_ms: i64 = renditions.iter().map(|(_, ms)| ms).sum();
    Ok(Report {
        from,
        to,
        totals: Stats::from(&totals),
        renditions: renditions
            .into_iter()
            .map(|(height, ms)| RenditionShare {
                height,
                watch_s: ms as f64 / 1000.0,
                share: if rendition_ms > 0 { ms as f64 / rendition_ms as f64 } else { 0.0 },
            })
            .collect(),
        days: days.iter().map(|d| DayStats { day: d.day, stats: Stats::from(&d.counts) }).collect(),
    })
}

#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn video(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    ApiQuery(query): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Json<VideoAnalytics>> {
    let range = query.range()?;
    manageable(&state, id, user).await?;
    Ok(Json(VideoAnalytics { video_id: id, report: report(&state, Scope::Video(id), range).await? }))
}

#[tracing::instrument(skip_all)]
pub async fn mine(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Json<CreatorAnalytics>> {
    let range = query.range()?;
    let report = report(&state, Scope::Owner(user.id), range).await?;
    let top = analytics::top_videos(&state.db, user.id, range.0, range.1, TOP_VIDEOS).await?;
    Ok(Json(CreatorAnalytics {
        report,
        top_videos: top
            .into_iter()
            .map(|v| TopVideo { id: v.id, title: v.title, views: v.views, watch_s: v.watch_ms as f64 / 1000.0 })
            .collect(),
    }))
}
