//! Settings the README promises, each seen doing what it says: the signing secret and
//! the key-encryption key generated once in `all` mode, and the role new registrations get.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::support::TestApp;

/// An empty setting is an unset one.
const NO_SECRET: (&str, &str) = ("STREAMBOX_JWT_SECRET", "");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_all_mode_generates_one_once_owner_only_and_keeps_signing_with_it() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let settings = [NO_SECRET, ("STREAMBOX_DATA_DIR", data_dir.as_str())];
    let path = data.path().join("jwt-secret");

    let first = TestApp::spawn_with(&settings).await;
    let secret = std::fs::read_to_string(&path).expect("the generated secret is kept in the data dir");
    assert!(secret.trim().len() >= 32, "a secret long enough for HS256");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "owner-only");
    let signed_by_first = first.user("creator").await.token;
    drop(first);

    // A restart on the same data dir reads it back, and signs with it.
    let second = TestApp::spawn_with(&settings).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), secret, "created once, not replaced");
    let signed_by_second = second.user("creator").await.token;
    for token in [&signed_by_first, &signed_by_second] {
        assert!(signed_with(token, secret.trim()), "signed with the kept secret");
        assert!(!signed_with(token, crate::support::TEST_JWT_SECRET), "not with the harness's fixed secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_encryption_key_all_mode_generates_one_once_owner_only_and_keeps_it() {
    let data = tempfile::tempdir().unwrap();
    let settings = [("STREAMBOX_DATA_DIR", data.path().display().to_string())];
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let path = data.path().join("key-encryption-key");

    let first = TestApp::spawn_with(&settings).await;
    let key = std::fs::read_to_string(&path).expect("the generated key is kept in the data dir");
    assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()), "32 bytes in hexadecimal");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "owner-only");
    let in_use = |app: &TestApp| app.state.config.key_encryption_key.as_ref().unwrap().expose().to_owned();
    assert_eq!(in_use(&first), key, "the server seals keys with it");
    drop(first);

    // A restart on the same data dir reads it back: keys sealed before still open.
    let second = TestApp::spawn_with(&settings).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key, "created once, not replaced");
    assert_eq!(in_use(&second), key);
}

fn signed_with(token: &str, secret: &str) -> bool {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()), &validation)
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_default_role_viewer_new_accounts_watch_but_do_not_upload() {
    let app = TestApp::spawn_with(&[("STREAMBOX_DEFAULT_ROLE", "viewer")]).await;
    let (email, password) = ("vera@example.org", "correct horse battery staple");
    let registered = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": password, "display_name": "Vera" }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    assert_eq!(registered.json::<Value>().await.unwrap()["role"], "viewer");
    let login: Value = app.login(email, password).await.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(app.get_json("/api/v1/me", token).await["role"], "viewer");

    let refused = app.upload_buffered(token, &crate::support::fake_video(), "Mine").await;
    assert_eq!(refused.status(), 403);
    let presign = app.presign(token, &json!({ "title": "Mine", "size": 1000 })).await;
    assert_eq!(presign.status(), 403);
    let videos: i64 = sqlx::query_scalar("SELECT count(*) FROM videos").fetch_one(app.db()).await.unwrap();
    assert_eq!(videos, 0);

    // The default is creator.
    let default = TestApp::spawn().await;
    let registered = default
        .http
        .post(default.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": password, "display_name": "Cara" }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.json::<Value>().await.unwrap()["role"], "creator");
}
