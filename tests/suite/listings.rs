//! What every listing shows, to each kind of caller: the video list, creator profiles
//! and their video pages, the latest feed and search. Statuses alone (the
//! authorization table) cannot tell a listing that leaks a private video from one
//! that does not; these tests read the contents.

use std::collections::BTreeSet;

use serde_json::Value;
use uuid::Uuid;

use crate::support::TestApp;

/// Every video of one owner in each state a listing must tell apart.
struct Shelf {
    public: Uuid,
    unlisted: Uuid,
    private: Uuid,
    /// Public, but not ready yet.
    queued: Uuid,
}

async fn shelf(app: &TestApp, owner: Uuid, word: &str) -> Shelf {
    let mut made = Vec::new();
    for visibility in ["public", "unlisted", "private"] {
        let id = app.ready_video(owner, visibility).await;
        sqlx::query("UPDATE videos SET title = $2 WHERE id = $1")
            .bind(id)
            .bind(format!("{word} {visibility}"))
            .execute(app.db())
            .await
            .unwrap();
        made.push(id);
    }
    let queued = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO videos (id, owner_id, title, visibility, status, source_bytes) VALUES ($1, $2, $3, 'public', 'queued', 10)",
    )
    .bind(queued)
    .bind(owner)
    .bind(format!("{word} queued"))
    .execute(app.db())
    .await
    .unwrap();
    Shelf { public: made[0], unlisted: made[1], private: made[2], queued }
}

/// The ids listed at `path` (under `field`) as the holder of `token` (anonymous: `None`).
async fn listed(app: &TestApp, path: &str, field: &str, token: Option<&str>) -> BTreeSet<Uuid> {
    let mut request = app.http.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let body: Value = response.json().await.unwrap();
    body[field]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: no {field} in {body}"))
        .iter()
        .map(|v| v["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn set(ids: &[Uuid]) -> BTreeSet<Uuid> {
    ids.iter().copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_show_public_ready_videos_and_only_the_callers_own_besides() {
    let app = TestApp::spawn().await;
    let (alice, alice_token) = app.quick_user("creator", "Alice").await;
    let (bob, bob_token) = app.quick_user("creator", "Bob").await;
    let (_, viewer_token) = app.quick_user("viewer", "Vera").await;
    let a = shelf(&app, alice, "zebra").await;
    let b = shelf(&app, bob, "zebra").await;
    let everyones = set(&[a.public, b.public]);

    // The video list: public ready videos, and signed in, all of the caller's own.
    let list = "/api/v1/videos";
    assert_eq!(listed(&app, list, "videos", None).await, everyones, "anonymous");
    assert_eq!(listed(&app, list, "videos", Some(&viewer_token)).await, everyones, "a viewer");
    assert_eq!(
        listed(&app, list, "videos", Some(&alice_token)).await,
        set(&[a.public, a.unlisted, a.private, a.queued, b.public]),
        "the owner sees all of her own and only the public ready one of the others"
    );
    // What an entry says of itself: her public video still queued cannot be played yet,
    // so it has no master to offer; her public ready one has.
    let own = app.get_json(list, &alice_token).await;
    let entry = |id: Uuid| own["videos"].as_array().unwrap().iter().find(|v| v["id"] == id.to_string()).unwrap();
    let queued = entry(a.queued);
    assert_eq!((&queued["playable"], &queued["master_url"]), (&Value::Bool(false), &Value::Null), "{queued}");
    let ready = entry(a.public);
    assert_eq!(ready["playable"], true, "{ready}");
    assert!(ready["master_url"].is_string(), "{ready}");
    assert_eq!(
        listed(&app, list, "videos", Some(&bob_token)).await,
        set(&[b.public, b.unlisted, b.private, b.queued, a.public]),
        "another creator"
    );

    // A creator's profile and video pages: public ready videos only, whoever asks —
    // the owner too (it is the page others see).
    for token in [None, Some(bob_token.as_str()), Some(viewer_token.as_str()), Some(alice_token.as_str())] {
        let who = if token.is_some() { "signed in" } else { "anonymous" };
        assert_eq!(
            listed(&app, &format!("/api/v1/creators/{alice}"), "videos", token).await,
            set(&[a.public]),
            "{who}"
        );
        assert_eq!(
            listed(&app, &format!("/api/v1/creators/{alice}/videos"), "items", token).await,
            set(&[a.public]),
            "{who}"
        );
        assert_eq!(listed(&app, "/api/v1/feed/latest", "items", token).await, everyones, "{who}");
        assert_eq!(listed(&app, "/api/v1/search?q=zebra", "items", token).await, everyones, "{who}");
    }
}
