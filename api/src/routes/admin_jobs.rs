//! Operator endpoints (admins only): inspect, retry and discard transcode jobs.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use streambox_base::ids::JobId;
use streambox_core::operator::{self, OperatorError};
use streambox_db::chunks::{self, Chunk};
use streambox_db::jobs::{self, Job, JobState};
use streambox_db::videos::{self, VideoStatus};
use streambox_http::auth::AdminUser;
use streambox_http::error::ApiPath;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

const MAX_PER_PAGE: i64 = 200;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[schemars(with = "Option<JobState>")]
    state: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct JobList {
    jobs: Vec<Job>,
    counts: BTreeMap<JobState, i64>,
    page: i64,
    per_page: i64,
    /// Jobs matching the filter, across all pages.
    total: i64,
}

#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<JobList>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e.body_text()))?;
    let filter = query
        .state
        .as_deref()
        .map(str::parse::<JobState>)
        .transpose()
        .map_err(|e| ApiError::bad_request(codes::INVALID_QUERY, e))?;
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(50);
    let offset = page.checked_sub(1).and_then(|before| before.checked_mul(per_page));
    let Some(offset) = offset.filter(|_| page >= 1 && (1..=MAX_PER_PAGE).contains(&per_page)) else {
        return Err(ApiError::bad_request(
            codes::INVALID_QUERY,
            format!(
                "page must be a page number from 1 (and pages * per_page within 2^63) and per_page 1..={MAX_PER_PAGE}"
            ),
        ));
    };
    let counts = jobs::counts(&state.db).await?;
    let total = filter.map_or_else(|| counts.values().sum(), |s| counts[&s]);
    let jobs = jobs::list(&state.db, filter, per_page, offset).await?;
    Ok(Json(JobList { jobs, counts, page, per_page, total }))
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    job: Job,
    video: Option<VideoSummary>,
    /// A chunked job's parts, in schedule order (video chunks, the audio, the
    /// finishing step), each with its own state, attempts, worker and errors; empty for
    /// a job encoded in one run.
    chunks: Vec<Chunk>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct VideoSummary {
    title: String,
    status: VideoStatus,
    error: Option<String>,
}

#[tracing::instrument(skip_all, fields(job = %id))]
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<JobDetail>> {
    let job = jobs::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("job"))?;
    detail(&state, job).await.map(Json)
}

async fn detail(state: &AppState, job: Job) -> ApiResult<JobDetail> {
    let video = videos::find(&state.db, job.video_id).await?;
    let video = video.map(|v| VideoSummary { title: v.title, status: v.status, error: v.error });
    let chunks = chunks::of_job(&state.db, job.id).await?;
    Ok(JobDetail { job, video, chunks })
}

#[tracing::instrument(skip_all, fields(job = %id))]
pub async fn retry(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<JobDetail>> {
    let job = operator::retry(&state.db, &state.queue, id).await.map_err(operator_error)?;
    detail(&state, job).await.map(Json)
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Retried {
    retried: usize,
}

#[tracing::instrument(skip_all)]
pub async fn retry_dead(State(state): State<AppState>, _admin: AdminUser) -> ApiResult<Json<Retried>> {
    let retried = operator::retry_dead(&state.db, &state.queue).await.map_err(operator_error)?;
    Ok(Json(Retried { retried }))
}

#[tracing::instrument(skip_all, fields(job = %id))]
pub async fn discard(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<JobDetail>> {
    let job = operator::discard(&state.db, id).await.map_err(operator_error)?;
    detail(&state, job).await.map(Json)
}

fn operator_error(e: OperatorError) -> ApiError {
    match e {
        OperatorError::NotFound(_) => ApiError::not_found("job"),
        e @ OperatorError::NotDead(..) => ApiError::new(StatusCode::CONFLICT, codes::JOB_NOT_DEAD, e.to_string()),
        OperatorError::Failed(e) => e.into(),
    }
}
