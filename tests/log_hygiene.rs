//! With every log at debug level, a full session (register, login, refresh, upload,
//! playback of a private video) writes no password, token or secret.

// The harness of tests/suite, of which this binary uses a little.
#[allow(dead_code)]
#[path = "suite/support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::{TEST_JWT_SECRET, TestApp};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_hold_no_password_token_or_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let app = TestApp::spawn().await;
    let user = app.user("creator").await;
    let refreshed: Value = app
        .http
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": user.refresh_token }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failed_login = app.login(&user.email, "a wrong password guess").await;
    assert_eq!(failed_login.status(), 401);
    let video = app.ready_video(user.id, "private").await;
    let playback = app.get_json(&format!("/api/v1/videos/{video}/playback"), &user.token).await;
    let master_url = playback["master_url"].as_str().unwrap();
    let playback_token = master_url.split_once("?token=").unwrap().1;
    assert_eq!(app.http.get(app.url(master_url)).send().await.unwrap().status(), 200);
    let clip = app.dir.path().join("clip.mp4");
    std::fs::write(&clip, support::fake_video()).unwrap();
    assert_eq!(app.upload(Some(&user.token), &clip, "Logged").await.status(), 202);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("DEBUG"), "debug logging was captured");
    assert!(logs.contains("/api/v1/auth/login"), "requests were logged");
    assert!(logs.contains("sqlx::query"), "library debug output was captured too");
    let secrets = [
        ("password", user.password.as_str()),
        ("wrong password", "a wrong password guess"),
        ("access token", user.token.as_str()),
        ("refresh token", user.refresh_token.as_str()),
        ("rotated refresh token", refreshed["refresh_token"].as_str().unwrap()),
        ("rotated access token", refreshed["access_token"].as_str().unwrap()),
        ("playback token", playback_token),
        ("signing secret", TEST_JWT_SECRET),
        ("S3 secret key", app.state.config.s3.secret_key.expose()),
    ];
    for (name, secret) in secrets {
        assert!(!logs.contains(secret), "the logs contain the {name}");
    }
}
