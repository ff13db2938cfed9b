//! The upload service: multipart HTTP uploads streamed into object storage,
//! resumable (tus) uploads, and direct-to-storage uploads completed here — each
//! becomes a video with a transcode job on the queue only once it is whole.

mod multipart;
mod presigned;
mod receive;
mod tus;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use streambox_common::routes::{Doc, RequestBody, Routes};

pub fn routes() -> Routes {
    let resumable = Routes::new()
        .options("/api/v1/uploads/tus", tus::options)
        .doc(Doc::new("tus: what the server supports"))
        .post("/api/v1/uploads/tus", tus::create)
        .doc(
            Doc::new("tus: create a resumable upload (Upload-Length, Upload-Metadata title)")
                .signed_in()
                .body(RequestBody::Bytes),
        )
        .head("/api/v1/uploads/tus/{id}", tus::status)
        .doc(Doc::new("tus: the stored offset").signed_in())
        .patch("/api/v1/uploads/tus/{id}", tus::append)
        .doc(Doc::new("tus: append bytes at Upload-Offset").signed_in().body(RequestBody::Bytes))
        .delete("/api/v1/uploads/tus/{id}", tus::terminate)
        .doc(Doc::new("tus: abandon an upload").signed_in())
        .map_router(|router| router.layer(middleware::from_fn(tus::protocol)));
    let streamed = Routes::new()
        .post("/api/v1/uploads", multipart::create_upload)
        .doc(
            Doc::new("Upload a video (multipart: title, description, file; optional Upload-Length header)")
                .signed_in()
                .body(RequestBody::Multipart),
        )
        .merge(resumable)
        // File bodies stream to storage part by part; the upload size limit is enforced
        // while streaming. Every other body keeps the server's small JSON limit.
        .map_router(|router| router.layer(DefaultBodyLimit::disable()));
    Routes::new()
        .post("/api/v1/uploads/presigned", presigned::create)
        .doc(Doc::new("Start a direct-to-storage upload: a presigned PUT URL").signed_in().json())
        .post("/api/v1/uploads/{id}/complete", presigned::complete)
        .doc(Doc::new("Finish a direct upload: verify the object and queue it").signed_in())
        .merge(streamed)
}
