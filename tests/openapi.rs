//! The OpenAPI document: valid OpenAPI 3.1, and every route the router serves is in it.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use streambox::server::{self, Mode};
use support::TestApp;

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
