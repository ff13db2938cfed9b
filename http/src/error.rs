//! The one error type every HTTP handler returns.
//!
//! Client errors carry a stable `code` and a human `message`; server errors are
//! logged with their cause and answered without it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error_codes as codes;
use streambox_base::text::ValidationError;
use streambox_core::lifecycle::PurgeError;

/// An error answer: an HTTP status, a stable `code` from [`crate::error_codes`] and a
/// message for people. The server-error constructors and conversions log their cause
/// and answer without it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds a client should wait before trying again (`Retry-After`): outages, throttling.
    retry_after: Option<u32>,
}

/// What a handler returns: its answer, or an [`ApiError`] answered in the error format.
pub type ApiResult<T> = Result<T, ApiError>;

/// The body of every error answer.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody<'a> {
    /// Stable, for programs: what went wrong (one of [`codes::ALL`]).
    #[schemars(schema_with = "code_schema")]
    code: &'a str,
    /// For people: what to do about it.
    message: &'a str,
}

/// The codes an error can carry, each with what it means.
fn code_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let codes: Vec<_> = codes::ALL
        .iter()
        .map(|(code, meaning)| serde_json::json!({ "const": code, "description": meaning.trim() }))
        .collect();
    schemars::json_schema!({ "type": "string", "oneOf": codes })
}

impl ApiError {
    /// An error with any status; `code` is one of [`crate::error_codes`], and `message`
    /// is shown to the client as it is.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// 400 with `code`: the request is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 `unauthorized`: no valid access token (or wrong credentials).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
    }

    /// 403 `forbidden`: the caller is known but may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, message)
    }

    /// 404 `not_found` with the message "{what} not found"; also the answer for what
    /// exists but the caller may not see.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, format!("{what} not found"))
    }

    /// 409 with `code`: the request clashes with the resource's current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// A request field failed validation; the message names the field.
    pub fn invalid_field(field: &str, problem: &str) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, codes::INVALID_FIELD, format!("{field}: {problem}"))
    }

    /// 503 `unavailable`: `what`, named in the message, is away; no `Retry-After` is sent.
    pub fn unavailable(what: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            format!("{what} is unavailable, try again shortly"),
        )
    }

    /// Object storage failed to answer: the request may be repeated once it is back.
    /// The cause goes to the log only.
    pub fn storage(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "object storage failed");
        Self::retryable(codes::STORAGE_UNAVAILABLE, "file storage is unavailable; try again shortly")
    }

    /// 429: the client must wait `retry_after` seconds (sent as `Retry-After`).
    pub fn too_many(code: &'static str, message: impl Into<String>, retry_after: u32) -> Self {
        Self { retry_after: Some(retry_after.max(1)), ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message) }
    }

    /// A dependency is away for now: 503 with `Retry-After`.
    fn retryable(code: &'static str, message: &str) -> Self {
        Self { retry_after: Some(RETRY_AFTER_SECS), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message) }
    }

    /// An unexpected failure: the cause goes to the log, never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, "internal error")
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `code` this error carries, one of [`crate::error_codes`].
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

/// What a client is told to wait while a dependency is away.
const RETRY_AFTER_SECS: u32 = 5;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { code: self.code, message: &self.message };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// A validated value refused: 422 naming the field. Validation knows nothing of HTTP;
/// this is where its errors become answers.
impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::invalid_field(e.field, &e.problem)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // The database is away, restarting or saturated, not broken by this request:
            // say so. (A server going down mid-handshake shows as a protocol or TLS error.)
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => {
                tracing::error!(error = %e, "database unavailable");
                Self::retryable(codes::DATABASE_UNAVAILABLE, "the database is unavailable; try again shortly")
            }
            e => Self::internal(format_args!("database: {e}")),
        }
    }
}

impl From<PurgeError> for ApiError {
    fn from(e: PurgeError) -> Self {
        match e {
            PurgeError::Storage(e) => ApiError::storage(format!("removing objects of a deleted video: {e:#}")),
            PurgeError::Database(e) => e.into(),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<sqlx::Error>() {
            Ok(db) => db.into(),
            Err(e) => Self::internal(format_args!("{e:#}")),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        Self::new(rejection.status(), codes::INVALID_BODY, rejection.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::bad_request(codes::INVALID_PATH, rejection.body_text())
    }
}

/// `axum::Json` whose rejections answer in our error format.
#[derive(axum::extract::FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Path` whose rejections answer in our error format.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(codes::INVALID_QUERY, rejection.body_text())
    }
}

/// `axum::extract::Query` whose rejections answer in our error format.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
