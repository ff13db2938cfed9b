//! The headers every answer carries, and the page policy: no inline script or style,
//! media only from here or where segments are redirected, never framed.

use crate::support::TestApp;

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

#[tokio::test]
async fn pages_get_a_strict_policy_and_every_answer_the_hardening_headers() {
    let app = TestApp::spawn().await;
    for path in ["/", "/api/v1/docs"] {
        let page = app.http.get(app.url(path)).send().await.unwrap();
        let policy = header(&page, "content-security-policy").to_owned();
        for part in [
            "default-src 'self'",
            "script-src 'self';",
            "style-src 'self';",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(policy.contains(part), "{path}: {part} in {policy}");
        }
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{policy}");
        assert_eq!(header(&page, "x-frame-options"), "DENY");
        // The policy refuses inline script and style: the pages have none.
        let html = page.text().await.unwrap();
        for script in html.split("<script").skip(1) {
            let tag = &script[..script.find('>').unwrap()];
            assert!(tag.contains("src="), "{path} has an inline script: <script{tag}>");
        }
        assert!(!html.contains("<style") && !html.contains(" style="), "{path} has inline style");
    }
    let api = app.http.get(app.url("/api/v1/videos")).send().await.unwrap();
    assert_eq!(header(&api, "x-content-type-options"), "nosniff");
    assert_eq!(header(&api, "referrer-policy"), "same-origin");
    assert_eq!(header(&api, "strict-transport-security"), "max-age=63072000", "cookies are Secure here");
    assert_eq!(header(&api, "content-security-policy"), "", "JSON needs no page policy");

    let user = app.user("creator").await;
    let login = app.login(&user.email, &user.password).await;
    assert_eq!(header(&login, "cache-control"), "no-store", "tokens are never cached");
    let me = app.http.get(app.url("/api/v1/me")).bearer_auth(&user.token).send().await.unwrap();
    assert_eq!(header(&me, "cache-control"), "no-store");
}

#[tokio::test]
async fn segment_redirects_widen_the_media_sources_and_plain_http_gets_no_hsts() {
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_SEGMENT_REDIRECT", "https://cdn.example/bucket"),
        ("STREAMBOX_COOKIE_SECURE", "false"),
    ])
    .await;
    let page = app.http.get(app.url("/")).send().await.unwrap();
    let policy = header(&page, "content-security-policy");
    assert!(policy.contains("media-src 'self' blob: https://cdn.example;"), "{policy}");
    assert!(policy.contains("connect-src 'self' https://cdn.example;"), "{policy}");
    assert_eq!(header(&page, "strict-transport-security"), "", "no HSTS without Secure cookies");
}
