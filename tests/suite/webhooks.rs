//! Events out: signed webhooks delivered at least once, in order per video, with
//! retries; one endpoint's trouble never delays another's; a killed sender or an empty
//! Redis loses nothing; deliveries never reach inside the network unless allowed; and
//! in-app notifications. Every receiver here is a real HTTP server the test starts.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use streambox_db::events::{
    CommentEventData, EndpointEventData, FollowEventData, JobEventData, UploadEventData, VideoEventData,
};
use tokio::time::Instant;

use crate::support::{PrivateRedis, TestApp, WorkerProcess, eventually, make_clip};

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    /// The path's last segment: which endpoint it was sent to.
    endpoint: String,
    at: Instant,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap().to_owned()
    }
}

/// A webhook receiver on 127.0.0.1. `/ok/{name}` answers 200; `/flaky/{name}` 500 to
/// the first two requests of each event, then 200; `/fail/{name}` always 500;
/// `/slow/{name}` 200 after 2 s; `/hang/{name}` only after 60 s (past the sender's 10 s).
#[derive(Clone, Default)]
struct Receiver {
    base: String,
    log: Arc<Mutex<Vec<Received>>>,
    started: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self { base: format!("http://{}", listener.local_addr().unwrap()), ..Self::default() };
        let app = axum::Router::new().route("/{mode}/{name}", axum::routing::post(answer)).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn url(&self, mode: &str, name: &str) -> String {
        format!("{}/{mode}/{name}", self.base)
    }

    fn received(&self, endpoint: &str) -> Vec<Received> {
        self.log.lock().unwrap().iter().filter(|r| r.endpoint == endpoint).cloned().collect()
    }

    /// Requests to `endpoint` that arrived, finished or not.
    fn started(&self, endpoint: &str) -> usize {
        self.started.lock().unwrap().iter().filter(|e| *e == endpoint).count()
    }

    /// Waits until `endpoint` has received `count` requests; returns them in order.
    async fn wait_for(&self, endpoint: &str, count: usize, deadline: Duration) -> Vec<Received> {
        eventually(deadline, &format!("{count} deliveries to {endpoint}"), || async {
            let got = self.received(endpoint);
            (got.len() >= count).then_some(got)
        })
        .await
    }

    /// Waits until `endpoint` has received every event id in `ids` at least once.
    async fn wait_for_events(&self, endpoint: &str, ids: &BTreeSet<String>, deadline: Duration) {
        eventually(deadline, &format!("every one of {} events at {endpoint}", ids.len()), || async {
            let got: BTreeSet<String> =
                self.received(endpoint).iter().map(|r| r.header("streambox-event-id").to_owned()).collect();
            ids.is_subset(&got).then_some(())
        })
        .await
    }
}

/// An endpoint's deliveries as its owner sees them, once none is pending: a receiver
/// logs a request before the sender has its answer and records the outcome.
async fn settled_deliveries(app: &TestApp, webhook: &str, token: &str) -> Vec<Value> {
    eventually(Duration::from_secs(30), "the deliveries to settle", || async {
        let listed = app.get_json(&format!("/api/v1/webhooks/{webhook}/deliveries"), token).await;
        let deliveries = listed["deliveries"].as_array().unwrap().clone();
        (!deliveries.iter().any(|d| d["state"] == "pending")).then_some(deliveries)
    })
    .await
}

async fn answer(
    State(receiver): State<Receiver>,
    Path((mode, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    receiver.started.lock().unwrap().push(name.clone());
    let event = headers.get("streambox-event-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let earlier = receiver
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.endpoint == name && r.header("streambox-event-id") == event)
        .count();
    match mode.as_str() {
        "slow" => tokio::time::sleep(Duration::from_secs(2)).await,
        "hang" => tokio::time::sleep(Duration::from_secs(60)).await,
        _ => {}
    }
    receiver.log.lock().unwrap().push(Received { endpoint: name, at: Instant::now(), headers, body: body.to_vec() });
    match mode.as_str() {
        "flaky" if earlier < 2 => StatusCode::INTERNAL_SERVER_ERROR,
        "fail" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::OK,
    }
}

/// Checks the signature as a receiver would, with its own HMAC: `t` recent, and one
/// `v1` equal to HMAC-SHA256(secret, "t.body").
fn assert_signed(received: &Received, secret: &str) {
    let header = received.header("streambox-signature");
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v.to_owned()),
            _ => panic!("unexpected part {part:?} in {header:?}"),
        }
    }
    let timestamp = timestamp.expect("a t= timestamp");
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 300, "t={timestamp} is not recent");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&received.body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert!(signatures.contains(&expected), "no v1 in {header:?} matches the body signed with the secret");
}

async fn register(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url("/api/v1/webhooks")).bearer_auth(token).json(&body).send().await.unwrap()
}

/// Registers an endpoint; its id and secret.
async fn endpoint(app: &TestApp, token: &str, url: &str, events: &[&str]) -> (String, String) {
    let response = register(app, token, json!({ "url": url, "events": events })).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let created: Value = response.json().await.unwrap();
    (created["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
}

async fn follow(app: &TestApp, token: &str, creator: uuid::Uuid) {
    let response =
        app.http.put(app.url(&format!("/api/v1/creators/{creator}/follow"))).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

/// `count` new people follow `creator` (each a `follow.created` event); the event ids.
async fn followers(app: &TestApp, creator: uuid::Uuid, count: usize) -> BTreeSet<String> {
    for n in 0..count {
        let (_, token) = app.quick_user("viewer", &format!("Follower {n}")).await;
        follow(app, &token, creator).await;
    }
    sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM events WHERE type = 'follow.created' AND owner_id = $1")
        .bind(creator)
        .fetch_all(app.db())
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect()
}

fn private_targets_allowed() -> [(&'static str, &'static str); 1] {
    [("STREAMBOX_WEBHOOK_ALLOW_PRIVATE", "true")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_videos_life_is_delivered_in_order_signed_and_to_its_owner_only() {
    let app = TestApp::spawn_with(&private_targets_allowed()).await;
    let receiver = Receiver::start().await;
    let owner = app.user("creator").await;
    let stranger = app.user("creator").await;
    let all: Vec<&str> = streambox_db::events::TYPES.iter().filter(|t| !t.admin_only).map(|t| t.name).collect();
    let (webhook, secret) = endpoint(&app, &owner.token, &receiver.url("ok", "owner"), &all).await;
    endpoint(&app, &stranger.token, &receiver.url("ok", "stranger"), &all).await;

    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "life.mp4", 320, 240, 4, true);
    let video = app.upload_accepted(&owner.token, &clip, "A life").await;
    app.wait_for_status(&owner.token, &video, &["ready"], Duration::from_secs(180)).await;
    let patch = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{video}")))
        .bearer_auth(&owner.token)
        .json(&json!({ "title": "A life, renamed", "visibility": "unlisted" }))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    let comment = app
        .http
        .post(app.url(&format!("/api/v1/videos/{video}/comments")))
        .bearer_auth(&stranger.token)
        .json(&json!({ "body": "Lovely" }))
        .send()
        .await
        .unwrap();
    assert_eq!(comment.status(), 201);
    follow(&app, &stranger.token, owner.id).await;
    let deleted =
        app.http.delete(app.url(&format!("/api/v1/videos/{video}"))).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(deleted.status(), 204);

    let expected = [
        "video.created",
        "video.processing",
        "video.playable",
        "video.ready",
        "video.updated",
        "comment.created",
        "video.deleted",
    ];
    let got = receiver.wait_for("owner", expected.len() + 1, Duration::from_secs(60)).await;
    let of_video: Vec<String> =
        got.iter().filter(|r| r.json()["type"] != "follow.created").map(Received::event_type).collect();
    assert_eq!(of_video, expected, "the video's events, in the order they happened");
    let mut ids = BTreeSet::new();
    for received in &got {
        assert_signed(received, &secret);
        let event = received.json();
        assert_eq!(received.header("streambox-event-id"), event["id"].as_str().unwrap());
        assert_eq!(received.header("streambox-event-type"), event["type"].as_str().unwrap());
        assert!(ids.insert(event["id"].as_str().unwrap().to_owned()), "each event once");
        // Each payload is what the API document says it is (unknown fields refused).
        let data = event["data"].clone();
        match event["type"].as_str().unwrap() {
            "comment.created" => {
                let comment: CommentEventData = serde_json::from_value(data).unwrap();
                assert_eq!(comment.comment.body, "Lovely");
                assert_eq!(comment.comment.video_id.to_string(), video);
            }
            "follow.created" => {
                let follow: FollowEventData = serde_json::from_value(data).unwrap();
                assert_eq!(follow.follow.creator_id.0, owner.id);
                assert_eq!(event["resource_id"], json!(owner.id));
            }
            kind => {
                let data: VideoEventData = serde_json::from_value(data).unwrap();
                assert_eq!(data.video.id.to_string(), video, "{kind}");
                assert_eq!(event["resource_id"], json!(video));
                if kind == "video.updated" {
                    assert_eq!(data.changes.unwrap(), ["title", "visibility"]);
                    assert_eq!(data.video.title, "A life, renamed");
                }
                if kind == "video.ready" {
                    assert!(data.video.playable && data.video.duration_s.is_some());
                }
            }
        }
    }
    let strangers: Vec<String> = receiver.received("stranger").iter().map(Received::event_type).collect();
    assert!(strangers.is_empty(), "another creator's endpoint gets none of the owner's events: {strangers:?}");

    // The owner sees the deliveries with their status code and latency.
    let deliveries = settled_deliveries(&app, &webhook, &owner.token).await;
    assert_eq!(deliveries.len(), expected.len() + 1);
    for delivery in deliveries {
        assert_eq!(delivery["state"], "delivered");
        assert_eq!(delivery["last_status"], 200);
        assert!(delivery["last_latency_ms"].as_i64().unwrap() >= 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_gets_one_videos_events_one_at_a_time_in_order() {
    let app = TestApp::spawn_with(&private_targets_allowed()).await;
    let receiver = Receiver::start().await;
    let owner = app.user("creator").await;
    endpoint(&app, &owner.token, &receiver.url("slow", "slow"), &["video.updated"]).await;
    let video = app.ready_video(owner.id, "public").await;
    // Committed well within one delivery's 2 s: were they sent side by side, they would
    // arrive in whatever order the receiver finished them.
    for take in 1..=5 {
        let renamed = app
            .http
            .patch(app.url(&format!("/api/v1/videos/{video}")))
            .bearer_auth(&owner.token)
            .json(&json!({ "title": format!("Take {take}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(renamed.status(), 200);
    }
    let got = receiver.wait_for("slow", 5, Duration::from_secs(60)).await;
    let titles: Vec<String> =
        got.iter().map(|r| r.json()["data"]["video"]["title"].as_str().unwrap().to_owned()).collect();
    assert_eq!(titles, ["Take 1", "Take 2", "Take 3", "Take 4", "Take 5"]);
    for pair in got.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(1900), "one at a time, each after the last answered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_twice_gets_the_event_three_times_with_the_same_id_and_growing_delays() {
    let app =
        TestApp::spawn_with(&[("STREAMBOX_WEBHOOK_ALLOW_PRIVATE", "true"), ("STREAMBOX_WEBHOOK_RETRY_BASE_SECS", "3")])
            .await;
    let receiver = Receiver::start().await;
    let owner = app.user("creator").await;
    let (webhook, secret) = endpoint(&app, &owner.token, &receiver.url("flaky", "flaky"), &["follow.created"]).await;
    followers(&app, owner.id, 1).await;

    let got = receiver.wait_for("flaky", 3, Duration::from_secs(60)).await;
    let ids: BTreeSet<&str> = got.iter().map(|r| r.header("streambox-event-id")).collect();
    assert_eq!(ids.len(), 1, "one event, sent three times");
    let attempts: Vec<&str> = got.iter().map(|r| r.header("streambox-delivery-attempt")).collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    got.iter().for_each(|r| assert_signed(r, &secret));
    let (first, second) = (got[1].at - got[0].at, got[2].at - got[1].at);
    assert!(first >= Duration::from_secs(2), "the first retry waits its backoff: {first:?}");
    assert!(second > first, "the delays grow: {first:?} then {second:?}");

    let deliveries = settled_deliveries(&app, &webhook, &owner.token).await;
    let delivery = &deliveries[0];
    assert_eq!((delivery["state"].as_str(), delivery["attempts"].as_i64()), (Some("delivered"), Some(3)));
    assert_eq!(delivery["last_status"], 200);

    // A redelivery sends the same event again, under a new delivery id.
    let redeliver = app
        .http
        .post(app.url(&format!("/api/v1/webhooks/{webhook}/deliveries/{}/redeliver", delivery["id"].as_str().unwrap())))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(redeliver.status(), 202);
    let again = receiver.wait_for("flaky", 4, Duration::from_secs(30)).await;
    assert_eq!(again[3].header("streambox-event-id"), got[0].header("streambox-event-id"));
    assert_ne!(again[3].header("streambox-delivery-id"), got[0].header("streambox-delivery-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_does_not_delay_another_endpoints_deliveries() {
    let app = TestApp::spawn_with(&private_targets_allowed()).await;
    let receiver = Receiver::start().await;
    let owner = app.user("creator").await;
    endpoint(&app, &owner.token, &receiver.url("hang", "stuck"), &["follow.created"]).await;
    endpoint(&app, &owner.token, &receiver.url("ok", "healthy"), &["follow.created"]).await;

    // More events than there are senders (16): were the hanging endpoint given them all,
    // the healthy one would wait for their 10 s timeouts.
    let events = followers(&app, owner.id, 20).await;
    receiver.wait_for_events("healthy", &events, Duration::from_secs(8)).await;
    assert!(receiver.started("stuck") >= 1, "the hanging endpoint was tried meanwhile");
    assert!(receiver.received("stuck").is_empty(), "and has answered nothing yet: the healthy one did not wait for it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_process_that_is_delivering_loses_no_event() {
    // This process only records events; separate processes deliver them.
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WEBHOOK_SENDER", "false")]).await;
    let receiver = Receiver::start().await;
    let owner = app.user("creator").await;
    let senders = [
        ("STREAMBOX_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("STREAMBOX_RUN_WORKER", "false"),
        ("STREAMBOX_RECONCILE_SECS", "1"),
    ];
    // Registered straight in the database: this app refuses private targets.
    let (hook, _) = direct_endpoint(&app, owner.id, &receiver.url("slow", "slow"), &["follow.created"]).await;
    let events = followers(&app, owner.id, 10).await;

    let mut first = WorkerProcess::spawn_mode(&app, "api", &senders).ready().await;
    eventually(Duration::from_secs(30), "a delivery in flight", || async {
        (receiver.started("slow") >= 1).then_some(())
    })
    .await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let _second = WorkerProcess::spawn_mode(&app, "api", &senders).ready().await;

    receiver.wait_for_events("slow", &events, Duration::from_secs(120)).await;
    // The sender marks the last one delivered once the receiver has answered it.
    let states: Vec<String> = eventually(Duration::from_secs(30), "every delivery to settle", || async {
        let states: Vec<String> =
            sqlx::query_scalar("SELECT state::text FROM webhook_deliveries WHERE endpoint_id = $1::uuid")
                .bind(&hook)
                .fetch_all(app.db())
                .await
                .unwrap();
        (!states.iter().any(|s| s == "pending")).then_some(states)
    })
    .await;
    assert_eq!(states.len(), 10);
    assert!(states.iter().all(|s| s == "delivered"), "{states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_while_deliveries_wait_loses_no_event() {
    let mut redis = PrivateRedis::start().await;
    // One sender: while it waits on the slow receiver, the deliveries handed out
    // after the first wait in Redis.
    let app = TestApp::spawn_with(&[
        ("REDIS_URL", &redis.url),
        ("STREAMBOX_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("STREAMBOX_WEBHOOK_CONCURRENCY", "1"),
        ("STREAMBOX_RECONCILE_SECS", "1"),
        ("STREAMBOX_RUN_WORKER", "false"),
    ])
    .await;
    let receiver = Receiver::start().await;
    let owner = app.user("creator").await;
    endpoint(&app, &owner.token, &receiver.url("slow", "slow"), &["follow.created"]).await;
    let events = followers(&app, owner.id, 8).await;

    let mut connection =
        redis::Client::open(redis.url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let list = format!("{}:webhooks", app.queue_name);
    eventually(Duration::from_secs(30), "deliveries waiting in Redis", || {
        let (mut connection, list) = (connection.clone(), list.clone());
        async move {
            let waiting: i64 = redis::cmd("LLEN").arg(&list).query_async(&mut connection).await.unwrap();
            (waiting > 0).then_some(())
        }
    })
    .await;
    redis.restart_empty().await;
    let waiting: i64 = redis::cmd("LLEN").arg(&list).query_async(&mut connection).await.unwrap_or(0);
    assert!(waiting <= 4, "the restart emptied the queue");
    receiver.wait_for_events("slow", &events, Duration::from_secs(120)).await;
}

/// An endpoint written straight into the database, past the API's checks: one
/// registered before its name came to resolve elsewhere, say.
async fn direct_endpoint(app: &TestApp, owner: uuid::Uuid, url: &str, events: &[&str]) -> (String, String) {
    let id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, owner_id, url, events, secret) VALUES ($1, $2, $3, $4, 'whsec_direct')",
    )
    .bind(id)
    .bind(owner)
    .bind(url)
    .bind(events.iter().map(|e| e.to_string()).collect::<Vec<_>>())
    .execute(app.db())
    .await
    .unwrap();
    (id.to_string(), "whsec_direct".into())
}

#[tokio::test]
async fn webhooks_to_addresses_inside_the_network_are_refused_unless_allowed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let owner = app.user("creator").await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    for url in [
        format!("http://127.0.0.1:{port}/ok/x"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://localhost:{port}/ok/x"),
        "http://[::ffff:10.0.0.1]/hook".to_owned(),
        "http://10.1.2.3/hook".to_owned(),
    ] {
        let response = register(&app, &owner.token, json!({ "url": url, "events": ["video.ready"] })).await;
        assert_eq!(response.status(), 422, "{url}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "webhook_target_forbidden", "{url}: {error}");
    }
    for url in ["ftp://example.org/hook", "https://user:secret@example.org/hook", "not a url"] {
        let response = register(&app, &owner.token, json!({ "url": url, "events": ["video.ready"] })).await;
        assert_eq!(response.status(), 422, "{url}");
        assert_eq!(response.json::<Value>().await.unwrap()["code"], "invalid_field", "{url}");
    }

    // A name that resolves inside the network at delivery time is refused then too.
    let (hook, _) =
        direct_endpoint(&app, owner.id, &format!("http://localhost:{port}/ok/rebound"), &["follow.created"]).await;
    followers(&app, owner.id, 1).await;
    let error = eventually(Duration::from_secs(30), "the delivery attempt to be recorded", || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT last_error FROM webhook_deliveries WHERE endpoint_id = $1::uuid",
        )
        .bind(&hook)
        .fetch_optional(app.db())
        .await
        .unwrap()
        .flatten()
    })
    .await;
    assert!(error.starts_with("refused: localhost is a loopback address"), "{error}");
    assert_eq!(receiver.started("rebound"), 0, "nothing reached the receiver");

    // An operator may allow private targets for a self-hosted receiver.
    let allowed = TestApp::spawn_with(&private_targets_allowed()).await;
    let token = allowed.signed_in_user().await;
    let response = register(
        &allowed,
        &token,
        json!({ "url": format!("http://127.0.0.1:{port}/ok/y"), "events": ["video.ready"] }),
    )
    .await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn only_administrators_receive_operator_events_and_everyones_events() {
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("STREAMBOX_WEBHOOK_RETRY_BASE_SECS", "1"),
        ("STREAMBOX_WEBHOOK_RETRY_WINDOW_SECS", "2"),
    ])
    .await;
    let receiver = Receiver::start().await;
    let creator = app.user("creator").await;
    let viewer = app.user("viewer").await;
    let admin = app.user("admin").await;
    let url = receiver.url("ok", "x");
    let refused = [
        (&creator.token, json!({ "url": url, "events": ["video.ready"], "scope": "all" }), 403),
        (&creator.token, json!({ "url": url, "events": ["job.dead"] }), 422),
        (&creator.token, json!({ "url": url, "events": ["video.exploded"] }), 422),
        (&creator.token, json!({ "url": url, "events": [] }), 422),
        (&viewer.token, json!({ "url": url, "events": ["follow.created"] }), 403),
    ];
    for (token, body, status) in refused {
        assert_eq!(register(&app, token, body.clone()).await.status(), status, "{body}");
    }
    let created = register(
        &app,
        &admin.token,
        json!({ "url": receiver.url("ok", "operator"), "events": ["job.dead", "webhook.failing", "follow.created"], "scope": "all" }),
    )
    .await;
    assert_eq!(created.status(), 201);

    // A creator's endpoint that fails for its whole retry window is marked failing, and
    // administrators hear of it.
    let (failing, _) = endpoint(&app, &creator.token, &receiver.url("fail", "failing"), &["follow.created"]).await;
    followers(&app, creator.id, 1).await;
    let got = eventually(Duration::from_secs(60), "webhook.failing at the operator's endpoint", || async {
        receiver.received("operator").into_iter().find(|r| r.event_type() == "webhook.failing")
    })
    .await;
    let data: EndpointEventData = serde_json::from_value(got.json()["data"].clone()).unwrap();
    assert_eq!(data.endpoint.id.to_string(), failing);
    assert!(data.endpoint.last_error.starts_with("HTTP 500"), "{}", data.endpoint.last_error);
    let shown = app.get_json(&format!("/api/v1/webhooks/{failing}"), &creator.token).await;
    assert!(shown["failing_since"].is_string(), "{shown}");
    assert!(receiver.received("operator").iter().any(|r| r.event_type() == "follow.created"), "everyone's events");

    // A dead job goes to administrators only.
    let job = app.dead_job(creator.id).await;
    sqlx::query("UPDATE transcode_jobs SET state = 'queued' WHERE id = $1").bind(job).execute(app.db()).await.unwrap();
    sqlx::query("UPDATE transcode_jobs SET state = 'dead', errors = '[{\"error\": \"corrupt\"}]' WHERE id = $1")
        .bind(job)
        .execute(app.db())
        .await
        .unwrap();
    let dead = eventually(Duration::from_secs(30), "job.dead", || async {
        receiver.received("operator").into_iter().find(|r| r.event_type() == "job.dead")
    })
    .await;
    let data: JobEventData = serde_json::from_value(dead.json()["data"].clone()).unwrap();
    assert_eq!((data.job.id.0, data.job.error.as_deref()), (job, Some("corrupt")));
}

#[tokio::test]
async fn no_one_sees_or_changes_another_users_webhooks_or_deliveries() {
    let app = TestApp::spawn_with(&private_targets_allowed()).await;
    let receiver = Receiver::start().await;
    let owner = app.user("creator").await;
    let other = app.user("creator").await;
    let (hook, _) = endpoint(&app, &owner.token, &receiver.url("ok", "mine"), &["follow.created"]).await;
    followers(&app, owner.id, 1).await;
    receiver.wait_for("mine", 1, Duration::from_secs(30)).await;
    let delivery =
        app.get_json(&format!("/api/v1/webhooks/{hook}/deliveries"), &owner.token).await["deliveries"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();

    let listed = app.get_json("/api/v1/webhooks", &other.token).await;
    assert_eq!(listed["webhooks"], json!([]), "another user's list does not show it");
    let paths = [
        ("GET", format!("/api/v1/webhooks/{hook}")),
        ("PATCH", format!("/api/v1/webhooks/{hook}")),
        ("DELETE", format!("/api/v1/webhooks/{hook}")),
        ("POST", format!("/api/v1/webhooks/{hook}/rotate-secret")),
        ("GET", format!("/api/v1/webhooks/{hook}/deliveries")),
        ("POST", format!("/api/v1/webhooks/{hook}/deliveries/{delivery}/redeliver")),
    ];
    for (method, path) in &paths {
        let response = app
            .http
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&other.token)
            .json(&json!({ "enabled": false }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    let shown = app.get_json(&format!("/api/v1/webhooks/{hook}"), &owner.token).await;
    assert_eq!(shown["enabled"], true, "untouched");
    assert!(shown.get("secret").is_none(), "the secret is shown only at creation");
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_for_a_day() {
    let app = TestApp::spawn_with(&private_targets_allowed()).await;
    let receiver = Receiver::start().await;
    let owner = app.user("creator").await;
    let (hook, old) = endpoint(&app, &owner.token, &receiver.url("ok", "rotating"), &["follow.created"]).await;
    let rotated = app
        .http
        .post(app.url(&format!("/api/v1/webhooks/{hook}/rotate-secret")))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    let new = rotated.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    followers(&app, owner.id, 1).await;
    let got = receiver.wait_for("rotating", 1, Duration::from_secs(30)).await;
    assert_signed(&got[0], &new);
    assert_signed(&got[0], &old);
}

async fn set_visibility(app: &TestApp, token: &str, video: uuid::Uuid, visibility: &str) {
    let response = app
        .http
        .patch(app.url(&format!("/api/v1/videos/{video}")))
        .bearer_auth(token)
        .json(&json!({ "visibility": visibility }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn notifications_tell_of_new_videos_of_followed_creators_comments_replies_and_failures() {
    let app = TestApp::spawn().await;
    let creator = app.user("creator").await;
    let fan = app.user("viewer").await;
    follow(&app, &fan.token, creator.id).await;
    let video = app.ready_video(creator.id, "private").await;
    set_visibility(&app, &creator.token, video, "public").await;
    let comment: Value = app
        .http
        .post(app.url(&format!("/api/v1/videos/{video}/comments")))
        .bearer_auth(&fan.token)
        .json(&json!({ "body": "Great" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reply = app
        .http
        .post(app.url(&format!("/api/v1/videos/{video}/comments")))
        .bearer_auth(&creator.token)
        .json(&json!({ "body": "Thanks", "parent_id": comment["id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);

    let fans = app.get_json("/api/v1/me/notifications", &fan.token).await;
    let kinds: Vec<&str> =
        fans["notifications"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["comment.reply", "video.published"], "newest first");
    assert_eq!(fans["unread"], 2);
    assert_eq!(fans["notifications"][1]["video_title"], "Fixture");
    let creators = app.get_json("/api/v1/me/notifications", &creator.token).await;
    let kinds: Vec<&str> =
        creators["notifications"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["comment.created"], "no notice of one's own reply");

    // Read ones go after unread ones; a video gone private is no longer told of.
    let first = fans["notifications"][0]["id"].clone();
    let marked = app
        .http
        .post(app.url("/api/v1/me/notifications/read"))
        .bearer_auth(&fan.token)
        .json(&json!({ "ids": [first] }))
        .send()
        .await
        .unwrap();
    assert_eq!(marked.json::<Value>().await.unwrap()["unread"], 1);
    let fans = app.get_json("/api/v1/me/notifications", &fan.token).await;
    assert_eq!(fans["notifications"][0]["kind"], "video.published", "unread first");
    assert!(fans["notifications"][1]["read_at"].is_string());
    set_visibility(&app, &creator.token, video, "private").await;
    let fans = app.get_json("/api/v1/me/notifications", &fan.token).await;
    assert_eq!(fans["notifications"], json!([]), "nothing about a private video of another");

    // Going public again does not notify twice.
    set_visibility(&app, &creator.token, video, "public").await;
    let fans = app.get_json("/api/v1/me/notifications", &fan.token).await;
    let published = fans["notifications"].as_array().unwrap().iter().filter(|n| n["kind"] == "video.published").count();
    assert_eq!(published, 1);
}

#[tokio::test]
async fn an_expired_upload_is_an_event_and_old_events_are_pruned() {
    let app = TestApp::spawn_with(&[("STREAMBOX_UPLOAD_EXPIRY_SECS", "1"), ("STREAMBOX_RECONCILE_SECS", "1")]).await;
    let owner = app.user("creator").await;
    let created = app
        .http
        .post(app.url("/api/v1/uploads/tus"))
        .bearer_auth(&owner.token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "1000")
        .header("upload-metadata", "title RXhwaXJpbmc=")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let data: Value = eventually(Duration::from_secs(30), "upload.expired", || async {
        sqlx::query_scalar("SELECT data FROM events WHERE type = 'upload.expired' AND owner_id = $1")
            .bind(owner.id)
            .fetch_optional(app.db())
            .await
            .unwrap()
    })
    .await;
    let expired: UploadEventData = serde_json::from_value(data).unwrap();
    assert_eq!((expired.upload.title.as_str(), expired.upload.length), ("Expiring", 1000));

    // Past retention, events go with their finished deliveries; pending ones stay.
    let old: HashMap<&str, uuid::Uuid> =
        [("delivered", uuid::Uuid::new_v4()), ("pending", uuid::Uuid::new_v4())].into();
    let (hook, _) = direct_endpoint(&app, owner.id, "http://192.0.2.1/never", &["follow.created"]).await;
    for (state, id) in &old {
        sqlx::query(
            "INSERT INTO events (id, type, resource_id, data, created_at) VALUES ($1, 'follow.created', $1, '{}', now() - interval '40 days')",
        )
        .bind(id)
        .execute(app.db())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, seq, order_key, state, next_attempt_at)
             VALUES ($1::uuid, $2, 0, $2, $3::delivery_state, now() + interval '1 day')",
        )
        .bind(&hook)
        .bind(id)
        .bind(state)
        .execute(app.db())
        .await
        .unwrap();
    }
    let pruned = streambox_db::events::prune(app.db(), Duration::from_secs(30 * 86400)).await.unwrap();
    assert_eq!(pruned, 1);
    let left: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM events WHERE created_at < now() - interval '30 days'")
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(left, [old["pending"]], "an event still being delivered is kept");
}
