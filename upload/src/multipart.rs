//! POST /api/v1/uploads: `file`, `title`, optional `description`, optional `visibility`
//! (`public` unless chosen) and optional `encryption` (`on` or `off`; the server's
//! `STREAMBOX_ENCRYPTION` unless chosen) as multipart/form-data, in any order.
//!
//! The file streams to `raw/{video_id}/source` one S3 part at a time, so memory stays
//! bounded whatever its size. A client that says the file's exact size in an
//! `Upload-Length` header has it streamed straight into a single storage write instead. The video row appears only once the source is complete
//! and is queued in the same step; on any failure nothing stays behind.

use axum::Json;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use schemars::{Schema, SchemaGenerator, json_schema};
use streambox_base::ids::VideoId;
use streambox_core::lifecycle;
use streambox_db::jobs;
use streambox_db::quotas::{Grant, Wanted};
use streambox_db::videos::{Description, NewVideo, Title, Visibility};
use streambox_http::auth::AuthUser;
use streambox_http::byte_range;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};
use streambox_storage::StreamingUpload;
use streambox_storage::layout::keys;

use crate::measure::Receiving;
use crate::receive::{not_a_video, too_large};
use crate::{UploadAccepted, admission, encryption, quota};
use streambox_storage::container::{self, Container};

/// Text fields are small; anything larger is not a title.
const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;

#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create_upload(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<UploadAccepted>)> {
    admission::may_upload(&state, &user)?;
    let max = state.config.max_upload_bytes;
    if content_length(&headers).is_some_and(|len| len > max) {
        return Err(too_large(max));
    }
    let declared = declared_length(&headers)?;
    if declared.is_some_and(|len| len > max) {
        return Err(too_large(max));
    }
    let mut multipart = multipart.map_err(|r| ApiError::new(r.status(), codes::INVALID_MULTIPART, r.body_text()))?;

    let video_id = VideoId::new();
    // The form around the file makes the body a little larger than the file: a size
    // known only from Content-Length is an upper bound.
    let wanted = match declared {
        Some(len) => Wanted::Exactly(len),
        None => Wanted::UpTo(content_length(&headers).unwrap_or(max).min(max)),
    };
    let grant = quota::admit(&state, &user, video_id, wanted).await?;
    let read = read_form(&state, &mut multipart, video_id, declared, grant).await;
    let sealed = read.and_then(|form| Ok((encryption::sealed_key(&state, video_id, form.encryption)?, form)));
    let (sealed_key, form) = match sealed {
        Ok(sealed) => sealed,
        Err(e) => {
            discard_source(&state, video_id).await;
            quota::release(&state, video_id, 0).await;
            return Err(e);
        }
    };
    let new = NewVideo {
        id: video_id,
        owner_id: user.id,
        title: &form.title,
        description: &form.description,
        visibility: form.visibility,
        source_bytes: form.source_bytes,
        sealed_key,
    };
    let video = match jobs::create_with_video(&state.db, new, state.config.transcode.max_attempts).await {
        Ok((video, _job)) => video,
        Err(e) => {
            discard_source(&state, video_id).await;
            quota::release(&state, video_id, 0).await;
            return Err(e.into());
        }
    };
    lifecycle::deliver(&state.queue, video_id).await;
    tracing::info!(%video_id, bytes = form.source_bytes, "upload stored and queued");
    Ok((StatusCode::ACCEPTED, Json(UploadAccepted { id: video.id, status: video.status })))
}

/// The form [`create_upload`] reads, for the API document.
pub fn form_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut visibility = generator.subschema_for::<Visibility>();
    visibility.insert("default".into(), "public".into());
    json_schema!({
        "type": "object",
        "required": ["title", "file"],
        "properties": {
            "title": { "type": "string", "minLength": Title::RULE.min_chars, "maxLength": Title::RULE.max_chars },
            "description": { "type": "string", "maxLength": Description::RULE.max_chars },
            "visibility": visibility,
            "encryption": { "type": "string", "enum": ["on", "off"],
                "description": "AES-128 segment encryption (EXT-X-KEY); the server's default unless given" },
            "file": { "type": "string", "contentMediaType": "application/octet-stream",
                "description": "The video file; its name is never used" },
        },
    })
}

struct UploadForm {
    title: Title,
    description: Description,
    visibility: Visibility,
    /// `None`: the owner did not say.
    encryption: Option<bool>,
    source_bytes: u64,
}

async fn read_form(
    state: &AppState,
    multipart: &mut Multipart,
    video_id: VideoId,
    declared: Option<u64>,
    grant: Grant,
) -> ApiResult<UploadForm> {
    let (mut title, mut description, mut visibility, mut source_bytes) = (None, None, None, None);
    let mut encryption = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") if source_bytes.is_none() => {
                source_bytes = Some(store_source(state, field, video_id, declared, grant).await?)
            }
            Some("title") if title.is_none() => title = Some(Title::parse(&read_text(field).await?)?),
            Some("description") if description.is_none() => {
                description = Some(Description::parse(&read_text(field).await?)?);
            }
            Some("visibility") if visibility.is_none() => {
                visibility = Some(Visibility::parse(&read_text(field).await?)?);
            }
            Some("encryption") if encryption.is_none() => {
                encryption = Some(encryption::parse(&read_text(field).await?)?);
            }
            Some(name @ ("file" | "title" | "description" | "visibility" | "encryption")) => {
                return Err(ApiError::bad_request(
                    codes::INVALID_MULTIPART,
                    format!("field {name} appears more than once"),
                ));
            }
            other => {
                let name = other.unwrap_or("(unnamed)").chars().take(64).collect::<String>();
                return Err(ApiError::bad_request(codes::INVALID_MULTIPART, format!("unexpected field {name:?}")));
            }
        }
    }
    let source_bytes = source_bytes.ok_or_else(|| ApiError::invalid_field("file", "is required"))?;
    if source_bytes == 0 {
        return Err(ApiError::invalid_field("file", "is empty"));
    }
    Ok(UploadForm {
        title: title.ok_or_else(|| ApiError::invalid_field("title", "is required"))?,
        description: description.unwrap_or(Description::parse("")?),
        visibility: visibility.unwrap_or_default(),
        encryption,
        source_bytes,
    })
}

async fn store_source(
    state: &AppState,
    mut field: Field<'_>,
    video_id: VideoId,
    declared: Option<u64>,
    grant: Grant,
) -> ApiResult<u64> {
    let max = state.config.max_upload_bytes;
    // The first bytes are held back until they show a video container: nothing of a
    // file that is not one reaches storage.
    let mut head = Some(Vec::with_capacity(container::NEEDED));
    let mut upload = state.storage.streaming_upload(keys::source(video_id), "application/octet-stream", declared);
    let receiving = Receiving::start(&state.metrics, "multipart");
    let written = loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => {
                receiving.received(chunk.len());
                Some(chunk)
            }
            Ok(None) => None,
            Err(e) => break Err(multipart_error(e)),
        };
        let pending = match (head.as_mut(), &chunk) {
            (Some(head), Some(chunk)) if head.len() + chunk.len() < container::NEEDED => {
                head.extend_from_slice(chunk);
                continue;
            }
            (Some(_), _) => {
                let mut bytes = head.take().unwrap_or_default();
                bytes.extend_from_slice(chunk.as_deref().unwrap_or_default());
                if Container::sniff(&bytes).is_none() {
                    break Err(not_a_video());
                }
                bytes::Bytes::from(bytes)
            }
            (None, Some(chunk)) => chunk.clone(),
            (None, None) => break finish(&mut upload, declared).await,
        };
        let after = upload.bytes_written() + pending.len() as u64;
        if after > max {
            break Err(too_large(max));
        }
        if declared.is_some_and(|len| after > len) {
            break Err(size_mismatch(declared, after));
        }
        if after > grant.bytes {
            break Err(grant.past.map_or_else(|| too_large(max), quota::refused));
        }
        if let Err(e) = upload.write(pending).await {
            break Err(ApiError::storage(format_args!("{e:#}")));
        }
        if chunk.is_none() {
            break finish(&mut upload, declared).await;
        }
    };
    match written {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            if let Err(abort) = upload.abort().await {
                tracing::error!(error = %abort, %video_id, "could not abort the partial upload");
            }
            Err(e)
        }
    }
}

async fn finish(upload: &mut StreamingUpload, declared: Option<u64>) -> ApiResult<u64> {
    let written = upload.bytes_written();
    if declared.is_some_and(|len| len != written) {
        return Err(size_mismatch(declared, written));
    }
    upload.finish().await.map_err(|e| ApiError::storage(format_args!("{e:#}")))
}

fn size_mismatch(declared: Option<u64>, got: u64) -> ApiError {
    let declared = declared.unwrap_or_default();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::SIZE_MISMATCH,
        format!(
            "Upload-Length says {declared} bytes but the file has {}{got}",
            if got > declared { "at least " } else { "" }
        ),
    )
}

/// The optional `Upload-Length` header: the file's exact size.
fn declared_length(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    headers
        .get("upload-length")
        .map(|v| {
            v.to_str().ok().and_then(byte_range::decimal).ok_or_else(|| {
                ApiError::bad_request(codes::INVALID_HEADER, "Upload-Length must be the file's size in bytes")
            })
        })
        .transpose()
}

async fn read_text(mut field: Field<'_>) -> ApiResult<String> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
            return Err(ApiError::invalid_field(&name, "is too long"));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::invalid_field(&name, "must be UTF-8 text"))
}

async fn discard_source(state: &AppState, video_id: VideoId) {
    if let Err(e) = state.storage.delete(&keys::source(video_id)).await {
        tracing::error!(error = %e, %video_id, "could not remove a discarded source");
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn multipart_error(e: MultipartError) -> ApiError {
    ApiError::new(e.status(), codes::INVALID_MULTIPART, e.body_text())
}
