//! Who may start an upload, checked once for every protocol (multipart, tus,
//! presigned): a creator or administrator, whose email address is verified when
//! `STREAMBOX_REQUIRE_VERIFIED_EMAIL` says it must be.

use axum::http::StatusCode;
use streambox_http::auth::AuthUser;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

/// 403 `forbidden` for a viewer, 403 `email_not_verified` for an account whose address
/// is not verified while verification is required.
pub fn may_upload(state: &AppState, user: &AuthUser) -> ApiResult<()> {
    if !user.role.can_upload() {
        return Err(ApiError::forbidden("only creators can upload videos"));
    }
    if state.config.mail.require_verified_email && !user.email_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::EMAIL_NOT_VERIFIED,
            "verify your email address before uploading: follow the link we mailed you, or ask for a new one",
        ));
    }
    Ok(())
}
