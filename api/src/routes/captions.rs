//! A video's caption tracks: owners (and admins) upload a WebVTT or SRT file per
//! language, replace it by uploading again, and delete it; whoever may see the video
//! lists them and reads each as WebVTT. Every change re-publishes the master playlist
//! (`streambox_core::captions::publish`), so players find the tracks at once.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streambox_base::ids::VideoId;
use streambox_base::language::LanguageTag;
use streambox_base::text::TextRule;
use streambox_core::captions::publish::{self, Change};
use streambox_core::captions::webvtt::{self, CaptionError};
use streambox_db::captions::{self, Caption, CaptionSource};
use streambox_http::auth::AuthUser;
use streambox_http::error::{ApiPath, ApiQuery};
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};
use streambox_storage::layout::{self, PLAYLIST};

use super::video_access::{manageable, viewable};

/// The largest caption file taken.
pub const MAX_BYTES: usize = 1024 * 1024;
/// How long the whole file may take to arrive.
const BODY_TIME: Duration = Duration::from_secs(30);
const LABEL: TextRule = TextRule { field: "label", min_chars: 1, max_chars: 64, multiline: false };

/// A caption track as listed.
#[derive(Serialize, schemars::JsonSchema)]
pub struct CaptionView {
    /// The BCP 47 language tag, canonical (`pt-BR`).
    lang: String,
    /// The name players show.
    label: String,
    /// `uploaded` by the owner, or `embedded` in the source and taken from it.
    source: CaptionSource,
    /// The whole track as WebVTT (this API).
    url: String,
    /// The track's HLS subtitle playlist (the streamer), as the master names it; a
    /// video that is not public needs its playback token there.
    playlist_url: String,
    updated_at: DateTime<Utc>,
}

impl CaptionView {
    fn of(video: VideoId, caption: Caption) -> Self {
        let rendition =
            LanguageTag::parse(&caption.lang).map(|l| layout::caption_rendition_name(&l)).unwrap_or_default();
        Self {
            url: format!("/api/v1/videos/{video}/captions/{}", caption.lang),
            playlist_url: format!("/hls/{video}/{rendition}/{PLAYLIST}"),
            lang: caption.lang,
            label: caption.label,
            source: caption.source,
            updated_at: caption.updated_at,
        }
    }
}

/// A video's caption tracks.
#[derive(Serialize, schemars::JsonSchema)]
pub struct CaptionList {
    captions: Vec<CaptionView>,
}

/// What an upload may say besides its file.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct UploadQuery {
    /// The name players show for the track (1 to 64 characters, no `"`); the language
    /// tag when not given.
    label: Option<String>,
}

#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn list(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<Json<CaptionList>> {
    viewable(&state, id, viewer).await?;
    let captions = captions::list(&state.db, id).await?.into_iter().map(|c| CaptionView::of(id, c)).collect();
    Ok(Json(CaptionList { captions }))
}

#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn get(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath((id, lang)): ApiPath<(VideoId, String)>,
) -> ApiResult<Response> {
    let lang = language(&lang)?;
    viewable(&state, id, viewer).await?;
    let caption = captions::find(&state.db, id, lang.as_str()).await?.ok_or_else(|| ApiError::not_found("caption"))?;
    Ok(([(header::CONTENT_TYPE, "text/vtt; charset=utf-8"), (header::CACHE_CONTROL, "private, no-cache")], caption.vtt)
        .into_response())
}

#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, lang)): ApiPath<(VideoId, String)>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<CaptionView>)> {
    let lang = language(&lang)?;
    let label = match query.label {
        Some(label) => LABEL.check(&label)?,
        None => lang.to_string(),
    };
    if label.contains('"') {
        return Err(ApiError::invalid_field("label", "must not contain \""));
    }
    manageable(&state, id, user).await?;
    let file = receive(body).await?;
    let vtt = webvtt::render(&webvtt::parse(&file).map_err(refused)?);
    let change = Change::Put { lang: &lang, label: &label, source: CaptionSource::Uploaded, vtt: &vtt };
    if !publish::change(&state.db, &state.storage, id, change).await.map_err(unpublished)? {
        return Err(ApiError::not_found("video"));
    }
    let caption = captions::find(&state.db, id, lang.as_str()).await?.ok_or_else(|| ApiError::not_found("caption"))?;
    tracing::info!(lang = %lang, "caption track uploaded");
    Ok((StatusCode::CREATED, Json(CaptionView::of(id, caption))))
}

#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, lang)): ApiPath<(VideoId, String)>,
) -> ApiResult<StatusCode> {
    let lang = language(&lang)?;
    manageable(&state, id, user).await?;
    if !publish::change(&state.db, &state.storage, id, Change::Delete(&lang)).await.map_err(unpublished)? {
        return Err(ApiError::not_found("caption"));
    }
    tracing::info!(lang = %lang, "caption track deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn language(raw: &str) -> ApiResult<LanguageTag> {
    LanguageTag::parse(raw).map_err(|e| ApiError::bad_request(codes::INVALID_LANGUAGE, e.to_string()))
}

/// The file, whole: at most [`MAX_BYTES`], within [`BODY_TIME`].
async fn receive(body: Body) -> ApiResult<bytes::Bytes> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::TOO_LARGE,
            format!("caption files are limited to {MAX_BYTES} bytes"),
        )
    };
    match tokio::time::timeout(BODY_TIME, axum::body::to_bytes(body, MAX_BYTES)).await {
        Err(_) => {
            Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, codes::REQUEST_TIMEOUT, "the file took too long to arrive"))
        }
        Ok(Err(e)) if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) => {
            Err(too_large())
        }
        Ok(Err(_)) => Err(ApiError::bad_request(codes::INCOMPLETE_BODY, "the file did not arrive whole")),
        Ok(Ok(file)) => Ok(file),
    }
}

fn refused(e: CaptionError) -> ApiError {
    let code = match e {
        CaptionError::NotText => codes::CAPTION_NOT_TEXT,
        CaptionError::Unparsable(_) => codes::CAPTION_UNPARSABLE,
    };
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
}

/// A change that could not be published: the database's answer if it was the database,
/// otherwise storage's (the change is rolled back, so it may be sent again).
fn unpublished(e: anyhow::Error) -> ApiError {
    match e.downcast::<sqlx::Error>() {
        Ok(db) => db.into(),
        Err(e) => ApiError::storage(format_args!("{e:#}")),
    }
}
