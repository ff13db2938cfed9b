//! What every request meets first and every answer passes last, in every mode:
//! bounds on the request target and headers, a small body limit for everything that
//! is not a file upload (those routes lift it and bound the file themselves), an idle
//! timeout on request bodies, and the JSON error shape on answers the framework gives
//! itself (no route, wrong method, a rejected extractor), which come with no body.

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, AppState};
use tower_http::timeout::TimeoutBody;

use crate::listener::BODY_IDLE_TIMEOUT;

/// Longest request target (path and query) answered; longer is 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header fields, and their total size, answered; more is 431.
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Largest body of a route that takes JSON or nothing.
pub const BODY_LIMIT: usize = 64 * 1024;

/// `router` with the edge rules applied to every route.
pub fn apply(router: Router<AppState>) -> Router<AppState> {
    router.layer(DefaultBodyLimit::max(BODY_LIMIT)).layer(middleware::from_fn(edge))
}

async fn edge(request: Request, next: Next) -> Response {
    if let Some(refused) = out_of_bounds(&request) {
        return refused.into_response();
    }
    let request = request.map(|body| Body::new(TimeoutBody::new(BODY_IDLE_TIMEOUT, body)));
    with_error_body(next.run(request).await)
}

fn out_of_bounds(request: &Request) -> Option<ApiError> {
    let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            codes::URI_TOO_LONG,
            format!("the request target may be at most {MAX_URI_BYTES} bytes"),
        ));
    }
    let headers = request.headers();
    let bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            codes::HEADERS_TOO_LARGE,
            format!("a request may carry at most {MAX_HEADERS} header fields and {MAX_HEADER_BYTES} bytes of them"),
        ));
    }
    None
}

/// An error answer without a body of its own gets the JSON shape, headers kept
/// (`Allow` of a 405, say).
fn with_error_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let (code, message) = describe(status);
    let body = ApiError::new(status, code, message).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    let (body_parts, body) = body.into_parts();
    parts.headers.extend(body_parts.headers);
    Response::from_parts(parts, body)
}

fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => (codes::BAD_REQUEST, "the request is malformed"),
        StatusCode::NOT_FOUND => (codes::NOT_FOUND, "there is nothing at this address"),
        StatusCode::METHOD_NOT_ALLOWED => (codes::METHOD_NOT_ALLOWED, "this address does not take that method"),
        StatusCode::REQUEST_TIMEOUT => (codes::REQUEST_TIMEOUT, "the request took too long to arrive"),
        StatusCode::PAYLOAD_TOO_LARGE => (codes::TOO_LARGE, "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (codes::UNSUPPORTED_MEDIA_TYPE, "the request body has the wrong type"),
        s if s.is_server_error() => (codes::INTERNAL, "internal error"),
        _ => (codes::ERROR, "the request could not be answered"),
    }
}
