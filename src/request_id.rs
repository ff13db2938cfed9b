//! Every request gets an id: the gateway's `X-Request-Id` when the gateway is trusted
//! (`STREAMBOX_TRUST_FORWARDED_FOR`) and the id is sane (1–64 of `A-Za-z0-9-_.:`), else a
//! fresh one. It is on every log line of the request (its span's `request_id`) and in the
//! answer's `X-Request-Id`, so a client's report finds the server's lines.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use streambox_http::AppState;

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// `router` with ids given (outside every other layer, so the request's span has it).
pub fn apply(router: Router<AppState>, trust_gateway: bool) -> Router<AppState> {
    router.layer(middleware::from_fn(move |request: Request, next: Next| identify(request, next, trust_gateway)))
}

async fn identify(mut request: Request, next: Next, trust_gateway: bool) -> Response {
    let given = request.headers().get(&HEADER).filter(|id| trust_gateway && sane(id.as_bytes())).cloned();
    let id = given.unwrap_or_else(|| {
        HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string()).expect("a uuid is a header value")
    });
    request.headers_mut().insert(HEADER.clone(), id.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(HEADER.clone(), id);
    response
}

fn sane(id: &[u8]) -> bool {
    (1..=64).contains(&id.len()) && id.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

#[cfg(test)]
mod tests {
    use super::sane;

    #[test]
    fn ids_are_short_and_plain() {
        assert!(sane(b"abc-123_x.y:z"));
        assert!(!sane(b""));
        assert!(!sane(&[b'a'; 65]));
        assert!(!sane(b"new\nline"));
        assert!(!sane(b"quote\""));
    }
}
