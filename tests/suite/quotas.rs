//! Per-user quotas: bytes uploaded in 24 hours, bytes kept and videos queued, each
//! refused with its own code before anything is stored, through every upload protocol;
//! charges settle to what was really stored; admins override them per user.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, fake_video};

const TUS: &str = "/api/v1/uploads/tus";

/// A file that uploads accept (it starts like an MP4) of exactly `len` bytes.
fn file_of(len: usize) -> Vec<u8> {
    let mut bytes = fake_video();
    bytes.resize(len, b'.');
    bytes
}

async fn tus_create(app: &TestApp, token: &str, length: u64) -> reqwest::Response {
    app.http
        .post(app.url(TUS))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", length.to_string())
        .header("upload-metadata", format!("title {}", STANDARD.encode("Quota")))
        .send()
        .await
        .unwrap()
}

async fn quota(app: &TestApp, token: &str) -> Value {
    let response = app.http.get(app.url("/api/v1/me/quota")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn set_quota(app: &TestApp, admin: &str, user: uuid::Uuid, body: Value) -> reqwest::Response {
    app.http
        .put(app.url(&format!("/api/v1/admin/users/{user}/quota")))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The refusal's status and code, and that its message says what the limit is.
async fn assert_refused(response: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().unwrap().contains("you may"), "{body}");
}

async fn count(app: &TestApp, sql: &str, user: uuid::Uuid) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).bind(user).fetch_one(app.db()).await.unwrap()
}

#[tokio::test]
async fn the_days_uploads_are_capped_across_protocols_and_settle_to_what_was_stored() {
    let app =
        TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false"), ("STREAMBOX_QUOTA_UPLOAD_BYTES_PER_DAY", "9000")])
            .await;
    let creator = app.user("creator").await;
    let token = &creator.token;

    assert_eq!(app.upload_buffered(token, &file_of(3000), "First").await.status(), StatusCode::ACCEPTED);
    let tus = tus_create(&app, token, 4000).await;
    assert_eq!(tus.status(), StatusCode::CREATED);
    let tus_location = tus.headers()["location"].to_str().unwrap().to_owned();
    let usage = quota(&app, token).await;
    assert_eq!(usage["limits"]["upload_bytes_per_day"], 9000);
    assert_eq!(usage["usage"]["uploaded_today"], 7000, "{usage}");

    // A known size that does not fit is refused before anything is made.
    let uploads_before = count(&app, "SELECT count(*) FROM uploads WHERE owner_id = $1", creator.id).await;
    let presigned = app.presign(token, &json!({ "title": "Too much", "size": 2001 })).await;
    assert_refused(presigned, StatusCode::PAYLOAD_TOO_LARGE, "upload_quota_exceeded").await;
    assert_refused(tus_create(&app, token, 2001).await, StatusCode::PAYLOAD_TOO_LARGE, "upload_quota_exceeded").await;
    assert_eq!(count(&app, "SELECT count(*) FROM uploads WHERE owner_id = $1", creator.id).await, uploads_before);

    // A streamed form bigger than what is left is stopped once past it; nothing stays.
    let streamed = app.upload_buffered(token, &file_of(2500), "Streamed").await;
    assert_refused(streamed, StatusCode::PAYLOAD_TOO_LARGE, "upload_quota_exceeded").await;
    assert_eq!(count(&app, "SELECT count(*) FROM videos WHERE owner_id = $1", creator.id).await, 1);
    assert_eq!(app.state.storage.list("raw/").await.unwrap().len(), 1, "only the first upload's source is stored");
    assert_eq!(quota(&app, token).await["usage"]["uploaded_today"], 7000, "a refused upload costs nothing");

    // Abandoning the resumable upload gives back what it did not store.
    let terminated = app
        .http
        .delete(app.url(&tus_location))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(terminated.status(), StatusCode::NO_CONTENT);
    assert_eq!(quota(&app, token).await["usage"]["uploaded_today"], 3000);
    assert_eq!(app.upload_buffered(token, &file_of(5000), "Fits now").await.status(), StatusCode::ACCEPTED);

    // Deleting a video does not give its bytes back to the day.
    let first: String = sqlx::query_scalar("SELECT id::text FROM videos WHERE owner_id = $1 AND title = 'First'")
        .bind(creator.id)
        .fetch_one(app.db())
        .await
        .unwrap();
    let deleted = app.http.delete(app.url(&format!("/api/v1/videos/{first}"))).bearer_auth(token).send().await.unwrap();
    assert!(deleted.status().is_success());
    let usage = quota(&app, token).await;
    assert_eq!(usage["usage"]["uploaded_today"], 8000, "{usage}");
    assert_eq!(usage["usage"]["stored_bytes"], 5000, "{usage}");

    // An admin lifts the limit for this user only.
    let admin = app.user("admin").await;
    let lifted = set_quota(&app, &admin.token, creator.id, json!({ "upload_bytes_per_day": -1 })).await;
    assert_eq!(lifted.status(), StatusCode::OK);
    let lifted: Value = lifted.json().await.unwrap();
    assert_eq!(lifted["limits"]["upload_bytes_per_day"], Value::Null, "{lifted}");
    assert_eq!(lifted["overrides"]["upload_bytes_per_day"], -1, "{lifted}");
    assert_eq!(app.upload_buffered(token, &file_of(5000), "Unlimited").await.status(), StatusCode::ACCEPTED);
    let other = app.user("creator").await;
    let presigned = app.presign(&other.token, &json!({ "title": "Still capped", "size": 9001 })).await;
    assert_refused(presigned, StatusCode::PAYLOAD_TOO_LARGE, "upload_quota_exceeded").await;
}

#[tokio::test]
async fn kept_bytes_are_capped_and_deleting_makes_room() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false"), ("STREAMBOX_QUOTA_STORED_BYTES", "6000")]).await;
    let token = &app.user("creator").await.token;
    let mut ids = Vec::new();
    for title in ["One", "Two"] {
        let response = app.upload_buffered(token, &file_of(3000), title).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        ids.push(response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    assert_refused(
        app.presign(token, &json!({ "title": "Three", "size": 10 })).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "storage_quota_exceeded",
    )
    .await;
    assert_refused(
        app.upload_buffered(token, &file_of(3000), "Three").await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "storage_quota_exceeded",
    )
    .await;
    let deleted =
        app.http.delete(app.url(&format!("/api/v1/videos/{}", ids[0]))).bearer_auth(token).send().await.unwrap();
    assert!(deleted.status().is_success());
    assert_eq!(app.upload_buffered(token, &file_of(3000), "Three").await.status(), StatusCode::ACCEPTED);
    assert_eq!(quota(&app, token).await["usage"]["stored_bytes"], 6000);
}

#[tokio::test]
async fn videos_in_the_queue_are_capped_counting_uploads_in_progress() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false"), ("STREAMBOX_QUOTA_QUEUED_VIDEOS", "2")]).await;
    let creator = app.user("creator").await;
    let token = &creator.token;
    assert_eq!(app.upload_buffered(token, &file_of(3000), "Queued").await.status(), StatusCode::ACCEPTED);
    assert_eq!(tus_create(&app, token, 3000).await.status(), StatusCode::CREATED);

    let refused = app.upload_buffered(token, &file_of(3000), "Third").await;
    assert_eq!(refused.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()), Some("60".into()));
    assert_refused(refused, StatusCode::TOO_MANY_REQUESTS, "queue_quota_exceeded").await;
    assert_eq!(quota(&app, token).await["usage"]["queued_videos"], 2);

    // Only admins set quotas, for users that exist; the override applies at once.
    let admin = app.user("admin").await;
    let by_creator = set_quota(&app, token, creator.id, json!({ "queued_videos": 10 })).await;
    assert_eq!(by_creator.status(), StatusCode::FORBIDDEN);
    let nobody = set_quota(&app, &admin.token, uuid::Uuid::new_v4(), json!({ "queued_videos": 10 })).await;
    assert_eq!(nobody.status(), StatusCode::NOT_FOUND);
    let invalid = set_quota(&app, &admin.token, creator.id, json!({ "queued_videos": -2 })).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(set_quota(&app, &admin.token, creator.id, json!({ "queued_videos": 3 })).await.status(), StatusCode::OK);
    assert_eq!(app.upload_buffered(token, &file_of(3000), "Third").await.status(), StatusCode::ACCEPTED);
    let seen = app.get_json(&format!("/api/v1/admin/users/{}/quota", creator.id), &admin.token).await;
    assert_eq!(seen["limits"]["queued_videos"], 3, "{seen}");
    assert_eq!(seen["usage"]["queued_videos"], 3, "{seen}");
    // Back to the default.
    assert_eq!(set_quota(&app, &admin.token, creator.id, json!({})).await.status(), StatusCode::OK);
    assert_eq!(quota(&app, token).await["limits"]["queued_videos"], 2);
}

#[tokio::test]
async fn uploads_started_at_once_cannot_share_the_last_of_a_quota() {
    let app =
        TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false"), ("STREAMBOX_QUOTA_UPLOAD_BYTES_PER_DAY", "3000")])
            .await;
    let token = app.user("creator").await.token;
    let attempts = (0..8).map(|n| {
        let (app, token) = (&app, &token);
        async move { app.presign(token, &json!({ "title": format!("Race {n}"), "size": 1000 })).await.status() }
    });
    let statuses = futures::future::join_all(attempts).await;
    let admitted = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::PAYLOAD_TOO_LARGE).count();
    assert_eq!((admitted, refused), (3, 5), "{statuses:?}");
}
