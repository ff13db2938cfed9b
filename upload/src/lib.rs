//! The upload service: multipart HTTP uploads streamed into object storage,
//! resumable (tus) uploads, and direct-to-storage uploads completed here — each
//! becomes a video with a transcode job on the queue only once it is whole.

mod multipart;
mod presigned;
mod receive;
mod sniff;
mod tus;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use streambox_common::routes::Routes;

pub fn routes() -> Routes {
    let resumable = Routes::new()
        .options("/api/v1/uploads/tus", tus::options)
        .post("/api/v1/uploads/tus", tus::create)
        .head("/api/v1/uploads/tus/{id}", tus::status)
        .patch("/api/v1/uploads/tus/{id}", tus::append)
        .delete("/api/v1/uploads/tus/{id}", tus::terminate)
        .map_router(|router| router.layer(middleware::from_fn(tus::protocol)));
    Routes::new()
        .post("/api/v1/uploads", multipart::create_upload)
        .post("/api/v1/uploads/presigned", presigned::create)
        .post("/api/v1/uploads/{id}/complete", presigned::complete)
        .merge(resumable)
        // Bodies stream to storage part by part; the size limit is enforced while streaming.
        .map_router(|router| router.layer(DefaultBodyLimit::disable()))
}
