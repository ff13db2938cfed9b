//! The downloadable MP4 of a video: whoever may watch it, when its owner allows
//! downloads (owners and admins always may), with byte ranges and validators, saved
//! under a file name made from its title.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use streambox_base::ids::VideoId;
use streambox_db::videos::{VideoStatus, Visibility};
use streambox_http::auth::AuthUser;
use streambox_http::error::ApiPath;
use streambox_http::error_codes as codes;
use streambox_http::object_response;
use streambox_http::{ApiError, ApiResult, AppState};
use streambox_storage::layout::keys;

use super::video_access::viewable;

/// The content type of every download.
pub const CONTENT_TYPE: &str = "video/mp4";
/// Characters of the title kept in the file name.
const NAME_MAX_CHARS: usize = 100;

/// The MP4, streamed from storage in the ranges asked for. A video the caller may not
/// see answers 404; one they may watch but not download, 403.
#[tracing::instrument(skip_all, fields(video = %id))]
pub async fn download(
    State(state): State<AppState>,
    viewer: Option<AuthUser>,
    ApiPath(id): ApiPath<VideoId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let video = viewable(&state, id, viewer).await?;
    let manager = viewer.is_some_and(|u| u.may_manage(video.owner_id));
    if !manager && !video.downloadable {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::DOWNLOAD_NOT_ALLOWED,
            "the owner does not allow downloading this video",
        ));
    }
    if video.status != VideoStatus::Ready {
        return Err(ApiError::conflict(codes::NOT_READY, "the video is not ready to download yet"));
    }
    let unavailable =
        || ApiError::new(StatusCode::NOT_FOUND, codes::DOWNLOAD_UNAVAILABLE, "this video has no download");
    if !video.has_download {
        return Err(unavailable());
    }
    // Shared caches may keep only what anyone may fetch.
    let cache = if video.visibility == Visibility::Public && video.downloadable {
        "public, max-age=300"
    } else {
        "private, no-cache"
    };
    let mut response =
        object_response::from_storage(&state.storage, &keys::download(id), &headers, CONTENT_TYPE, cache)
            .await?
            .ok_or_else(unavailable)?;
    let disposition = HeaderValue::from_str(&content_disposition(&video.title)).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::CONTENT_DISPOSITION, disposition);
    Ok(response)
}

/// `attachment` with the title as the file name: a plain ASCII `filename` for every
/// client, and the title itself in an RFC 5987 `filename*` when it is not plain ASCII.
fn content_disposition(title: &str) -> String {
    let name: String = title
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if matches!(c, '/' | '\\') { '_' } else { c })
        .take(NAME_MAX_CHARS)
        .collect();
    let name = name.trim().trim_start_matches('.');
    let name = if name.is_empty() { "video" } else { name };
    let plain: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || " -_.,()".contains(c) { c } else { '_' }).collect();
    if plain == name {
        return format!("attachment; filename=\"{plain}.mp4\"");
    }
    format!("attachment; filename=\"{plain}.mp4\"; filename*=UTF-8''{}.mp4", rfc5987(name))
}

/// Percent-encodes every byte that is not an RFC 5987 `attr-char`.
fn rfc5987(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_is_the_title_made_safe() {
        assert_eq!(content_disposition("Trains, 1987 (cut)"), "attachment; filename=\"Trains, 1987 (cut).mp4\"");
        assert_eq!(
            content_disposition("Zürich \"by night\""),
            "attachment; filename=\"Z_rich _by night_.mp4\"; filename*=UTF-8''Z%C3%BCrich%20%22by%20night%22.mp4"
        );
        assert_eq!(content_disposition("../../etc/passwd"), "attachment; filename=\"_.._etc_passwd.mp4\"");
        assert_eq!(content_disposition("  \u{7}  "), "attachment; filename=\"video.mp4\"");
        let long = "a".repeat(500);
        assert_eq!(content_disposition(&long), format!("attachment; filename=\"{}.mp4\"", "a".repeat(100)));
    }
}
