//! Direct-to-storage uploads: the client PUTs the file to a presigned storage URL,
//! then asks us to complete it. Nothing is trusted until the stored object has been
//! checked: it exists, has the declared size, and starts like a video.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use streambox_base::ids::VideoId;
use streambox_core::uploads::{self, NewUpload, UploadKind, UploadLock};
use streambox_db::quotas::Wanted;
use streambox_db::videos::{self, Description, Title, VideoStatus, Visibility};
use streambox_http::auth::AuthUser;
use streambox_http::error::{ApiJson, ApiPath};
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};
use streambox_storage::SINGLE_PUT_MAX;
use streambox_storage::layout::keys;

use crate::receive::{not_a_video, too_large};
use crate::{UploadAccepted, admission, encryption, quota};
use streambox_storage::container::{self, Container};

/// How long the PUT URL works; the upload is forgotten an hour after that.
const URL_TTL: Duration = Duration::from_secs(3600);
const COMPLETE_GRACE: Duration = Duration::from_secs(3600);

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PresignRequest {
    #[schemars(with = "Title")]
    title: String,
    #[serde(default)]
    #[schemars(with = "Description")]
    description: String,
    /// Who may see the video once it is made; kept with the upload until then.
    #[serde(default)]
    visibility: Visibility,
    /// The file's exact size in bytes; the URL accepts only that many.
    #[schemars(range(min = 1))]
    size: u64,
    /// AES-128 segment encryption (`EXT-X-KEY`); the server's default unless given.
    #[serde(default)]
    encryption: Option<Switch>,
}

/// `on` or `off`.
#[derive(Deserialize, schemars::JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Switch {
    On,
    Off,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct PresignedUpload {
    id: VideoId,
    method: &'static str,
    upload_url: String,
    /// Must be sent with the PUT exactly as given (the URL is signed with it).
    headers: serde_json::Value,
    complete_url: String,
    expires_at: DateTime<Utc>,
}

/// POST /api/v1/uploads/presigned
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<PresignRequest>,
) -> ApiResult<(StatusCode, Json<PresignedUpload>)> {
    admission::may_upload(&state, &user)?;
    let title = Title::parse(&request.title)?;
    let description = Description::parse(&request.description)?;
    if request.size == 0 {
        return Err(ApiError::invalid_field("size", "the file is empty"));
    }
    let max = state.config.max_upload_bytes;
    if request.size > max {
        return Err(too_large(max));
    }
    if request.size > SINGLE_PUT_MAX {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::TOO_LARGE_FOR_ONE_PUT,
            format!("storage takes at most {SINGLE_PUT_MAX} bytes in one PUT; upload larger files with tus"),
        ));
    }
    let id = VideoId::new();
    let sealed_key = encryption::sealed_key(&state, id, request.encryption.map(|s| matches!(s, Switch::On)))?;
    quota::admit(&state, &user, id, Wanted::Exactly(request.size)).await?;
    let new = NewUpload {
        id,
        owner_id: user.id,
        kind: UploadKind::Presigned,
        title: &title,
        description: &description,
        visibility: request.visibility,
        length: request.size,
        expires_at: Utc::now() + URL_TTL + COMPLETE_GRACE,
        sealed_key,
    };
    let upload = quota::recorded(&state, id, uploads::create(&state.db, new).await).await?;
    let url = state
        .storage
        .presigned_put(&keys::presigned_incoming(upload.id), request.size, URL_TTL)
        .await
        .map_err(ApiError::storage)?;
    tracing::info!(upload = %upload.id, size = request.size, "presigned upload created");
    Ok((
        StatusCode::CREATED,
        Json(PresignedUpload {
            id: upload.id,
            method: "PUT",
            upload_url: url,
            headers: serde_json::json!({ "content-length": request.size.to_string() }),
            complete_url: format!("/api/v1/uploads/{}/complete", upload.id),
            expires_at: Utc::now() + URL_TTL,
        }),
    ))
}

/// POST /api/v1/uploads/{id}/complete — idempotent: completing twice answers the same.
pub async fn complete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<VideoId>,
) -> ApiResult<(StatusCode, Json<UploadAccepted>)> {
    let lock = UploadLock::acquire(&state.db, id).await?.ok_or_else(|| {
        ApiError::new(StatusCode::LOCKED, codes::UPLOAD_BUSY, "this upload is being completed; try again shortly")
    })?;
    let completed = complete_locked(&state, id, &user).await;
    lock.release().await;
    let (id, status) = completed?;
    Ok((StatusCode::ACCEPTED, Json(UploadAccepted { id, status })))
}

/// Verifies and queues the upload (the caller holds its lock); returns the video's id and status.
async fn complete_locked(state: &AppState, id: VideoId, user: &AuthUser) -> ApiResult<(VideoId, VideoStatus)> {
    let Some(upload) = uploads::find_owned(&state.db, id, user.id, UploadKind::Presigned).await? else {
        let video = videos::find(&state.db, id).await?.filter(|v| v.owner_id == user.id);
        return video.map(|v| (v.id, v.status)).ok_or_else(|| ApiError::not_found("upload"));
    };
    // The URL stays valid after completion: what it wrote is copied to the key the
    // pipeline reads, and only the copy is checked, so a later PUT changes nothing.
    // (An earlier completion that stopped after the copy left the source in place.)
    let (incoming, key) = (keys::presigned_incoming(id), keys::source(id));
    if state.storage.head(&incoming).await.map_err(ApiError::storage)?.is_some() {
        state.storage.copy(&incoming, &key).await.map_err(ApiError::storage)?;
        state.storage.delete(&incoming).await.map_err(ApiError::storage)?;
    }
    let Some(stored) = state.storage.head(&key).await.map_err(ApiError::storage)? else {
        return Err(ApiError::conflict(codes::UPLOAD_MISSING, "nothing has been uploaded to the URL yet"));
    };
    if i64::try_from(stored.len).ok() != Some(upload.length) {
        state.storage.delete(&key).await.map_err(ApiError::storage)?;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::SIZE_MISMATCH,
            format!("the stored file has {} bytes, not the {} declared; upload it again", stored.len, upload.length),
        ));
    }
    let range = format!("bytes=0-{}", container::NEEDED - 1);
    let head = state.storage.get_range(&key, Some(range)).await.map_err(ApiError::storage)?;
    let head = match head {
        Some(object) => object.body.collect().await.map_err(ApiError::storage)?.into_bytes(),
        None => {
            return Err(ApiError::conflict(codes::UPLOAD_MISSING, "the uploaded file disappeared; upload it again"));
        }
    };
    if Container::sniff(&head).is_none() {
        uploads::discard(state, &upload).await.map_err(ApiError::storage)?;
        return Err(not_a_video());
    }
    uploads::mark_assembled(&state.db, id).await?;
    let video = uploads::into_video(state, &upload).await?;
    let video = video.ok_or_else(|| ApiError::internal("the upload was completed twice at once"))?;
    Ok((video.id, video.status))
}
