//! Logs a machine can read: with the JSON format every line is one JSON object, no
//! colour codes, and a request's lines carry the id its answer's `X-Request-Id` shows
//! (the gateway's, when trusted). A binary of its own: it installs the process's logger.

// The harness of tests/suite, of which this binary uses a little.
#[allow(dead_code)]
#[path = "suite/support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use streambox_base::telemetry::{self, LogFormat};
use support::TestApp;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains('\u{1b}'), "no colour codes in JSON logs");
        text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
    }
}

/// The lines logged inside the request whose id is `id`.
fn lines_of(lines: &[Value], id: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|line| line["spans"].as_array().is_some_and(|spans| spans.iter().any(|s| s["request_id"] == id)))
        .cloned()
        .collect()
}

async fn register(app: &TestApp, given_id: &str) -> String {
    let email = format!("logs-{}@example.org", uuid::Uuid::new_v4().simple());
    let response = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("x-request-id", given_id)
        .json(&json!({ "email": email, "password": "a long enough password", "display_name": "Logs" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.headers()["x-request-id"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_parse_and_carry_the_request_id_the_answer_shows() {
    let captured = Captured::default();
    let writer = captured.clone();
    telemetry::install(LogFormat::Json, move || writer.clone(), false);

    // Not behind a trusted gateway: a client's id is replaced by the server's own.
    let app = TestApp::spawn().await;
    let id = register(&app, "made-up-by-the-client").await;
    assert_ne!(id, "made-up-by-the-client");
    let lines = captured.lines();
    let registered = lines_of(&lines, &id);
    assert!(
        registered.iter().any(|line| line["fields"]["message"] == "account registered"),
        "the handler's line carries the request id {id}: {registered:?}"
    );
    assert!(lines_of(&lines, "made-up-by-the-client").is_empty());

    // Behind a trusted gateway its id is kept, on the answer and the lines.
    let gateway = TestApp::spawn_with(&[("STREAMBOX_TRUST_FORWARDED_FOR", "true")]).await;
    assert_eq!(register(&gateway, "gw-7f3a").await, "gw-7f3a");
    assert!(
        lines_of(&captured.lines(), "gw-7f3a").iter().any(|line| line["fields"]["message"] == "account registered")
    );
    // An id that is not sane is replaced even then.
    assert_ne!(register(&gateway, &"x".repeat(65)).await, "x".repeat(65));

    // Every line a transcode logs names its job and video.
    let token = app.signed_in_user().await;
    let clip = support::make_clip(app.dir.path(), "logged.mp4", 320, 180, 1, true);
    let video = app.upload_accepted(&token, &clip, "Logged").await;
    let done = app.wait_for_status(&token, &video, &["ready", "failed"], Duration::from_secs(180)).await;
    assert_eq!(done["status"], "ready", "{done}");
    let job_lines: Vec<Value> = captured
        .lines()
        .into_iter()
        .filter(|line| {
            let target = line["target"].as_str().unwrap_or_default();
            target.starts_with("streambox_transcoder::")
                && !target.ends_with("::worker")
                && !target.ends_with("::reconcile")
                && line["fields"]["message"] != "no transcode to run for this delivery"
        })
        .collect();
    assert!(job_lines.iter().any(|line| line["fields"]["message"] == "video ready"), "{job_lines:?}");
    for line in &job_lines {
        let spans = line["spans"].as_array().cloned().unwrap_or_default();
        assert!(
            spans.iter().any(|span| span["video_id"] == video.as_str() && span["job"].is_string()),
            "a worker line without its job and video: {line}"
        );
    }
}
