//! The web app (frontend-dev/), embedded in the binary and served at `/` in `all` mode:
//! plain ES modules and vendored libraries, no build step.

use axum::http::header;
use axum::response::IntoResponse;
use streambox_http::routes::{Content, Doc, Routes};

/// `(URL path, content type, bytes)` of a file of frontend-dev/, typed by its extension.
macro_rules! file {
    ($url:literal, $path:literal) => {
        ($url, content_type($path), include_bytes!(concat!("../frontend-dev/", $path)) as &[u8])
    };
}

static FILES: [(&str, &str, &[u8]); 23] = [
    file!("/", "index.html"),
    file!("/app.js", "app.js"),
    file!("/style.css", "style.css"),
    file!("/js/api.js", "js/api.js"),
    file!("/js/cards.js", "js/cards.js"),
    file!("/js/charts.js", "js/charts.js"),
    file!("/js/dom.js", "js/dom.js"),
    file!("/js/heartbeats.js", "js/heartbeats.js"),
    file!("/js/player.js", "js/player.js"),
    file!("/js/session.js", "js/session.js"),
    file!("/js/status.js", "js/status.js"),
    file!("/js/pages/admin.js", "js/pages/admin.js"),
    file!("/js/pages/analytics.js", "js/pages/analytics.js"),
    file!("/js/pages/auth.js", "js/pages/auth.js"),
    file!("/js/pages/creator.js", "js/pages/creator.js"),
    file!("/js/pages/history.js", "js/pages/history.js"),
    file!("/js/pages/home.js", "js/pages/home.js"),
    file!("/js/pages/studio.js", "js/pages/studio.js"),
    file!("/js/pages/watch.js", "js/pages/watch.js"),
    file!("/vendor/hls.min.js", "vendor/hls.min.js"),
    file!("/vendor/hls.js.LICENSE", "vendor/hls.js.LICENSE"),
    file!("/vendor/tus.min.js", "vendor/tus.min.js"),
    file!("/vendor/tus-js-client.LICENSE", "vendor/tus-js-client.LICENSE"),
];

const fn content_type(path: &str) -> &'static str {
    match path.as_bytes() {
        [.., b'h', b't', b'm', b'l'] => "text/html; charset=utf-8",
        [.., b'.', b'j', b's'] => "text/javascript; charset=utf-8",
        [.., b'c', b's', b's'] => "text/css; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

pub fn routes() -> Routes {
    FILES.iter().fold(Routes::new(), |routes, file| {
        let (path, content_type, body) = *file;
        routes
            .get(path, move || async move {
                ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
            })
            .doc(Doc::new("A file of the embedded web app").reply(
                200,
                "The file",
                Content::Media(std::slice::from_ref(&file.1)),
            ))
    })
}
