//! The upload service: multipart HTTP uploads streamed into object storage,
//! resumable (tus) uploads, and direct-to-storage uploads completed here — each
//! becomes a video with a transcode job on the queue only once it is whole.

mod admission;
mod encryption;
mod measure;
mod multipart;
mod presigned;
mod quota;
mod receive;
mod tus;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use serde::Serialize;
use streambox_base::ids::VideoId;
use streambox_db::videos::VideoStatus;
use streambox_http::error_codes as codes;
use streambox_http::routes::{Content, Doc, RequestBody, Routes, schema_of};

/// The answer to an upload accepted whole: its video, now queued for transcoding.
#[derive(Serialize, schemars::JsonSchema)]
pub struct UploadAccepted {
    id: VideoId,
    status: VideoStatus,
}

/// When an upload is refused for an unverified address, as the API document says it.
const UNVERIFIED: &str = "The account's email address is not verified and STREAMBOX_REQUIRE_VERIFIED_EMAIL is on";

pub fn routes() -> Routes {
    let resumable = Routes::new()
        .options("/api/v1/uploads/tus", tus::options)
        .doc(Doc::new("tus: what the server supports").no_content("Tus-Version, Tus-Extension and Tus-Max-Size"))
        .post("/api/v1/uploads/tus", tus::create)
        .doc(
            Doc::new("tus: create a resumable upload (Upload-Length, Upload-Metadata title, description, visibility)")
                .signed_in()
                .error(403, &[codes::EMAIL_NOT_VERIFIED], UNVERIFIED)
                .body(RequestBody::Bytes)
                .reply(201, "Created; Location names the upload", Content::None)
                .error(
                    400,
                    &[codes::MISSING_HEADER, codes::INVALID_HEADER, codes::UNSUPPORTED],
                    "Upload-Length is missing or malformed, or a deferred length was asked for",
                )
                .error(412, &[codes::UNSUPPORTED_TUS_VERSION], "Tus-Resumable is not a supported version")
                .error(
                    413,
                    &[codes::TOO_LARGE, codes::UPLOAD_QUOTA_EXCEEDED, codes::STORAGE_QUOTA_EXCEEDED],
                    "Upload-Length is over the upload limit, or over what the uploader's quotas leave",
                )
                .error(429, &[codes::QUEUE_QUOTA_EXCEEDED], "The uploader has as many videos in the queue as they may")
                .error(
                    422,
                    &[codes::INVALID_FIELD],
                    "Upload-Length is 0, or the metadata's title, description or visibility is invalid",
                ),
        )
        .head("/api/v1/uploads/tus/{id}", tus::status)
        .doc(
            Doc::new("tus: the stored offset")
                .signed_in()
                .reply(200, "Upload-Offset and Upload-Length", Content::None)
                .error(412, &[codes::UNSUPPORTED_TUS_VERSION], "Tus-Resumable is not a supported version"),
        )
        .patch("/api/v1/uploads/tus/{id}", tus::append)
        .doc(
            Doc::new("tus: append bytes at Upload-Offset")
                .signed_in()
                .body(RequestBody::Bytes)
                .no_content("Stored; Upload-Offset is the new offset")
                .error(
                    400,
                    &[codes::MISSING_HEADER, codes::INVALID_HEADER, codes::INCOMPLETE_BODY],
                    "Upload-Offset is missing or malformed, or the body ended early",
                )
                .error(409, &[codes::OFFSET_MISMATCH], "Upload-Offset is not the stored offset")
                .error(412, &[codes::UNSUPPORTED_TUS_VERSION], "Tus-Resumable is not a supported version")
                .error(413, &[codes::EXCEEDS_UPLOAD_LENGTH], "The bytes would go past Upload-Length")
                .error(
                    415,
                    &[codes::INVALID_CONTENT_TYPE, codes::NOT_A_VIDEO],
                    "The body is not application/offset+octet-stream, or the file is not a video",
                )
                .error(423, &[codes::UPLOAD_BUSY], "Another request is writing to this upload"),
        )
        .delete("/api/v1/uploads/tus/{id}", tus::terminate)
        .doc(
            Doc::new("tus: abandon an upload")
                .signed_in()
                .no_content("Abandoned; its bytes are deleted")
                .error(412, &[codes::UNSUPPORTED_TUS_VERSION], "Tus-Resumable is not a supported version")
                .error(423, &[codes::UPLOAD_BUSY], "Another request is writing to this upload"),
        )
        .map_router(|router| router.layer(middleware::from_fn(tus::protocol)));
    let streamed = Routes::new()
        .post("/api/v1/uploads", multipart::create_upload)
        .doc(
            Doc::new("Upload a video (multipart: title, description, visibility, encryption, file; optional Upload-Length header)")
                .signed_in()
                .error(403, &[codes::EMAIL_NOT_VERIFIED], UNVERIFIED)
                .body(RequestBody::Multipart(multipart::form_schema))
                .reply(202, "Stored and queued for transcoding", Content::Json(schema_of::<UploadAccepted>))
                .error(
                    400,
                    &[codes::INVALID_MULTIPART, codes::INVALID_HEADER, codes::INCOMPLETE_BODY],
                    "The form is malformed, repeats a field or has an unexpected one; Upload-Length is malformed",
                )
                .error(
                    413,
                    &[codes::INVALID_MULTIPART, codes::UPLOAD_QUOTA_EXCEEDED, codes::STORAGE_QUOTA_EXCEEDED],
                    "The file is over the upload limit, or over what the uploader's quotas leave",
                )
                .error(429, &[codes::QUEUE_QUOTA_EXCEEDED], "The uploader has as many videos in the queue as they may")
                .error(
                    415,
                    &[codes::NOT_A_VIDEO, codes::INVALID_MULTIPART],
                    "The file is not a video, or the body is not a form",
                )
                .error(
                    422,
                    &[codes::INVALID_FIELD, codes::SIZE_MISMATCH],
                    "A field is missing or invalid, or the file is not the size declared",
                ),
        )
        .merge(resumable)
        // File bodies stream to storage part by part; the upload size limit is enforced
        // while streaming. Every other body keeps the server's small JSON limit.
        .map_router(|router| router.layer(DefaultBodyLimit::disable()));
    Routes::new()
        .post("/api/v1/uploads/presigned", presigned::create)
        .doc(
            Doc::new("Start a direct-to-storage upload: a presigned PUT URL")
                .signed_in()
                .error(403, &[codes::EMAIL_NOT_VERIFIED], UNVERIFIED)
                .json::<presigned::PresignRequest>()
                .created::<presigned::PresignedUpload>("Where and how to PUT the file")
                .error(
                    413,
                    &[codes::TOO_LARGE_FOR_ONE_PUT, codes::UPLOAD_QUOTA_EXCEEDED, codes::STORAGE_QUOTA_EXCEEDED],
                    "The size is over the upload limit, more than object storage takes in one PUT, \
                     or over what the uploader's quotas leave",
                )
                .error(429, &[codes::QUEUE_QUOTA_EXCEEDED], "The uploader has as many videos in the queue as they may"),
        )
        .post("/api/v1/uploads/{id}/complete", presigned::complete)
        .doc(
            Doc::new("Finish a direct upload: verify the object and queue it")
                .signed_in()
                .reply(202, "Verified and queued for transcoding", Content::Json(schema_of::<UploadAccepted>))
                .error(409, &[codes::UPLOAD_MISSING], "Nothing has been uploaded to the URL")
                .error(415, &[codes::NOT_A_VIDEO], "The uploaded file is not a video")
                .error(422, &[codes::SIZE_MISMATCH], "The uploaded file is not the size declared")
                .error(423, &[codes::UPLOAD_BUSY], "The upload is being completed by another request"),
        )
        .merge(streamed)
}
