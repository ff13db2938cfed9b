//! Whether a new video's segments are encrypted: what its uploader chose (`encryption`
//! `on` or `off`, in the multipart form, the tus metadata or the direct upload's
//! request), else the server's default (`STREAMBOX_ENCRYPTION`). Decided when the upload
//! starts, so a resumable or direct upload becomes the video it was promised.

use streambox_base::ids::VideoId;
use streambox_core::segment_keys::{self, Unavailable};
use streambox_http::{ApiError, ApiResult, AppState};

/// The uploader's choice as written in a form field or metadata value.
pub fn parse(text: &str) -> ApiResult<bool> {
    match text.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(ApiError::invalid_field("encryption", "must be on or off")),
    }
}

/// The new video's sealed segment key, if it is to be encrypted (`asked`, else the
/// server's default); asking for encryption from a server without a key-encryption key
/// is the request's fault only in that it cannot be met here: 422, naming the field.
pub fn sealed_key(state: &AppState, video_id: VideoId, asked: Option<bool>) -> ApiResult<Option<Vec<u8>>> {
    segment_keys::for_new_video(&state.config, video_id, asked).map_err(|e| match e.downcast_ref::<Unavailable>() {
        Some(_) => ApiError::invalid_field("encryption", "is not available on this server"),
        None => ApiError::internal(e),
    })
}
