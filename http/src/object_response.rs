//! HTTP answers for stored objects: `ETag` / `If-None-Match` and `Last-Modified` /
//! `If-Modified-Since` (304), single byte ranges (206, 416), `Accept-Ranges`, and
//! bodies either from memory or streamed from storage — never buffered whole.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio_util::io::ReaderStream;

use crate::byte_range::{self, RangeAnswer};
use crate::error::{ApiError, ApiResult};
use crate::error_codes as codes;
use streambox_storage::{ObjectMeta, ObjectStore};

/// How to answer, before any body is touched.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// 304: a validator of the request (`If-None-Match`, else `If-Modified-Since`)
    /// matches the stored object.
    NotModified,
    /// 200 with the whole object: no range, or one not served as a range.
    Whole,
    /// 206 with these bytes (inclusive offsets into the object).
    Partial(std::ops::RangeInclusive<u64>),
    /// 416: no byte of the object is in the range asked for.
    Unsatisfiable,
}

/// Decides the answer to `request`'s headers about the object `meta` describes: its
/// validators first, then its `Range`, which an `If-Range` naming an older object
/// turns into a whole answer.
pub fn decide(request: &HeaderMap, meta: &ObjectMeta) -> Decision {
    if not_modified(request, meta) {
        return Decision::NotModified;
    }
    let range = request.get(header::RANGE).filter(|_| range_applies(request, meta));
    match byte_range::answer(range.and_then(|v| v.to_str().ok()), meta.len) {
        RangeAnswer::Whole => Decision::Whole,
        RangeAnswer::Partial(range) => Decision::Partial(range),
        RangeAnswer::Unsatisfiable => Decision::Unsatisfiable,
    }
}

/// RFC 9110 §13.1: If-None-Match wins over If-Modified-Since.
fn not_modified(request: &HeaderMap, meta: &ObjectMeta) -> bool {
    if let Some(candidates) = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        let Some(e_tag) = &meta.e_tag else { return false };
        return candidates.split(',').map(str::trim).any(|c| c == "*" || c.trim_start_matches("W/") == e_tag);
    }
    let since = request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    match (since, meta.last_modified) {
        // HTTP dates have whole seconds.
        (Some(since), Some(modified)) => {
            httpdate::fmt_http_date(modified) == httpdate::fmt_http_date(since) || modified <= since
        }
        _ => false,
    }
}

/// RFC 9110 §13.1.5: with `If-Range`, a range is served only if the validator names
/// the current object — a strong ETag, or exactly its Last-Modified date; otherwise
/// the client's earlier bytes are stale and it gets the whole object.
fn range_applies(request: &HeaderMap, meta: &ObjectMeta) -> bool {
    let Some(validator) = request.get(header::IF_RANGE) else { return true };
    let Ok(validator) = validator.to_str().map(str::trim) else { return false };
    if validator.starts_with('"') {
        return meta.e_tag.as_deref() == Some(validator);
    }
    match (httpdate::parse_http_date(validator), meta.last_modified) {
        (Ok(date), Some(modified)) => httpdate::fmt_http_date(modified) == httpdate::fmt_http_date(date),
        _ => false,
    }
}

/// Headers every answer about the object carries.
fn headers(response: &mut Response, meta: &ObjectMeta, content_type: &str, cache_control: &str) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(e_tag) = meta.e_tag.as_deref().and_then(|e| HeaderValue::from_str(e).ok()) {
        headers.insert(header::ETAG, e_tag);
    }
    if let Some(value) = meta.last_modified.and_then(|m| HeaderValue::from_str(&httpdate::fmt_http_date(m)).ok()) {
        headers.insert(header::LAST_MODIFIED, value);
    }
}

fn shell(status: StatusCode, body: Body, meta: &ObjectMeta, content_type: &str, cache_control: &str) -> Response {
    let mut response = (status, body).into_response();
    headers(&mut response, meta, content_type, cache_control);
    response
}

fn unsatisfiable(meta: &ObjectMeta) -> Response {
    let mut response = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        codes::RANGE_NOT_SATISFIABLE,
        "the range is outside the object",
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", meta.len)) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

/// Answers from an object held in memory (slices are zero-copy).
pub fn from_bytes(
    request: &HeaderMap,
    body: &Bytes,
    meta: &ObjectMeta,
    content_type: &str,
    cache_control: &str,
) -> Response {
    match decide(request, meta) {
        Decision::NotModified => shell(StatusCode::NOT_MODIFIED, Body::empty(), meta, content_type, cache_control),
        Decision::Whole => {
            let mut response = shell(StatusCode::OK, Body::from(body.clone()), meta, content_type, cache_control);
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len));
            response
        }
        Decision::Partial(range) => {
            let slice = body.slice(*range.start() as usize..=*range.end() as usize);
            partial(Body::from(slice), &range, meta, content_type, cache_control)
        }
        Decision::Unsatisfiable => unsatisfiable(meta),
    }
}

fn partial(
    body: Body,
    range: &std::ops::RangeInclusive<u64>,
    meta: &ObjectMeta,
    content_type: &str,
    cache: &str,
) -> Response {
    let mut response = shell(StatusCode::PARTIAL_CONTENT, body, meta, content_type, cache);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(range.end() - range.start() + 1));
    if let Ok(value) = HeaderValue::from_str(&byte_range::content_range(range, meta.len)) {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

/// Answers by streaming from storage (a HEAD first, then a GET of just the bytes needed).
/// `Ok(None)` when the object does not exist.
pub async fn from_storage(
    storage: &ObjectStore,
    key: &str,
    request: &HeaderMap,
    content_type: &str,
    cache_control: &str,
) -> ApiResult<Option<Response>> {
    let Some(meta) = storage.head(key).await? else { return Ok(None) };
    let decision = decide(request, &meta);
    let range = match &decision {
        Decision::NotModified => {
            return Ok(Some(shell(StatusCode::NOT_MODIFIED, Body::empty(), &meta, content_type, cache_control)));
        }
        Decision::Unsatisfiable => return Ok(Some(unsatisfiable(&meta))),
        Decision::Whole => None,
        Decision::Partial(range) => Some(format!("bytes={}-{}", range.start(), range.end())),
    };
    let object = storage.get_range(key, range).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let body = Body::from_stream(ReaderStream::new(object.body.into_async_read()));
    Ok(Some(match decision {
        Decision::Partial(range) => partial(body, &range, &meta, content_type, cache_control),
        _ => {
            let mut response = shell(StatusCode::OK, body, &meta, content_type, cache_control);
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len));
            response
        }
    }))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn meta() -> ObjectMeta {
        ObjectMeta {
            len: 100,
            e_tag: Some("\"abc\"".into()),
            last_modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        }
    }

    fn request(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap())).collect()
    }

    #[test]
    fn validators_and_ranges_decide_the_answer() {
        let m = meta();
        assert_eq!(decide(&request(&[]), &m), Decision::Whole);
        assert_eq!(decide(&request(&[(header::IF_NONE_MATCH, "\"abc\"")]), &m), Decision::NotModified);
        assert_eq!(decide(&request(&[(header::IF_NONE_MATCH, "\"x\", W/\"abc\"")]), &m), Decision::NotModified);
        assert_eq!(decide(&request(&[(header::IF_NONE_MATCH, "\"other\"")]), &m), Decision::Whole);
        let date = httpdate::fmt_http_date(m.last_modified.unwrap());
        assert_eq!(decide(&request(&[(header::IF_MODIFIED_SINCE, &date)]), &m), Decision::NotModified);
        assert_eq!(
            decide(&request(&[(header::IF_MODIFIED_SINCE, "Sat, 01 Jan 2000 00:00:00 GMT")]), &m),
            Decision::Whole
        );
        // A non-matching If-None-Match wins over a matching If-Modified-Since.
        let both = request(&[(header::IF_NONE_MATCH, "\"other\""), (header::IF_MODIFIED_SINCE, &date)]);
        assert_eq!(decide(&both, &m), Decision::Whole);
        assert_eq!(decide(&request(&[(header::RANGE, "bytes=-10")]), &m), Decision::Partial(90..=99));
        assert_eq!(decide(&request(&[(header::RANGE, "bytes=200-")]), &m), Decision::Unsatisfiable);
    }

    #[test]
    fn a_range_is_served_only_when_if_range_names_the_current_object() {
        let m = meta();
        let ranged =
            |if_range: &str| decide(&request(&[(header::RANGE, "bytes=0-9"), (header::IF_RANGE, if_range)]), &m);
        assert_eq!(ranged("\"abc\""), Decision::Partial(0..=9));
        assert_eq!(ranged("\"stale\""), Decision::Whole);
        assert_eq!(ranged("W/\"abc\""), Decision::Whole, "a weak validator never matches If-Range");
        assert_eq!(ranged(&httpdate::fmt_http_date(m.last_modified.unwrap())), Decision::Partial(0..=9));
        assert_eq!(ranged("Sat, 01 Jan 2000 00:00:00 GMT"), Decision::Whole);
        assert_eq!(ranged("nonsense"), Decision::Whole);
    }
}
