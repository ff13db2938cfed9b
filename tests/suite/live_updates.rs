//! `GET /api/v1/me/updates`: the web app's live stream (Server-Sent Events) of the
//! signed-in user's videos in flight and, for administrators, the queue's counts.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{TestApp, TestUser, make_clip};

/// A stream of live updates as a browser's EventSource reads it.
struct Updates {
    response: reqwest::Response,
    buffer: String,
}

impl Updates {
    async fn open(app: &TestApp, user: &TestUser) -> Self {
        let response = app
            .http
            .get(app.url("/api/v1/me/updates"))
            .header("cookie", format!("sb_access={}", user.token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { response, buffer: String::new() }
    }

    /// The next event as `(name, data)`, or `None` once the stream has closed; fails
    /// after `deadline`.
    async fn next(&mut self, deadline: Duration) -> Option<(String, Value)> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block.lines().find_map(|line| line.strip_prefix(name).map(|v| v.trim_start().to_owned()))
                };
                // Comment lines (keep-alives) carry no event.
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    return Some((event, serde_json::from_str(&data).unwrap()));
                }
                continue;
            }
            let left = until.checked_duration_since(Instant::now()).expect("an event before the deadline");
            match tokio::time::timeout(left, self.response.chunk()).await.expect("an event before the deadline") {
                Ok(Some(bytes)) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Reads events until one satisfies `wanted`; returns every event read, that one last.
    async fn until(&mut self, deadline: Duration, wanted: impl Fn(&str, &Value) -> bool) -> Vec<(String, Value)> {
        let until = Instant::now() + deadline;
        let mut seen = Vec::new();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let event = self.next(left).await.unwrap_or_else(|| panic!("the stream closed; events so far: {seen:?}"));
            let done = wanted(&event.0, &event.1);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_is_told_of_their_video_until_it_is_ready_and_no_one_else_is() {
    let app = TestApp::spawn().await;
    let (owner, other, admin) = (app.user("creator").await, app.user("creator").await, app.user("admin").await);
    let mut owner_updates = Updates::open(&app, &owner).await;
    let mut other_updates = Updates::open(&app, &other).await;
    let mut admin_updates = Updates::open(&app, &admin).await;
    let minute = Duration::from_secs(60);
    assert_eq!(owner_updates.next(minute).await, Some(("ready".into(), json!({ "queue": false }))));
    assert_eq!(other_updates.next(minute).await, Some(("ready".into(), json!({ "queue": false }))));
    assert_eq!(admin_updates.next(minute).await, Some(("ready".into(), json!({ "queue": true }))));

    let clip = make_clip(app.dir.path(), "live.mp4", 640, 360, 6, true);
    let id = app.upload_accepted(&owner.token, &clip, "Live").await;
    let of_video = |event: &str, data: &Value| event == "video" && data["id"] == id.as_str();
    let told = owner_updates.until(Duration::from_secs(240), |e, d| of_video(e, d) && d["status"] == "ready").await;
    let told: Vec<&Value> = told.iter().filter(|(e, d)| of_video(e, d)).map(|(_, d)| d).collect();
    assert!(matches!(told[0]["status"].as_str(), Some("queued" | "processing")), "first told: {told:?}");
    let processing: Vec<f64> =
        told.iter().filter(|d| d["status"] == "processing").filter_map(|d| d["percent"].as_f64()).collect();
    assert!(!processing.is_empty(), "the percent was told while processing: {told:?}");
    assert!(processing.windows(2).all(|w| w[0] <= w[1]), "the percent never goes back: {processing:?}");
    let last = told.last().unwrap();
    assert_eq!((last["playable"].as_bool(), last["error"].is_null()), (Some(true), true), "{last}");
    let first_playable = told.iter().position(|d| d["playable"] == true).unwrap();
    assert!(told[first_playable..].iter().all(|d| d["playable"] == true), "playable stays true: {told:?}");

    // The administrator's queue counts saw the job run and end; nothing of the video
    // itself came before (a tick tells a video before the counts).
    let busy = |d: &Value| d["running"] != 0 || d["queued"] != 0;
    let mut queue_seen = admin_updates.until(minute, |e, d| e == "queue" && busy(d)).await;
    queue_seen.extend(admin_updates.until(minute, |e, d| e == "queue" && !busy(d)).await);
    assert!(queue_seen.iter().all(|(e, _)| e == "queue"), "the admin sees counts only: {queue_seen:?}");

    // Another user's own video in flight comes after everything of the tick that told
    // the owner of `ready`: nothing of the owner's video comes before it.
    let theirs = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO videos (id, owner_id, title, status, source_bytes) VALUES ($1, $2, 'Theirs', 'queued', 4)",
    )
    .bind(theirs)
    .bind(other.id)
    .execute(app.db())
    .await
    .unwrap();
    let other_seen = other_updates.until(minute, |e, d| e == "video" && d["id"] == theirs.to_string()).await;
    assert_eq!(other_seen.len(), 1, "the other user is told of their own video only: {other_seen:?}");
    assert_eq!(other_seen[0].1["status"], "queued");

    let signed_out = app
        .http
        .post(app.url("/api/v1/auth/logout"))
        .json(&json!({ "refresh_token": other.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 204);
    let after = app.http.get(app.url("/api/v1/me/updates")).bearer_auth(&other.token).send().await.unwrap();
    assert_eq!(after.status(), 401, "a signed-out session gets no stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_access_token_expires() {
    let app = TestApp::spawn_with(&[("STREAMBOX_ACCESS_TOKEN_TTL_SECS", "3")]).await;
    let user = app.user("creator").await;
    let mut updates = Updates::open(&app, &user).await;
    let seen = updates.until(Duration::from_secs(30), |e, _| e == "end").await;
    assert_eq!(seen.last().unwrap().1, json!({ "reason": "expired" }), "{seen:?}");
    assert_eq!(updates.next(Duration::from_secs(30)).await, None, "the stream closes after `end`");

    let anonymous = app.http.get(app.url("/api/v1/me/updates")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_may_hold_only_a_few_streams_and_a_closed_one_frees_its_place() {
    let app = TestApp::spawn().await;
    let user = app.user("creator").await;
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(Updates::open(&app, &user).await);
    }
    let ninth = app.http.get(app.url("/api/v1/me/updates")).bearer_auth(&user.token).send().await.unwrap();
    assert_eq!(ninth.status(), 429);
    assert!(ninth.headers().contains_key("retry-after"));
    assert_eq!(ninth.json::<Value>().await.unwrap()["code"], "too_many_streams");
    let other = app.user("creator").await;
    Updates::open(&app, &other).await;

    // The server notices a closed stream at its next write (a keep-alive at the latest).
    drop(open.pop());
    crate::support::eventually(Duration::from_secs(60), "the closed stream's place", || async {
        let again = app.http.get(app.url("/api/v1/me/updates")).bearer_auth(&user.token).send().await.unwrap();
        (again.status() == 200).then_some(())
    })
    .await;
}
