//! With every log at debug level, a full session (register, login, refresh, upload,
//! playback of a private video, the transcode of an encrypted one and its key's
//! delivery) writes no password, token, secret or segment key.

// The harness of tests/suite, of which this binary uses a little.
#[allow(dead_code)]
#[path = "suite/support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::{TEST_JWT_SECRET, TestApp, make_clip};

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
    let key = encrypted_video_key(&app, &user.token).await;

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
        ("key-encryption key", app.state.config.key_encryption_key.as_ref().unwrap().expose()),
    ];
    for (name, secret) in secrets {
        assert!(!logs.contains(secret), "the logs contain the {name}");
    }
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!logs.to_lowercase().contains(&hex), "the logs contain the segment key in hexadecimal");
    let raw = captured.0.lock().unwrap().clone();
    assert!(!raw.windows(key.len()).any(|w| w == key), "the logs contain the segment key");
}

/// Uploads a short clip as a private encrypted video, waits for its transcode and
/// fetches its segment key with a playback token, as a player would; the key.
async fn encrypted_video_key(app: &TestApp, token: &str) -> Vec<u8> {
    let clip = make_clip(app.dir.path(), "sealed.mp4", 320, 240, 4, true);
    let form = reqwest::multipart::Form::new()
        .text("title", "Sealed")
        .text("visibility", "private")
        .text("encryption", "on")
        .part("file", reqwest::multipart::Part::bytes(std::fs::read(&clip).unwrap()).file_name("sealed.mp4"));
    let uploaded = app.http.post(app.url("/api/v1/uploads")).bearer_auth(token).multipart(form).send().await.unwrap();
    assert_eq!(uploaded.status(), 202);
    let id = uploaded.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let video = app.wait_for_status(token, &id, &["ready", "failed"], std::time::Duration::from_secs(180)).await;
    assert_eq!(video["status"], "ready", "{video}");
    let playback = app.get_json(&format!("/api/v1/videos/{id}/playback"), token).await;
    let playback_token = playback["master_url"].as_str().unwrap().split_once("?token=").unwrap().1.to_owned();
    let key = app.http.get(app.url(&format!("/hls/{id}/key?token={playback_token}"))).send().await.unwrap();
    assert_eq!(key.status(), 200);
    key.bytes().await.unwrap().to_vec()
}
