//! Every error `code` the API answers, in one list: programs match on these, so each
//! is a named constant here and nowhere a bare string. The OpenAPI document lists them
//! (with what each means) as the values the error shape's `code` can take.

macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $name:ident = $code:literal;)+) => {
        $($(#[doc = $doc])+ pub const $name: &str = $code;)+

        /// Every code with what it means, for the API document.
        pub const ALL: &[(&str, &str)] = &[$(($code, concat!($($doc),+))),+];
    };
}

codes! {
    /// The request is malformed.
    BAD_REQUEST = "bad_request";
    /// A path segment is not what the route takes (an id not in its one spelling, say).
    INVALID_PATH = "invalid_path";
    /// A query parameter is malformed or out of its range.
    INVALID_QUERY = "invalid_query";
    /// A page cursor this server did not give out.
    INVALID_CURSOR = "invalid_cursor";
    /// The body is not the JSON the route takes, or has the wrong content type.
    INVALID_BODY = "invalid_body";
    /// A field failed validation; the message names it and says what is wrong.
    INVALID_FIELD = "invalid_field";
    /// A header the route needs is absent.
    MISSING_HEADER = "missing_header";
    /// A header is malformed (not a non-negative integer, say).
    INVALID_HEADER = "invalid_header";
    /// A multipart form is malformed, repeats a field or has an unexpected one.
    INVALID_MULTIPART = "invalid_multipart";
    /// A body has a content type the route does not take.
    INVALID_CONTENT_TYPE = "invalid_content_type";
    /// The body has a type the route does not take.
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type";
    /// A protocol feature the server does not offer (tus deferred length).
    UNSUPPORTED = "unsupported";
    /// The tus version asked for is not 1.0.0.
    UNSUPPORTED_TUS_VERSION = "unsupported_tus_version";
    /// No valid access token: missing, invalid, expired or revoked (or a wrong password).
    UNAUTHORIZED = "unauthorized";
    /// Not allowed to this caller (role, or not the owner).
    FORBIDDEN = "forbidden";
    /// The video is not public and no playback token was given.
    PLAYBACK_TOKEN_REQUIRED = "playback_token_required";
    /// The playback token is invalid, expired, revoked or for another video.
    INVALID_PLAYBACK_TOKEN = "invalid_playback_token";
    /// Nothing there, or nothing the caller may see.
    NOT_FOUND = "not_found";
    /// The route does not take this method.
    METHOD_NOT_ALLOWED = "method_not_allowed";
    /// The request took too long to arrive.
    REQUEST_TIMEOUT = "request_timeout";
    /// An account with this email exists.
    EMAIL_TAKEN = "email_taken";
    /// The account's email address is not verified yet, and uploading needs it: follow
    /// the link mailed at registration, or ask for a new one.
    EMAIL_NOT_VERIFIED = "email_not_verified";
    /// The emailed link's token is not one this server mailed (mistyped or cut short).
    EMAIL_LINK_INVALID = "email_link_invalid";
    /// The emailed link was followed already; each works once.
    EMAIL_LINK_USED = "email_link_used";
    /// The emailed link has expired; ask for a new one.
    EMAIL_LINK_EXPIRED = "email_link_expired";
    /// Too many mails were asked for from this address this hour: wait the
    /// `Retry-After` seconds.
    EMAIL_THROTTLED = "email_throttled";
    /// The video is not ready to play yet.
    NOT_READY = "not_ready";
    /// The owner does not let others download this video (they may still watch it).
    DOWNLOAD_NOT_ALLOWED = "download_not_allowed";
    /// The video has no downloadable file (it was finished before downloads were made).
    DOWNLOAD_UNAVAILABLE = "download_unavailable";
    /// Only a dead job can be retried or discarded.
    JOB_NOT_DEAD = "job_not_dead";
    /// Nobody follows themselves.
    CANNOT_FOLLOW_SELF = "cannot_follow_self";
    /// A webhook URL points at (or resolves to) an address inside the network.
    WEBHOOK_TARGET_FORBIDDEN = "webhook_target_forbidden";
    /// The account has as many webhook endpoints as it may.
    TOO_MANY_WEBHOOKS = "too_many_webhooks";
    /// Too many failed sign-ins for this account from this address, or from this address
    /// for any account: wait the `Retry-After` seconds.
    LOGIN_THROTTLED = "login_throttled";
    /// The single sign-on callback names no sign-in this browser started: its `state` is
    /// unknown, expired, already used, or from another browser. Start again.
    INVALID_OIDC_STATE = "invalid_oidc_state";
    /// The provider's ID token carries another nonce than the sign-in it ends (a replayed
    /// or substituted token): refused.
    INVALID_OIDC_NONCE = "invalid_oidc_nonce";
    /// The provider sent no ID token, or one that fails verification (signature, issuer,
    /// audience or expiry): refused.
    INVALID_OIDC_TOKEN = "invalid_oidc_token";
    /// The OpenID provider refused the sign-in: the person declined, or the code was refused.
    OIDC_DENIED = "oidc_denied";
    /// The provider vouches for no email address of this person (none shared, or not
    /// verified): no account is linked or created for them.
    OIDC_EMAIL_UNVERIFIED = "oidc_email_unverified";
    /// Too many accounts were registered from this address this hour: wait the
    /// `Retry-After` seconds.
    REGISTRATION_THROTTLED = "registration_throttled";
    /// Over a rate limit of this kind of request (for the address, the account, or
    /// everyone): wait the `Retry-After` seconds. `RateLimit-*` headers say how close.
    RATE_LIMITED = "rate_limited";
    /// The account has as many live-update streams open as it may: close one.
    TOO_MANY_STREAMS = "too_many_streams";
    /// A tus PATCH's Upload-Offset is not the stored offset.
    OFFSET_MISMATCH = "offset_mismatch";
    /// Another request is writing to (or completing) this upload.
    UPLOAD_BUSY = "upload_busy";
    /// Nothing was uploaded to the presigned URL (or the upload is gone).
    UPLOAD_MISSING = "upload_missing";
    /// The file is not the size declared for it.
    SIZE_MISMATCH = "size_mismatch";
    /// The body ended before the bytes it declared.
    INCOMPLETE_BODY = "incomplete_body";
    /// A PATCH would write past the upload's declared length.
    EXCEEDS_UPLOAD_LENGTH = "exceeds_upload_length";
    /// The file does not start like a video container the pipeline takes.
    NOT_A_VIDEO = "not_a_video";
    /// The body or upload is larger than the limit.
    TOO_LARGE = "too_large";
    /// The object storage cannot take a file this large in one PUT.
    TOO_LARGE_FOR_ONE_PUT = "too_large_for_one_put";
    /// The upload would take the uploader past the bytes they may upload in 24 hours.
    UPLOAD_QUOTA_EXCEEDED = "upload_quota_exceeded";
    /// The upload would take the uploader past the bytes of sources they may keep.
    STORAGE_QUOTA_EXCEEDED = "storage_quota_exceeded";
    /// The uploader has as many videos uploading, waiting or transcoding as they may.
    QUEUE_QUOTA_EXCEEDED = "queue_quota_exceeded";
    /// A language tag is not a BCP 47 tag of the common shape (`en`, `pt-BR`, `zh-Hant`).
    INVALID_LANGUAGE = "invalid_language";
    /// A caption file is not UTF-8 text.
    CAPTION_NOT_TEXT = "caption_not_text";
    /// A caption file is text but not WebVTT or SRT cues; the message says where.
    CAPTION_UNPARSABLE = "caption_unparsable";
    /// The range asked for is outside the file.
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable";
    /// The URI is longer than 8 KiB.
    URI_TOO_LONG = "uri_too_long";
    /// More than 100 header fields, or over 32 KiB of them.
    HEADERS_TOO_LARGE = "headers_too_large";
    /// A dependency is away; try again shortly.
    UNAVAILABLE = "unavailable";
    /// The database is away; try again after Retry-After.
    DATABASE_UNAVAILABLE = "database_unavailable";
    /// Object storage is away; try again after Retry-After.
    STORAGE_UNAVAILABLE = "storage_unavailable";
    /// An unexpected server error; its cause is logged, never answered.
    INTERNAL = "internal";
    /// Any other status the framework answers.
    ERROR = "error";
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_code_is_listed_once_and_means_something() {
        let mut seen = std::collections::HashSet::new();
        for (code, meaning) in super::ALL {
            assert!(seen.insert(code), "{code} twice");
            assert!(!meaning.trim().is_empty(), "{code}");
        }
    }
}
