//! The upload service: multipart HTTP uploads streamed into object storage,
//! then a transcode job on the queue.

mod multipart;
mod sniff;

use axum::extract::DefaultBodyLimit;
use streambox_common::routes::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .post("/api/v1/uploads", multipart::create_upload)
        // Bodies stream to storage part by part; the size limit is enforced while streaming.
        .map_router(|router| router.layer(DefaultBodyLimit::disable()))
}
