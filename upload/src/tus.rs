//! Resumable uploads, tus 1.0 (core, creation, creation-with-upload, termination,
//! expiration) at /api/v1/uploads/tus, so tus-js-client and Uppy work unmodified.
//!
//! The offset is what is durably stored (recorded parts plus the tail object), kept in
//! Postgres: a restarted upload service answers HEAD with it and the client goes on.

use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use streambox_base::ids::VideoId;
use streambox_core::uploads::{self, NewUpload, Upload, UploadKind, UploadLock};
use streambox_db::quotas::Wanted;
use streambox_db::videos::{self, Description, Title, Visibility};
use streambox_http::auth::AuthUser;
use streambox_http::byte_range;
use streambox_http::error::ApiPath;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

use crate::{admission, encryption, quota, receive};

pub const VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration";
const OFFSET_STREAM: &str = "application/offset+octet-stream";

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");

/// Every response says which protocol it speaks; every request but OPTIONS must speak 1.0.0.
pub async fn protocol(request: Request, next: Next) -> Response {
    let speaks = request.headers().get(&TUS_RESUMABLE).is_some_and(|v| v == VERSION);
    let mut response = if speaks || request.method() == Method::OPTIONS {
        next.run(request).await
    } else {
        let refused = ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            codes::UNSUPPORTED_TUS_VERSION,
            format!("send Tus-Resumable: {VERSION}"),
        );
        let mut response = refused.into_response();
        response.headers_mut().insert(TUS_VERSION, HeaderValue::from_static(VERSION));
        response
    };
    response.headers_mut().insert(TUS_RESUMABLE, HeaderValue::from_static(VERSION));
    response
}

/// OPTIONS: what this server supports.
pub async fn options(State(state): State<AppState>) -> impl IntoResponse {
    (
        StatusCode::NO_CONTENT,
        [
            (TUS_VERSION, VERSION.to_owned()),
            (HeaderName::from_static("tus-extension"), EXTENSIONS.to_owned()),
            (HeaderName::from_static("tus-max-size"), state.config.max_upload_bytes.to_string()),
        ],
    )
}

/// POST: creates an upload of `Upload-Length` bytes titled by `Upload-Metadata` (which
/// may also choose its visibility and encryption), taking the first bytes too when they come with the
/// request.
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    admission::may_upload(&state, &user)?;
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::bad_request(
            codes::UNSUPPORTED,
            "Upload-Defer-Length is not supported; send Upload-Length",
        ));
    }
    let length = number_header(&headers, &UPLOAD_LENGTH)?;
    if length == 0 {
        return Err(ApiError::invalid_field("Upload-Length", "the file is empty"));
    }
    let max = state.config.max_upload_bytes;
    if length > max {
        return Err(receive::too_large(max));
    }
    let metadata = Metadata::parse(headers.get("upload-metadata"))?;
    let title =
        Title::parse(metadata.title.as_deref().ok_or_else(|| ApiError::invalid_field("title", "is required"))?)?;
    let description = Description::parse(metadata.description.as_deref().unwrap_or_default())?;
    let visibility = metadata.visibility.as_deref().map(Visibility::parse).transpose()?.unwrap_or_default();
    let id = VideoId::new();
    let sealed_key =
        encryption::sealed_key(&state, id, metadata.encryption.as_deref().map(encryption::parse).transpose()?)?;
    quota::admit(&state, &user, id, Wanted::Exactly(length)).await?;
    let new = NewUpload {
        id,
        owner_id: user.id,
        kind: UploadKind::Tus,
        title: &title,
        description: &description,
        visibility,
        length,
        expires_at: Utc::now() + state.config.upload_expiry,
        sealed_key,
    };
    let upload = quota::recorded(&state, id, uploads::create(&state.db, new).await).await?;
    tracing::info!(upload = %upload.id, length, "resumable upload created");

    let mut response = StatusCode::CREATED.into_response();
    let location = format!("/api/v1/uploads/tus/{}", upload.id);
    response.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).map_err(ApiError::internal)?);
    set_expires(&mut response, &upload);
    if is_offset_stream(&headers) {
        let lock = UploadLock::acquire(&state.db, upload.id).await?.ok_or_else(busy)?;
        let offset = receive::append(state, upload, lock, body).await?;
        set_offset(&mut response, offset);
    }
    Ok(response)
}

/// HEAD: how much of the upload is stored.
pub async fn status(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<Response> {
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match uploads::find_owned(&state.db, id, user.id, UploadKind::Tus).await? {
        Some(upload) => {
            set_offset(&mut response, u64::try_from(upload.stored).unwrap_or(0));
            set_length(&mut response, upload.length);
            set_expires(&mut response, &upload);
        }
        // Finished already: the client lost our last answer and must not start again.
        None => {
            let bytes = finished_video_bytes(&state, id, &user).await?.ok_or_else(|| ApiError::not_found("upload"))?;
            set_offset(&mut response, bytes);
            set_length(&mut response, i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }
    Ok(response)
}

/// PATCH: appends the body at `Upload-Offset`, which must be the stored offset.
pub async fn append(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if !is_offset_stream(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::INVALID_CONTENT_TYPE,
            format!("PATCH bodies must be {OFFSET_STREAM}"),
        ));
    }
    let offset = number_header(&headers, &UPLOAD_OFFSET)?;
    let lock = UploadLock::acquire(&state.db, id).await?.ok_or_else(busy)?;
    let upload = match resumable_at(&state, id, &user, offset).await {
        Ok(Resumable::At(upload)) => upload,
        Ok(Resumable::Finished(finished)) => {
            lock.release().await;
            return Ok(offset_response(finished));
        }
        Err(e) => {
            lock.release().await;
            return Err(e);
        }
    };
    let expires = upload.expires_at;
    let offset = receive::append(state, upload, lock, body).await?;
    let mut response = offset_response(offset);
    response.headers_mut().insert(UPLOAD_EXPIRES, http_date(expires));
    Ok(response)
}

/// Where a PATCH at an offset lands.
enum Resumable {
    /// The upload, whose stored offset is the one asked for.
    At(Upload),
    /// The upload already became a video of this many bytes and the offset is its end:
    /// nothing to do (a retried final PATCH).
    Finished(u64),
}

/// The upload to append to at `offset`.
async fn resumable_at(state: &AppState, id: VideoId, user: &AuthUser, offset: u64) -> ApiResult<Resumable> {
    let Some(upload) = uploads::find_owned(&state.db, id, user.id, UploadKind::Tus).await? else {
        let bytes = finished_video_bytes(state, id, user).await?.ok_or_else(|| ApiError::not_found("upload"))?;
        return if offset == bytes { Ok(Resumable::Finished(bytes)) } else { Err(offset_mismatch(bytes)) };
    };
    let stored = u64::try_from(upload.stored).unwrap_or(0);
    if offset != stored {
        return Err(offset_mismatch(stored));
    }
    Ok(Resumable::At(upload))
}

/// DELETE: abandons the upload and everything stored for it.
pub async fn terminate(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<StatusCode> {
    let lock = UploadLock::acquire(&state.db, id).await?.ok_or_else(busy)?;
    let discarded = async {
        let upload = uploads::find_owned(&state.db, id, user.id, UploadKind::Tus).await?;
        let upload = upload.ok_or_else(|| ApiError::not_found("upload"))?;
        uploads::discard(&state, &upload).await.map_err(ApiError::storage)
    }
    .await;
    lock.release().await;
    discarded?;
    tracing::info!(upload = %id, "resumable upload terminated");
    Ok(StatusCode::NO_CONTENT)
}

/// The size of the video an upload of `user`'s already became, if it did.
async fn finished_video_bytes(state: &AppState, id: VideoId, user: &AuthUser) -> ApiResult<Option<u64>> {
    let video = videos::find(&state.db, id).await?;
    Ok(video.filter(|v| v.owner_id == user.id).map(|v| u64::try_from(v.source_bytes).unwrap_or(0)))
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs. Only the title,
/// description, visibility and encryption (`on`, `off`) are used; a client's file name
/// is never used for anything.
#[derive(Default)]
struct Metadata {
    title: Option<String>,
    description: Option<String>,
    visibility: Option<String>,
    encryption: Option<String>,
}

impl Metadata {
    fn parse(raw: Option<&HeaderValue>) -> ApiResult<Self> {
        let invalid = |problem: &str| ApiError::invalid_field("Upload-Metadata", problem);
        let mut metadata = Self::default();
        let Some(raw) = raw else { return Ok(metadata) };
        let raw = raw.to_str().map_err(|_| invalid("must be ASCII"))?;
        for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
            let slot = match key {
                "title" => &mut metadata.title,
                "description" => &mut metadata.description,
                "visibility" => &mut metadata.visibility,
                "encryption" => &mut metadata.encryption,
                _ => continue,
            };
            let bytes = STANDARD.decode(value.trim()).map_err(|_| invalid("values must be base64"))?;
            *slot = Some(String::from_utf8(bytes).map_err(|_| invalid("values must be UTF-8 text"))?);
        }
        Ok(metadata)
    }
}

fn number_header(headers: &HeaderMap, name: &HeaderName) -> ApiResult<u64> {
    let value =
        headers.get(name).ok_or_else(|| ApiError::bad_request(codes::MISSING_HEADER, format!("{name} is required")))?;
    value
        .to_str()
        .ok()
        .and_then(byte_range::decimal)
        .ok_or_else(|| ApiError::bad_request(codes::INVALID_HEADER, format!("{name} must be a non-negative integer")))
}

fn is_offset_stream(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| v == OFFSET_STREAM)
}

fn busy() -> ApiError {
    ApiError::new(
        StatusCode::LOCKED,
        codes::UPLOAD_BUSY,
        "another request is writing to this upload; try again shortly",
    )
}

fn offset_mismatch(stored: u64) -> ApiError {
    ApiError::conflict(
        codes::OFFSET_MISMATCH,
        format!("the upload continues at byte {stored}; send Upload-Offset: {stored}"),
    )
}

fn offset_response(offset: u64) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_offset(&mut response, offset);
    response
}

fn set_offset(response: &mut Response, offset: u64) {
    response.headers_mut().insert(UPLOAD_OFFSET, HeaderValue::from(offset));
}

fn set_length(response: &mut Response, length: i64) {
    response.headers_mut().insert(UPLOAD_LENGTH, HeaderValue::from(length));
}

fn set_expires(response: &mut Response, upload: &Upload) {
    response.headers_mut().insert(UPLOAD_EXPIRES, http_date(upload.expires_at));
}

fn http_date(at: chrono::DateTime<Utc>) -> HeaderValue {
    let formatted = httpdate::fmt_http_date(SystemTime::from(at));
    HeaderValue::from_str(&formatted).expect("an HTTP date is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_takes_title_description_visibility_and_encryption_and_ignores_the_rest() {
        let raw = HeaderValue::from_static(
            "filename bXkubXA0,title SG9saWRheSDwn4yK, description ,visibility cHJpdmF0ZQ==,filetype dmlkZW8vbXA0,\
             encryption b24=",
        );
        let metadata = Metadata::parse(Some(&raw)).unwrap();
        assert_eq!(metadata.title.as_deref(), Some("Holiday 🌊"));
        assert_eq!(metadata.description.as_deref(), Some(""));
        assert_eq!(metadata.visibility.as_deref(), Some("private"));
        assert_eq!(metadata.encryption.as_deref(), Some("on"));
        let bad = HeaderValue::from_static("title !!!");
        assert_eq!(Metadata::parse(Some(&bad)).err().unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
