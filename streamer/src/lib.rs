//! The streaming service: playlists, segments and posters of ready videos,
//! streamed from object storage.

mod object_path;
mod serve;

use axum::Router;
use axum::routing::get;
use streambox_common::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hls/{video_id}/master.m3u8", get(serve::master))
        .route("/hls/{video_id}/poster.jpg", get(serve::poster))
        .route("/hls/{video_id}/{rendition}/{file}", get(serve::rendition_file))
}
