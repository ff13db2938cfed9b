//! Headers that harden every answer, in every mode: no MIME sniffing, no framing, no
//! referrer sent to other origins, HSTS when session cookies are `Secure`; on pages a
//! Content-Security-Policy with no inline script or style, whose media may come only
//! from here or from where segments are redirected (storage or a CDN); and
//! `Cache-Control: no-store` on session and account answers.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use streambox_base::config::{Config, SegmentRedirect};
use streambox_http::AppState;

/// The policy of one process, fixed at start.
#[derive(Clone)]
pub struct Hardening {
    csp: HeaderValue,
    hsts: bool,
}

impl Hardening {
    /// `storage_endpoint`: where object storage is reached (the embedded one's address
    /// in `all` mode), used when presigned segment redirects have no public endpoint.
    pub fn new(config: &Config, storage_endpoint: &str) -> Self {
        let redirected = match &config.stream.segment_redirect {
            SegmentRedirect::Off => None,
            SegmentRedirect::Presigned(_) => origin(config.s3.public_endpoint.as_deref().unwrap_or(storage_endpoint)),
            SegmentRedirect::Base(base) => origin(base),
        };
        let media = redirected.map(|o| format!(" {o}")).unwrap_or_default();
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{media}; \
             media-src 'self' blob:{media}; connect-src 'self'{media}; worker-src 'self' blob:; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        Self { csp: HeaderValue::from_str(&csp).expect("origins are ASCII"), hsts: config.cookie_secure }
    }

    /// `router` with the headers on every answer.
    pub fn apply(self, router: Router<AppState>) -> Router<AppState> {
        router.layer(middleware::from_fn(move |request: Request, next: Next| {
            let policy = self.clone();
            async move { policy.harden(request, next).await }
        }))
    }

    async fn harden(&self, request: Request, next: Next) -> Response {
        let path = request.uri().path();
        let personal = path.starts_with("/api/v1/auth/") || path == "/api/v1/me" || path.starts_with("/api/v1/me/");
        let mut response = next.run(request).await;
        let headers = response.headers_mut();
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        if self.hsts {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000"));
        }
        let page = headers.get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
        if page {
            headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        }
        if personal && !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        response
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization()).filter(|o| o != "null")
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins_keep_scheme_host_and_port_only() {
        assert_eq!(origin("https://cdn.example/bucket/x").as_deref(), Some("https://cdn.example"));
        assert_eq!(origin("http://127.0.0.1:9000").as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(origin("not a url"), None);
    }
}
