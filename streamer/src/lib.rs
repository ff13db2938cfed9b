//! The streaming service: playlists, segments, posters and previews of ready videos,
//! and encrypted videos' segment keys. Public videos play directly; unlisted and private
//! ones need a playback token, which travels in every playlist URI (key URIs included). Hot objects are served from memory; HTTP semantics
//! (ranges, validators, CORS, compressed playlists) are what players and CDNs expect.

mod access;
mod object_cache;
mod object_path;
mod playlist_tokens;
mod serve;

use axum::Extension;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use metrics::Counter;
use streambox_base::config::StreamConfig;
use streambox_http::AppState;
use streambox_http::error_codes as codes;
use streambox_http::routes::{Access, Content, Doc, Routes};
use streambox_storage::layout::urls;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use serve::Streamer;

use crate::object_path::PLAYLIST;

pub fn routes() -> Routes {
    Routes::new()
        .get(urls::MASTER_ROUTE, serve::master)
        .doc(media("HLS master playlist", &[PLAYLIST]))
        .get(urls::POSTER_ROUTE, serve::poster)
        .doc(media("Poster image", &["image/jpeg"]))
        .get(urls::SPRITE_ROUTE, serve::storyboard_sprite)
        .doc(media("Storyboard sprite sheet", &["image/jpeg"]))
        .get(urls::TRACK_ROUTE, serve::storyboard_track)
        .doc(media("Storyboard WebVTT thumbnails track", &["text/vtt"]))
        .get(urls::RENDITION_FILE_ROUTE, serve::rendition_file)
        .doc(
            media(
                "A rendition's playlist, I-frame playlist, segment (byte ranges) or fMP4 initialization segment; caption tracks' are WebVTT",
                &[PLAYLIST, "video/mp2t", "video/mp4", "text/vtt"],
            )
            .reply(206, "The requested range of a segment", Content::Media(&["video/mp2t", "video/mp4"]))
            .reply(302, "The segment is served by the configured CDN or storage", Content::None)
            .error(416, &[codes::RANGE_NOT_SATISFIABLE], "The range is outside the segment"),
        )
        .get(urls::KEY_ROUTE, serve::key)
        .doc(
            Doc::new("An encrypted video's AES-128 segment key (its playlists' EXT-X-KEY URI)")
                .access(Access::PlaybackToken)
                .query::<access::PlaybackQuery>()
                .reply(200, "The 16-byte key; never cached", Content::Media(&["application/octet-stream"]))
                .error(404, &[codes::NOT_FOUND], "The video is not encrypted"),
        )
}

/// A file of a video's published media: public, or with the playback token.
fn media(summary: &'static str, types: &'static [&'static str]) -> Doc {
    Doc::new(summary)
        .access(Access::PlaybackToken)
        .query::<access::PlaybackQuery>()
        .reply(200, "The file", Content::Media(types))
        .reply(304, "Not modified since the validator given", Content::None)
}

/// The streamer's routes with its state and HTTP layers.
pub fn serving(state: &AppState, shutdown: CancellationToken) -> Routes {
    let streamer = Streamer::start(state, shutdown);
    let config = &state.config.stream;
    let sent = state.metrics.counter("streambox_stream_bytes_total", &[]);
    routes().map_router(|router| {
        router
            .layer(middleware::from_fn(move |request: Request, next: Next| count_sent(sent.clone(), request, next)))
            .layer(Extension(streamer))
            .layer(compression())
            .layer(cors(config))
    })
}

/// Counts the bytes of each media body sent (those whose length is known up front).
async fn count_sent(sent: Counter, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let length = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(length) = length {
        sent.increment(length);
    }
    response
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
