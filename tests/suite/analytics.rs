//! Creator analytics from playback heartbeats: the counts match the beats sent, day by
//! day; one viewer's watch time never outruns the time that passed, however many
//! sessions or user agents they beat from; and what is refused is refused with a code.
//!
//! Watch time is credited by the server's clock, so a test that wants a beat credited in
//! full lets time pass by moving every viewer's credit clock in Redis back a minute
//! (`let_a_minute_pass`) rather than by waiting a minute.

use redis::AsyncCommands;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use crate::support::TestApp;

/// The app for these tests: viewers told apart by the address the gateway adds, and no
/// periodic flush during a test, so every count read was flushed by the read itself.
async fn spawn() -> TestApp {
    TestApp::spawn_with(&[("STREAMBOX_TRUST_FORWARDED_FOR", "true"), ("STREAMBOX_VIEW_FLUSH_SECS", "3600")]).await
}

/// Who beats: a signed-in user, or an anonymous player at an address with a user agent.
#[derive(Clone, Copy)]
enum Who<'a> {
    User(&'a str),
    Anonymous { address: &'a str, agent: &'a str },
}

async fn send_beat(app: &TestApp, video: Uuid, from: Who<'_>, body: Value) -> (u16, Value) {
    let mut request = app.http.post(app.url(&format!("/api/v1/videos/{video}/heartbeats"))).json(&body);
    request = match from {
        Who::User(token) => request.bearer_auth(token).header("x-forwarded-for", "192.0.2.1"),
        Who::Anonymous { address, agent } => request.header("x-forwarded-for", address).header("user-agent", agent),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A beat that must be taken and counted; the seconds it was credited.
async fn beat(app: &TestApp, video: Uuid, from: Who<'_>, body: Value) -> f64 {
    let (status, answer) = send_beat(app, video, from, body.clone()).await;
    assert_eq!(status, 202, "{body}: {answer}");
    assert_eq!(answer["counted"], true, "{body}: {answer}");
    answer["credited_s"].as_f64().unwrap()
}

/// A ready video of `owner` that is 100 s long.
async fn video(app: &TestApp, owner: Uuid, visibility: &str) -> Uuid {
    let id = app.ready_video(owner, visibility).await;
    sqlx::query("UPDATE videos SET duration_s = 100 WHERE id = $1").bind(id).execute(app.db()).await.unwrap();
    id
}

async fn redis(app: &TestApp) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(app.state.config.redis_url.as_str()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// Every viewer's credit clock goes back a minute, as if a minute had passed since their
/// last beat.
async fn let_a_minute_pass(app: &TestApp) {
    let mut redis = redis(app).await;
    let clocks: Vec<String> = redis.keys(format!("{}:playback:credited:*", app.queue_name)).await.unwrap();
    assert!(!clocks.is_empty(), "no viewer has beaten yet");
    for clock in clocks {
        let _: i64 = redis.decr(&clock, 60_000).await.unwrap();
    }
}

async fn analytics(app: &TestApp, path: &str, token: &str) -> Value {
    let response = app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

fn totals(report: &Value) -> (i64, i64, f64, i64) {
    let t = &report["totals"];
    (
        t["views"].as_i64().unwrap(),
        t["unique_viewers"].as_i64().unwrap(),
        t["watch_s"].as_f64().unwrap(),
        t["completed_views"].as_i64().unwrap(),
    )
}

fn with_rendition(mut body: Value, height: u32) -> Value {
    body["rendition"] = json!(height);
    body
}

fn today(report: &Value) -> &Value {
    report["days"].as_array().unwrap().last().unwrap()
}

#[tokio::test]
async fn analytics_count_exactly_the_beats_sent_day_by_day() {
    let app = spawn().await;
    let owner = app.user("creator").await;
    let (_, alice) = app.quick_user("viewer", "Alice").await;
    let watched = video(&app, owner.id, "public").await;
    let other = video(&app, owner.id, "public").await;
    let bob = Who::Anonymous { address: "203.0.113.1", agent: "bob's browser" };
    let carol = Who::Anonymous { address: "203.0.113.2", agent: "carol's browser" };
    let alice = Who::User(&alice);
    let (s_alice, s_bob, s_carol, s_alice_reload) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());

    // First beats: playback starts (startup time, no time yet: a first beat starts the clock).
    let first = |session: Uuid, startup: u32, rendition: u32| {
        let body = json!({ "session": session, "position_s": 0, "watched_s": 0, "startup_ms": startup });
        with_rendition(body, rendition)
    };
    assert_eq!(beat(&app, watched, alice, first(s_alice, 400, 720)).await, 0.0);
    assert_eq!(beat(&app, watched, bob, first(s_bob, 600, 480)).await, 0.0);
    assert_eq!(beat(&app, watched, carol, first(s_carol, 800, 480)).await, 0.0);
    let_a_minute_pass(&app).await;
    let playing = |session: Uuid, position: f64, stalled: u32, rendition: u32| {
        let body = json!({ "session": session, "position_s": position, "watched_s": 10, "stalled_ms": stalled });
        with_rendition(body, rendition)
    };
    assert_eq!(beat(&app, watched, alice, playing(s_alice, 10.0, 0, 720)).await, 10.0);
    assert_eq!(beat(&app, watched, bob, playing(s_bob, 10.0, 2000, 480)).await, 10.0);
    assert_eq!(beat(&app, watched, carol, playing(s_carol, 10.0, 0, 480)).await, 10.0);
    let_a_minute_pass(&app).await;
    // Alice jumps to the end (a completed view); Bob plays on.
    assert_eq!(beat(&app, watched, alice, playing(s_alice, 95.0, 0, 720)).await, 10.0);
    assert_eq!(beat(&app, watched, bob, playing(s_bob, 20.0, 0, 480)).await, 10.0);
    // Alice reloads and plays the end again: the same view, completed once.
    let reload = json!({ "session": s_alice_reload, "position_s": 0, "watched_s": 0 });
    beat(&app, watched, alice, reload).await;
    let again = json!({ "session": s_alice_reload, "position_s": 99.5, "watched_s": 0 });
    beat(&app, watched, alice, again).await;
    // Carol watches the other video too.
    beat(&app, other, carol, first(Uuid::new_v4(), 1000, 1080)).await;
    let_a_minute_pass(&app).await;
    let carol_other = json!({ "session": Uuid::new_v4(), "position_s": 30, "watched_s": 30, "rendition": 1080 });
    assert_eq!(beat(&app, other, carol, carol_other).await, 30.0);

    // Read at once: the read itself brings in what was credited.
    let report = analytics(&app, &format!("/api/v1/videos/{watched}/analytics"), &owner.token).await;
    assert_eq!(totals(&report), (3, 3, 50.0, 1), "views, viewers, watch seconds, completed: {report}");
    let t = &report["totals"];
    assert_eq!(t["average_view_duration_s"].as_f64().unwrap(), 50.0 / 3.0);
    assert_eq!(t["completion_rate"].as_f64().unwrap(), 1.0 / 3.0);
    assert_eq!(t["average_startup_ms"].as_f64().unwrap(), 600.0);
    assert_eq!(t["rebuffering_ratio"].as_f64().unwrap(), 2.0 / 52.0);
    let renditions: Vec<(i64, f64)> = report["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["height"].as_i64().unwrap(), r["watch_s"].as_f64().unwrap()))
        .collect();
    assert_eq!(renditions, [(720, 20.0), (480, 30.0)]);
    assert_eq!(report["days"].as_array().unwrap().len(), 28, "28 days unless asked");
    assert_eq!(today(&report)["views"], 3);

    // Those counts become two days ago; today's beats come out on a day of their own.
    for table in ["playback_daily", "playback_rendition_daily"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE {table} SET day = day - 2"))).execute(app.db()).await.unwrap();
    }
    let dave = Who::Anonymous { address: "203.0.113.4", agent: "dave's browser" };
    let s_dave = Uuid::new_v4();
    beat(&app, watched, dave, first(s_dave, 200, 720)).await;
    let_a_minute_pass(&app).await;
    assert_eq!(beat(&app, watched, dave, playing(s_dave, 91.0, 0, 720)).await, 10.0);

    let report = analytics(&app, &format!("/api/v1/videos/{watched}/analytics?days=3"), &owner.token).await;
    let days: Vec<(String, i64, f64, i64)> = report["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let day = d["day"].as_str().unwrap().to_owned();
            (day, d["views"].as_i64().unwrap(), d["watch_s"].as_f64().unwrap(), d["completed_views"].as_i64().unwrap())
        })
        .collect();
    let today_date = chrono::Utc::now().date_naive();
    let day = |ago: u64| today_date.checked_sub_days(chrono::Days::new(ago)).unwrap().to_string();
    assert_eq!(days, [(day(2), 3, 50.0, 1), (day(1), 0, 0.0, 0), (day(0), 1, 10.0, 1)], "oldest first");
    assert_eq!(totals(&report), (4, 4, 60.0, 2));
    let recent = analytics(&app, &format!("/api/v1/videos/{watched}/analytics?days=2"), &owner.token).await;
    assert_eq!(totals(&recent), (1, 1, 10.0, 1), "two days back is outside ?days=2");

    // The creator's summary: both videos, the most watched first.
    let mine = analytics(&app, "/api/v1/me/analytics?days=3", &owner.token).await;
    assert_eq!(totals(&mine), (5, 5, 90.0, 2), "{mine}");
    let top: Vec<(String, f64)> = mine["top_videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["id"].as_str().unwrap().to_owned(), v["watch_s"].as_f64().unwrap()))
        .collect();
    assert_eq!(top, [(watched.to_string(), 60.0), (other.to_string(), 30.0)]);
}

/// An anonymous viewer is a new identity when the daily salt turns (at midnight UTC): a
/// playback under way goes on counting, its time from the new identity's first beat.
#[tokio::test]
async fn an_anonymous_playback_counts_on_when_the_daily_salt_turns() {
    let app = spawn().await;
    let (owner, owner_token) = app.quick_user("creator", "Owner").await;
    let id = video(&app, owner, "public").await;
    let owl = Who::Anonymous { address: "203.0.113.5", agent: "night owl" };
    let session = Uuid::new_v4();
    let at = |position: u32, watched: u32| json!({ "session": session, "position_s": position, "watched_s": watched });
    assert_eq!(beat(&app, id, owl, at(0, 0)).await, 0.0);
    let_a_minute_pass(&app).await;
    assert_eq!(beat(&app, id, owl, at(10, 10)).await, 10.0);
    // Midnight: a new salt.
    let mut redis = redis(&app).await;
    let salts: Vec<String> = redis.keys(format!("{}:views:salt:*", app.queue_name)).await.unwrap();
    assert!(!salts.is_empty());
    for salt in salts {
        let _: () = redis.set_ex(&salt, "the next day's salt", 3600).await.unwrap();
    }
    assert_eq!(beat(&app, id, owl, at(20, 10)).await, 0.0, "the new identity's first beat starts its clock");
    let_a_minute_pass(&app).await;
    assert_eq!(beat(&app, id, owl, at(30, 10)).await, 10.0);
    let report = analytics(&app, &format!("/api/v1/videos/{id}/analytics"), &owner_token).await;
    let (views, _, watch_s, _) = totals(&report);
    assert_eq!((views, watch_s), (1, 20.0), "one playback, one view: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_viewer_cannot_watch_faster_than_time_passes() {
    let app = spawn().await;
    let (owner, owner_token) = app.quick_user("creator", "Owner").await;
    let (_, binge) = app.quick_user("viewer", "Binge").await;
    let signed_in = video(&app, owner, "public").await;
    let anonymous = video(&app, owner, "public").await;
    let huge = |session: Uuid| json!({ "session": session, "position_s": 50, "watched_s": 120, "stalled_ms": 0 });

    let started = Instant::now();
    // One signed-in viewer: ten playbacks at once, each beating five times, each beat
    // claiming two minutes (100 minutes claimed in all).
    let sessions: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
    let mut beats = Vec::new();
    for _ in 0..5 {
        for session in &sessions {
            beats.push(send_beat(&app, signed_in, Who::User(&binge), huge(*session)));
        }
    }
    let answers = futures::future::join_all(beats).await;
    // One address rotating its user agent: twenty "viewers", three playbacks each.
    let agents: Vec<String> = (0..20).map(|n| format!("agent {n}")).collect();
    let mut beats = Vec::new();
    for agent in &agents {
        for _ in 0..3 {
            let from = Who::Anonymous { address: "198.51.100.7", agent };
            beats.push(send_beat(&app, anonymous, from, huge(Uuid::new_v4())));
        }
    }
    let rotated = futures::future::join_all(beats).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(answers.iter().chain(&rotated).all(|(status, _)| *status == 202), "every beat is taken");

    // Beat timestamps are milliseconds: allow one for rounding.
    let slack = 0.001;
    let report = analytics(&app, &format!("/api/v1/videos/{signed_in}/analytics"), &owner_token).await;
    let (views, viewers, watch_s, _) = totals(&report);
    assert_eq!((views, viewers), (1, 1), "one viewer, one view");
    assert!(watch_s <= elapsed + slack, "one viewer was credited {watch_s} s in {elapsed} s");
    let report = analytics(&app, &format!("/api/v1/videos/{anonymous}/analytics"), &owner_token).await;
    let (views, viewers, watch_s, _) = totals(&report);
    assert_eq!((views, viewers), (3, 3), "one address is three anonymous viewers at most");
    assert!(watch_s <= 3.0 * elapsed + slack, "three viewers were credited {watch_s} s in {elapsed} s");
    let counted = rotated.iter().filter(|(_, answer)| answer["counted"] == true).count();
    assert_eq!(counted, 9, "the beats of three agents count, three playbacks each");

    // The same two minutes from two viewers are four minutes of watching.
    let shared = video(&app, owner, "public").await;
    let (_, first) = app.quick_user("viewer", "First").await;
    let (_, second) = app.quick_user("viewer", "Second").await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let start = |session: Uuid| json!({ "session": session, "position_s": 0, "watched_s": 0 });
    beat(&app, shared, Who::User(&first), start(a)).await;
    beat(&app, shared, Who::User(&second), start(b)).await;
    let_a_minute_pass(&app).await;
    let_a_minute_pass(&app).await;
    assert_eq!(beat(&app, shared, Who::User(&first), huge(a)).await, 120.0);
    assert_eq!(beat(&app, shared, Who::User(&second), huge(b)).await, 120.0);
    let report = analytics(&app, &format!("/api/v1/videos/{shared}/analytics"), &owner_token).await;
    assert_eq!(totals(&report), (2, 2, 240.0, 0));
}

#[tokio::test]
async fn time_claimed_beyond_what_passed_since_the_last_beat_is_not_credited() {
    let app = spawn().await;
    let (owner, owner_token) = app.quick_user("creator", "Owner").await;
    let (_, viewer) = app.quick_user("viewer", "Viewer").await;
    let id = video(&app, owner, "public").await;
    let session = Uuid::new_v4();
    let claim = |watched: f64| json!({ "session": session, "position_s": 5, "watched_s": watched });
    assert_eq!(beat(&app, id, Who::User(&viewer), claim(0.0)).await, 0.0);
    let_a_minute_pass(&app).await;
    // A minute passed: a claim of two is credited one, the time there was.
    let credited = beat(&app, id, Who::User(&viewer), claim(120.0)).await;
    assert!((60.0..61.0).contains(&credited), "credited {credited} s after a minute");
    // Right after: next to nothing has passed.
    let credited_now = beat(&app, id, Who::User(&viewer), claim(120.0)).await;
    assert!(credited_now < 1.0, "credited {credited_now} s at once");
    let report = analytics(&app, &format!("/api/v1/videos/{id}/analytics"), &owner_token).await;
    assert!((totals(&report).2 - (credited + credited_now)).abs() < 1e-9, "{report}");
}

#[tokio::test]
async fn analytics_are_the_owners_and_bad_beats_are_refused_with_a_code() {
    let app = spawn().await;
    let owner = app.user("creator").await;
    let (_, other) = app.quick_user("creator", "Other").await;
    let (_, admin) = app.quick_user("admin", "Admin").await;
    let public = video(&app, owner.id, "public").await;
    let private = video(&app, owner.id, "private").await;
    let status = |path: String, token: Option<&str>| {
        let mut request = app.http.get(app.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token.to_owned());
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap()["code"].as_str().map(str::to_owned))
        }
    };
    let of = |id: Uuid| format!("/api/v1/videos/{id}/analytics");
    assert_eq!(status(of(public), None).await, (401, Some("unauthorized".into())));
    assert_eq!(status(of(public), Some(&other)).await, (403, Some("forbidden".into())));
    assert_eq!(status(of(private), Some(&other)).await, (404, Some("not_found".into())));
    assert_eq!(status(of(Uuid::new_v4()), Some(&owner.token)).await, (404, Some("not_found".into())));
    assert_eq!(status(of(public), Some(&admin)).await.0, 200);
    assert_eq!(status(of(private), Some(&owner.token)).await.0, 200);
    assert_eq!(status("/api/v1/me/analytics".into(), None).await.0, 401);
    for days in ["0", "367", "-1"] {
        let path = format!("{}?days={days}", of(public));
        assert_eq!(status(path, Some(&owner.token)).await, (422, Some("invalid_field".into())), "days={days}");
    }
    let path = format!("{}?days=many", of(public));
    assert_eq!(status(path, Some(&owner.token)).await, (400, Some("invalid_query".into())));

    let anyone = Who::Anonymous { address: "203.0.113.9", agent: "player" };
    let good = json!({ "session": Uuid::new_v4(), "position_s": 1, "watched_s": 1 });
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let refused = [
        (with("watched_s", json!(-1)), 422, "invalid_field"),
        (with("watched_s", json!(1e9)), 422, "invalid_field"),
        (with("position_s", json!(-5)), 422, "invalid_field"),
        (with("position_s", json!(500)), 422, "invalid_field"),
        (with("startup_ms", json!(1_000_000_000)), 422, "invalid_field"),
        (with("rendition", json!(0)), 422, "invalid_field"),
        (with("stalled_ms", json!(-1)), 422, "invalid_body"),
        (with("stalled_ms", json!(500_000)), 422, "invalid_field"),
        (with("session", json!("not a uuid")), 422, "invalid_body"),
        (with("watched_s", json!("ten")), 422, "invalid_body"),
        (with("extra", json!(true)), 422, "invalid_body"),
        (json!({ "position_s": 1, "watched_s": 1 }), 422, "invalid_body"),
        (with("session", json!("x".repeat(2000))), 413, "invalid_body"),
    ];
    for (body, expected, code) in refused {
        let (got, answer) = send_beat(&app, public, anyone, body.clone()).await;
        assert_eq!((got, answer["code"].as_str()), (expected, Some(code)), "{body}");
    }
    let malformed = app
        .http
        .post(app.url(&format!("/api/v1/videos/{public}/heartbeats")))
        .header("content-type", "application/json")
        .body("{\"session\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(malformed.json::<Value>().await.unwrap()["code"], "invalid_body");

    // A private video's beats: its owner's only; others cannot tell it exists.
    let (got, answer) = send_beat(&app, private, anyone, good.clone()).await;
    assert_eq!((got, answer["code"].as_str()), (404, Some("not_found")));
    let (got, _) = send_beat(&app, private, Who::User(&other), good.clone()).await;
    assert_eq!(got, 404);
    let (got, _) = send_beat(&app, private, Who::User(&owner.token), good.clone()).await;
    assert_eq!(got, 202);
    // A video not playable yet takes no beats (its owner may see it, so is told why).
    sqlx::query("UPDATE videos SET status = 'queued' WHERE id = $1").bind(public).execute(app.db()).await.unwrap();
    let (got, answer) = send_beat(&app, public, Who::User(&owner.token), good.clone()).await;
    assert_eq!((got, answer["code"].as_str()), (409, Some("not_ready")));
    // Nothing refused was counted.
    let report = analytics(&app, &of(private), &owner.token).await;
    assert_eq!(totals(&report).0, 1, "only the owner's playback of the private video");
    let report = analytics(&app, &of(public), &owner.token).await;
    assert_eq!(totals(&report), (0, 0, 0.0, 0));
}

/// The web app end to end, in headless Chromium (Debian's, driven by playwright-core from
/// tests/browser/analytics.mjs): an anonymous viewer plays a real encode in the app's
/// player and pauses; its beats arrive and are credited; the creator's Studio charts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_beats_while_playing_and_the_studio_charts_the_beats() {
    let app = TestApp::spawn_with(&[("STREAMBOX_LADDER", "360:800,240:400")]).await;
    let creator = app.user("creator").await;
    let clip = crate::support::make_clip(app.dir.path(), "watched.mp4", 640, 360, 12, true);
    let id = app.upload_accepted(&creator.token, &clip, "Watched").await;
    app.wait_for_status(&creator.token, &id, &["ready"], std::time::Duration::from_secs(180)).await;

    let args = [app.base.clone(), id.clone(), creator.email.clone(), creator.password.clone()];
    let report = crate::support::browser::run_script("analytics.mjs", &args).await;
    assert_eq!(report["errors"], json!([]), "{report}");

    let beats = report["beats"].as_array().unwrap();
    assert!(beats.iter().all(|b| b["status"] == 202), "every beat is taken: {report}");
    let first = &beats[0]["body"];
    assert_eq!(first["watched_s"], 0, "the first beat is sent at the first frame: {first}");
    assert!(first["startup_ms"].as_u64().is_some(), "with the startup time: {first}");
    assert!(first["rendition"].as_u64().is_some_and(|h| h == 360 || h == 240), "and the rendition: {first}");
    assert!(beats.iter().all(|b| b["body"]["session"] == first["session"]), "one playback: {report}");
    let credited: f64 = beats.iter().filter_map(|b| b["answer"]["credited_s"].as_f64()).sum();
    assert!(credited >= 3.0, "the seconds played were credited: {report}");

    let analytics = analytics(&app, &format!("/api/v1/videos/{id}/analytics?days=7"), &creator.token).await;
    assert_eq!(totals(&analytics).0, 1, "{analytics}");
    assert!((totals(&analytics).2 - credited).abs() < 1e-6, "{analytics}");
    assert_eq!(analytics["totals"]["average_startup_ms"], first["startup_ms"].as_f64().unwrap());

    let chart = &report["chart"];
    let views = chart["views"].as_array().unwrap();
    assert_eq!(views.len(), 7, "a bar per day: {chart}");
    let today = views.last().unwrap();
    assert_eq!((today["value"].as_f64(), today["height"].as_f64().unwrap() > 0.0), (Some(1.0), true), "{chart}");
    let watch = chart["watch"].as_array().unwrap().last().unwrap();
    assert!(watch["value"].as_f64().is_some_and(|v| (v - credited).abs() < 1e-6), "today's watch time: {chart}");
}
