//! Feeds and search: public, ready videos only, whoever asks.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use streambox_base::ids::UserId;
use streambox_db::feeds::{self, Cursor};
use streambox_http::auth::AuthUser;
use streambox_http::error::{ApiPath, ApiQuery};
use streambox_http::{ApiError, ApiResult, AppState};

use super::pages::{Page, PageQuery};
use super::videos::VideoView;

pub async fn latest(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<VideoView>>> {
    let limit = page.limit()?;
    let videos = feeds::latest(&state.db, page.cursor()?, limit).await?;
    Ok(Json(Page::of(videos, limit, Cursor::after_created, VideoView::from)))
}

pub async fn by_creator(
    State(state): State<AppState>,
    ApiPath(creator): ApiPath<UserId>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<VideoView>>> {
    let limit = page.limit()?;
    let videos = feeds::by_creator(&state.db, creator, page.cursor()?, limit).await?;
    Ok(Json(Page::of(videos, limit, Cursor::after_created, VideoView::from)))
}

pub async fn following(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<VideoView>>> {
    let limit = page.limit()?;
    let videos = feeds::following(&state.db, user.id, page.cursor()?, limit).await?;
    Ok(Json(Page::of(videos, limit, Cursor::after_created, VideoView::from)))
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct PopularVideo {
    #[serde(flatten)]
    video: VideoView,
    /// Views over the window the feed ranks by.
    recent_views: i64,
}

pub async fn popular(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<PopularVideo>>> {
    let limit = page.limit()?;
    let rows = feeds::popular(&state.db, page.cursor()?, limit).await?;
    Ok(Json(Page::of(
        rows,
        limit,
        |(video, views)| Cursor { key: *views, id: video.id.0 },
        |(video, recent_views)| PopularVideo { video: video.into(), recent_views },
    )))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    #[schemars(length(max = 200))]
    q: String,
    #[serde(default)]
    #[schemars(range(min = 0))]
    offset: i64,
    #[schemars(range(min = 1, max = 100))]
    limit: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct SearchResults {
    items: Vec<VideoView>,
    /// Pass as `offset` for the next page; absent on the last one.
    next_offset: Option<i64>,
}

pub async fn search(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> ApiResult<Json<SearchResults>> {
    if query.q.chars().count() > 200 {
        return Err(ApiError::invalid_field("q", "is longer than 200 characters"));
    }
    let limit = match query.limit {
        None => 20,
        Some(limit @ 1..=100) => limit,
        Some(_) => return Err(ApiError::invalid_field("limit", "must be between 1 and 100")),
    };
    let deepest = feeds::SEARCH_DEPTH - limit;
    if !(0..=deepest).contains(&query.offset) {
        return Err(ApiError::invalid_field("offset", &format!("must be between 0 and {deepest} for this limit")));
    }
    let Some(words) = feeds::query_words(&query.q) else {
        return Err(ApiError::invalid_field("q", "needs at least one letter or digit"));
    };
    let videos = feeds::search(&state.db, &words, query.offset, limit).await?;
    let next_offset = (videos.len() as i64 == limit && query.offset + 2 * limit <= feeds::SEARCH_DEPTH)
        .then_some(query.offset + limit);
    Ok(Json(SearchResults { items: videos.into_iter().map(VideoView::from).collect(), next_offset }))
}
