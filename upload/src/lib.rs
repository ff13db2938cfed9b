//! The upload service: multipart HTTP uploads streamed into object storage,
//! then a transcode job on the queue.

mod multipart;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use streambox_common::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        // Bodies stream to storage part by part; the size limit is enforced while streaming.
        .route("/api/v1/uploads", post(multipart::create_upload).layer(DefaultBodyLimit::disable()))
}
