//! The OpenAPI document: valid OpenAPI 3.1, and every route the router serves is in it.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use streambox::server::{self, Mode};
use streambox_http::error_codes as codes;

use crate::support::TestApp;

#[tokio::test]
async fn the_document_is_valid_openapi_and_names_every_route() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");

    let mut documented = BTreeSet::new();
    let mut operation_ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            assert!(!operation["summary"].as_str().unwrap().is_empty(), "{method} {path} has no summary");
            assert!(operation_ids.insert(operation["operationId"].as_str().unwrap().to_owned()), "duplicate id");
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let in_path: BTreeSet<&str> =
                path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
            assert_eq!(declared, in_path, "{method} {path}");
            let responses = operation["responses"].as_object().unwrap();
            // A route whose answer is a redirect (single sign-on's) succeeds with a 3xx.
            let success = |status: &String| status.starts_with('2') || status.starts_with('3');
            assert!(responses.keys().any(success), "{method} {path} has no success");
            for (status, response) in responses {
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    if media == "application/json" {
                        assert!(content["schema"].is_object(), "{method} {path} {status} has no schema");
                    }
                }
            }
            if let Some(content) = operation["requestBody"]["content"].as_object() {
                for (media, content) in content {
                    assert!(content["schema"].is_object(), "{method} {path} {media} body has no schema");
                }
            }
        }
    }
    let served: BTreeSet<(String, String)> =
        server::routes(Mode::All).table().iter().map(|r| (r.method.to_string(), r.path.to_owned())).collect();
    assert_eq!(documented, served, "the document and the router disagree");

    // The OpenAPI project's own validator (Python, installed by scripts/test).
    let file = app.dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&document).unwrap()).unwrap();
    let validated = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
        ])
        .arg(&file)
        .output()
        .expect("run python3");
    assert!(validated.status.success(), "{}", String::from_utf8_lossy(&validated.stderr));

    let page = app.http.get(app.url("/api/v1/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("/api/v1/openapi.json"));
}

/// Every error answer of every route lists the `code`s it may carry (so a client can
/// match on them, and schemathesis checks each answer's code against its route's list);
/// together the routes name every code but the two the framework answers for a path no
/// route serves that way and those single sign-on's callback puts in its redirect to the
/// sign-in page (`/#/signin?error=CODE`), which its 303 describes.
#[tokio::test]
async fn every_error_answer_lists_its_codes_and_every_code_has_a_route() {
    let app = TestApp::spawn().await;
    let document: Value = app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let known: BTreeSet<&str> = codes::ALL.iter().map(|(code, _)| *code).collect();
    let mut named = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let schema = &response["content"]["application/json"]["schema"];
                let listed = schema["allOf"][1]["properties"]["code"]["enum"].as_array();
                let listed = listed.unwrap_or_else(|| panic!("{method} {path} {status} lists no codes: {schema}"));
                assert!(!listed.is_empty(), "{method} {path} {status}");
                for code in listed {
                    let code = code.as_str().unwrap();
                    assert!(known.contains(code), "{method} {path} {status}: {code} is not in the list of codes");
                    named.insert(code.to_owned());
                }
            }
        }
    }
    let unrouted = [codes::METHOD_NOT_ALLOWED, codes::ERROR];
    let redirected = [
        codes::INVALID_OIDC_STATE,
        codes::INVALID_OIDC_NONCE,
        codes::INVALID_OIDC_TOKEN,
        codes::OIDC_DENIED,
        codes::OIDC_EMAIL_UNVERIFIED,
    ];
    let expected: BTreeSet<String> = known
        .iter()
        .filter(|code| !unrouted.contains(code) && !redirected.contains(code))
        .map(|code| code.to_string())
        .collect();
    assert_eq!(named, expected, "codes no route lists, or routes listing what is not a code");
}

/// schemathesis (PyPI, installed by scripts/test) generates requests from the document
/// for a bounded time, as a creator: no request may get a server error, a status the
/// document does not name, or a body or content type other than the document says.
/// Bodies it cannot build from the document (file uploads) are left out. Its summary is
/// left in the target folder for `scripts/test` to print.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_schema_conformance,response_headers_conformance";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_get_only_documented_answers() {
    let app = TestApp::spawn().await;
    // An administrator reaches every route; data to list makes the lists' schemas count.
    let admin = app.user("admin").await;
    let (creator, _) = app.quick_user("creator", "Another creator").await;
    for (owner, visibility) in [(admin.id, "public"), (creator, "public"), (creator, "unlisted")] {
        app.ready_video(owner, visibility).await;
    }
    app.dead_job(creator).await;
    let ran = tokio::process::Command::new("st")
        .args(["run", &app.url("/api/v1/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {}", admin.token)])
        // One worker: with two, CPython 3.11.7 (this machine's) can fail parsing in two threads
        // at once ("AST constructor recursion depth mismatch", raised inside Hypothesis), which
        // failed a clean-clone CI run with every generated request passing.
        .args(["--checks", CHECKS, "--max-examples", "20", "--max-time", "90", "--workers", "1"])
        .args(["--request-timeout", "20", "--seed", "1", "--no-color"])
        .args(["--exclude-path", "/api/v1/uploads", "--exclude-path-regex", "^/api/v1/uploads/tus"])
        .args(["--exclude-path", "/api/v1/auth/logout"])
        // A stream of live updates never ends by itself: tests/suite/live_updates.rs reads it.
        .args(["--exclude-path", "/api/v1/me/updates"])
        .current_dir(app.dir.path())
        .output()
        .await
        .expect("run schemathesis (st)");
    let report = String::from_utf8_lossy(&ran.stdout);
    let summary = summary(&report);
    std::fs::write(Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-summary.txt"), &summary).unwrap();
    print!("{summary}");
    assert!(ran.status.success(), "{report}\n{}", String::from_utf8_lossy(&ran.stderr));
}

/// One line: how many requests, and how many failures of each kind the issue names.
fn summary(report: &str) -> String {
    let failures = |kind: &str| -> u64 {
        let line = report.lines().find(|l| l.contains('❌') && l.contains(kind));
        line.and_then(|l| l.rsplit(':').next()).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
    };
    let generated = report
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(" generated"))
        .unwrap_or("nothing generated");
    format!(
        "schemathesis: {generated}; server errors {}, response-schema violations {}, undocumented status codes {}, \
         undocumented content types {}\n",
        failures("Server error"),
        failures("Response violates schema"),
        failures("Undocumented status code"),
        failures("Undocumented Content-Type"),
    )
}
