//! The dev frontend (frontend-dev/), embedded in the binary and served at `/` in `all` mode.

use axum::http::header;
use axum::response::IntoResponse;
use streambox_http::routes::{Content, Doc, Routes};

static FILES: [(&str, &str, &[u8]); 5] = [
    ("/", "text/html; charset=utf-8", include_bytes!("../frontend-dev/index.html")),
    ("/app.js", "text/javascript; charset=utf-8", include_bytes!("../frontend-dev/app.js")),
    ("/style.css", "text/css; charset=utf-8", include_bytes!("../frontend-dev/style.css")),
    ("/vendor/hls.min.js", "text/javascript; charset=utf-8", include_bytes!("../frontend-dev/vendor/hls.min.js")),
    ("/vendor/hls.js.LICENSE", "text/plain; charset=utf-8", include_bytes!("../frontend-dev/vendor/hls.js.LICENSE")),
];

pub fn routes() -> Routes {
    FILES.iter().fold(Routes::new(), |routes, file| {
        let (path, content_type, body) = *file;
        routes
            .get(path, move || async move {
                ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
            })
            .doc(Doc::new("A file of the embedded development web app").reply(
                200,
                "The file",
                Content::Media(std::slice::from_ref(&file.1)),
            ))
    })
}
