//! The streaming service: playlists, segments, posters and previews of ready videos.
//! Public videos play directly; unlisted and private ones need a playback token, which
//! travels in every playlist URI. Hot objects are served from memory; HTTP semantics
//! (ranges, validators, CORS, compressed playlists) are what players and CDNs expect.

mod access;
mod object_cache;
mod object_path;
mod playlist_tokens;
mod serve;

use axum::Extension;
use axum::http::{HeaderName, HeaderValue, Method, header};
use streambox_common::AppState;
use streambox_common::config::StreamConfig;
use streambox_common::routes::{Access, Doc, Routes};
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use serve::Streamer;

pub fn routes() -> Routes {
    Routes::new()
        .get("/hls/{video_id}/master.m3u8", serve::master)
        .doc(Doc::new("HLS master playlist").access(Access::PlaybackToken))
        .get("/hls/{video_id}/poster.jpg", serve::poster)
        .doc(Doc::new("Poster image").access(Access::PlaybackToken))
        .get("/hls/{video_id}/storyboard.jpg", serve::storyboard_sprite)
        .doc(Doc::new("Storyboard sprite sheet").access(Access::PlaybackToken))
        .get("/hls/{video_id}/storyboard.vtt", serve::storyboard_track)
        .doc(Doc::new("Storyboard WebVTT thumbnails track").access(Access::PlaybackToken))
        .get("/hls/{video_id}/{rendition}/{file}", serve::rendition_file)
        .doc(Doc::new("A rendition's playlist or segment (byte ranges)").access(Access::PlaybackToken))
}

/// The streamer's routes with its state and HTTP layers.
pub fn serving(state: &AppState, shutdown: CancellationToken) -> Routes {
    let streamer = Streamer::start(state, shutdown);
    let config = &state.config.stream;
    routes().map_router(|router| router.layer(Extension(streamer)).layer(compression()).layer(cors(config)))
}

/// Playlists and tracks are text and compress well; media does not.
fn compression() -> CompressionLayer<impl Predicate> {
    let predicate = SizeAbove::new(256).and(NotForContentType::const_new("video/")).and(NotForContentType::IMAGES).and(
        |status: axum::http::StatusCode,
         _: axum::http::Version,
         _: &axum::http::HeaderMap,
         _: &axum::http::Extensions| { status == axum::http::StatusCode::OK },
    );
    CompressionLayer::new().gzip(true).compress_when(predicate)
}

fn cors(config: &StreamConfig) -> CorsLayer {
    let origins = if config.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(config.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([header::RANGE, header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE])
        .expose_headers([
            header::CONTENT_LENGTH,
            header::CONTENT_RANGE,
            header::ACCEPT_RANGES,
            header::ETAG,
            HeaderName::from_static("last-modified"),
        ])
        .max_age(std::time::Duration::from_secs(86_400))
}
