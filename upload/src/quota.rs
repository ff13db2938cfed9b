//! Admitting an upload against its uploader's quotas, and the answer when it is refused.

use axum::http::StatusCode;
use streambox_base::ids::VideoId;
use streambox_core::quotas;
use streambox_db::quotas::{Grant, Refusal, Wanted};
use streambox_http::auth::AuthUser;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

/// How long a client refused for a full queue waits before asking again.
const QUEUE_RETRY_AFTER_SECS: u32 = 60;

/// Charges a new upload to `user`; what it may store, or the refusal as an answer.
pub async fn admit(state: &AppState, user: &AuthUser, upload: VideoId, wanted: Wanted) -> ApiResult<Grant> {
    quotas::admit(state, user.id, user.role, upload, wanted).await?.map_err(refused)
}

/// The upload's record as created; when creating it failed, its charge is taken back
/// (the client may try again at once).
pub async fn recorded<T, E>(state: &AppState, upload: VideoId, created: Result<T, E>) -> ApiResult<T>
where
    ApiError: From<E>,
{
    match created {
        Ok(record) => Ok(record),
        Err(e) => {
            release(state, upload, 0).await;
            Err(e.into())
        }
    }
}

/// Settles an upload that stored `bytes` and will not become a video.
pub async fn release(state: &AppState, upload: VideoId, bytes: u64) {
    if let Err(e) = streambox_db::quotas::settle(&state.db, upload, Some(bytes)).await {
        tracing::warn!(error = %e, %upload, "could not settle an upload's quota charge; it lapses in a day");
    }
}

/// The answer to a refused upload: what the limit is, what is used, and what to do.
pub fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::UploadPerDay { used, wanted, limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::UPLOAD_QUOTA_EXCEEDED,
            format!(
                "you may upload {} in any 24 hours and have uploaded {} in the last 24; this upload ({}) \
                 does not fit until some of that is a day old",
                size(limit),
                size(used),
                size(wanted)
            ),
        ),
        Refusal::Stored { used, wanted, limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::STORAGE_QUOTA_EXCEEDED,
            format!(
                "you may keep {} of videos and keep {}; this upload ({}) does not fit: delete videos to make room",
                size(limit),
                size(used),
                size(wanted)
            ),
        ),
        Refusal::Queued { count, limit } => ApiError::too_many(
            codes::QUEUE_QUOTA_EXCEEDED,
            format!(
                "you may have {limit} videos uploading or waiting to be transcoded at once, and have {count}; \
                 upload more once some are ready"
            ),
            QUEUE_RETRY_AFTER_SECS,
        ),
    }
}

/// Bytes as a person reads them: exact below a KiB, else to one decimal.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(1000), "1000 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(50 << 30), "50.0 GiB");
    }
}
