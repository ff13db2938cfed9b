//! Engagement and discovery: likes, comments, history, follows, views, feeds and
//! search — correct under concurrency, and never showing what others may not see.

use std::time::Duration;

use redis::AsyncCommands;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, eventually};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Value {
    let (status, body) = call(app, Method::GET, path, token, None).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

/// A ready video with this title and description, created `age_s` seconds ago.
async fn video(app: &TestApp, owner: Uuid, visibility: &str, title: &str, description: &str, age_s: f64) -> Uuid {
    let id = app.ready_video(owner, visibility).await;
    sqlx::query(
        "UPDATE videos SET title = $2, description = $3, created_at = now() - make_interval(secs => $4) WHERE id = $1",
    )
    .bind(id)
    .bind(title)
    .bind(description)
    .bind(age_s)
    .execute(app.db())
    .await
    .unwrap();
    id
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn likes_are_one_per_user_even_when_they_race() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.quick_user("creator", "Owner").await;
    let id = video(&app, owner, "public", "Liked", "", 0.0).await;
    let path = format!("/api/v1/videos/{id}/like");

    let mut users = Vec::new();
    for n in 0..100 {
        users.push(app.quick_user("viewer", &format!("Fan {n}")).await.1);
    }
    let likes = users.iter().map(|token| call(&app, Method::PUT, &path, Some(token), None));
    for (status, body) in futures::future::join_all(likes).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, one) = app.quick_user("viewer", "Eager").await;
    let repeated = (0..10).map(|_| call(&app, Method::PUT, &path, Some(&one), None));
    futures::future::join_all(repeated).await;
    let detail = get(&app, &format!("/api/v1/videos/{id}"), Some(&one)).await;
    assert_eq!(detail["likes"], 101, "100 users + one user liking 10 times");
    assert_eq!(detail["liked"], true);

    let (status, body) = call(&app, Method::DELETE, &path, Some(&one), None).await;
    assert_eq!((status, body["liked"].clone(), body["likes"].clone()), (StatusCode::OK, json!(false), json!(100)));
    let (_, again) = call(&app, Method::DELETE, &path, Some(&one), None).await;
    assert_eq!(again["likes"], 100, "unliking twice is still one unlike");
    // Liking what one cannot see looks like liking nothing.
    let private = video(&app, owner, "private", "Hidden", "", 0.0).await;
    assert_eq!(call(&app, Method::PUT, &format!("/api/v1/videos/{private}/like"), Some(&one), None).await.0, 404);
    assert_eq!(call(&app, Method::PUT, &path, None, None).await.0, 401);
}

#[tokio::test]
async fn comments_have_one_level_of_replies_pages_and_rules_for_who_may_change_them() {
    let app = TestApp::spawn().await;
    let (owner, owner_token) = app.quick_user("creator", "Owner").await;
    let (_, author) = app.quick_user("viewer", "Author").await;
    let (_, other) = app.quick_user("viewer", "Other").await;
    let (_, admin) = app.quick_user("admin", "Admin").await;
    let id = video(&app, owner, "public", "Talked about", "", 0.0).await;
    let comments = format!("/api/v1/videos/{id}/comments");

    let post = |token: String, body: Value| {
        let (app, path) = (&app, comments.clone());
        async move { call(app, Method::POST, &path, Some(&token), Some(body)).await }
    };
    let mut top = Vec::new();
    for n in 0..5 {
        let (status, comment) = post(author.clone(), json!({ "body": format!("  comment {n}  ") })).await;
        assert_eq!(status, StatusCode::CREATED, "{comment}");
        assert_eq!(comment["body"], format!("comment {n}"), "trimmed");
        top.push(comment["id"].as_str().unwrap().to_owned());
    }
    let (status, reply) = post(other.clone(), json!({ "body": "a reply", "parent_id": top[0] })).await;
    assert_eq!(status, StatusCode::CREATED);
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    let (status, nested) = post(other.clone(), json!({ "body": "deeper", "parent_id": reply_id })).await;
    assert_eq!((status, nested["code"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_field")));
    for bad in [json!({ "body": "   " }), json!({ "body": "x".repeat(2001) }), json!({ "body": "bell\u{7}" })] {
        assert_eq!(post(author.clone(), bad).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    }

    // Pages of two, newest first, replies counted; replies oldest first.
    let first = get(&app, &format!("{comments}?limit=2"), None).await;
    assert_eq!(ids(&first), vec![top[4].clone(), top[3].clone()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = get(&app, &format!("{comments}?limit=2&cursor={cursor}"), None).await;
    assert_eq!(ids(&second), vec![top[2].clone(), top[1].clone()]);
    let third =
        get(&app, &format!("{comments}?limit=2&cursor={}", second["next_cursor"].as_str().unwrap()), None).await;
    assert_eq!(ids(&third), vec![top[0].clone()]);
    assert_eq!(third["items"][0]["reply_count"], 1);
    assert!(third["next_cursor"].is_null());
    let replies = get(&app, &format!("/api/v1/comments/{}/replies", top[0]), None).await;
    assert_eq!(ids(&replies), vec![reply_id.clone()]);
    assert_eq!(call(&app, Method::GET, &format!("{comments}?cursor=garbage"), None, None).await.0, 400);

    // Edit: the author only. Delete: author, video owner, admin; nobody else.
    let edit = |token: String, comment: String| {
        let app = &app;
        async move {
            call(
                app,
                Method::PATCH,
                &format!("/api/v1/comments/{comment}"),
                Some(&token),
                Some(json!({ "body": "edited" })),
            )
            .await
        }
    };
    assert_eq!(edit(other.clone(), top[1].clone()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(edit(owner_token.clone(), top[1].clone()).await.0, StatusCode::FORBIDDEN);
    let (status, edited) = edit(author.clone(), top[1].clone()).await;
    assert_eq!((status, edited["body"].clone()), (StatusCode::OK, json!("edited")));
    assert!(edited["edited_at"].is_string());
    let delete = |token: String, comment: String| {
        let app = &app;
        async move { call(app, Method::DELETE, &format!("/api/v1/comments/{comment}"), Some(&token), None).await.0 }
    };
    assert_eq!(delete(other.clone(), top[1].clone()).await, StatusCode::FORBIDDEN);
    assert_eq!(delete(author.clone(), top[1].clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(delete(owner_token.clone(), top[2].clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(delete(admin.clone(), top[3].clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(delete(admin.clone(), top[0].clone()).await, StatusCode::NO_CONTENT, "with its replies");
    let left = get(&app, &comments, None).await;
    assert_eq!(ids(&left), vec![top[4].clone()]);
    assert_eq!(call(&app, Method::GET, &format!("/api/v1/comments/{}/replies", top[0]), None, None).await.0, 404);

    // A video turned private takes its comments out of others' reach.
    sqlx::query("UPDATE videos SET visibility = 'private' WHERE id = $1").bind(id).execute(app.db()).await.unwrap();
    assert_eq!(call(&app, Method::GET, &comments, Some(&other), None).await.0, 404);
    assert_eq!(
        call(&app, Method::GET, &format!("/api/v1/comments/{}/replies", top[4]), Some(&other), None).await.0,
        404
    );
    assert_eq!(get(&app, &comments, Some(&owner_token)).await["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn watch_history_keeps_one_resume_position_per_video_newest_first() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.quick_user("creator", "Owner").await;
    let (_, me) = app.quick_user("viewer", "Me").await;
    let a = video(&app, owner, "public", "A", "", 0.0).await;
    let b = video(&app, owner, "unlisted", "B", "", 0.0).await;
    let put = |video: Uuid, position: f64| {
        let (app, me) = (&app, me.clone());
        async move {
            call(
                app,
                Method::PUT,
                &format!("/api/v1/me/history/{video}"),
                Some(&me),
                Some(json!({ "position_s": position })),
            )
            .await
            .0
        }
    };
    assert_eq!(put(a, 1.0).await, StatusCode::NO_CONTENT);
    assert_eq!(put(b, 0.5).await, StatusCode::NO_CONTENT);
    assert_eq!(put(a, 1.5).await, StatusCode::NO_CONTENT, "watching again moves it to the top");
    assert_eq!(put(a, -1.0).await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(put(a, 99.0).await, StatusCode::UNPROCESSABLE_ENTITY, "past the end of a 2 s video");
    let history = get(&app, "/api/v1/me/history", Some(&me)).await;
    assert_eq!(ids_of_videos(&history), vec![a.to_string(), b.to_string()]);
    assert_eq!(history["items"][0]["position_s"], 1.5);

    // Made private by its owner: gone from my history.
    sqlx::query("UPDATE videos SET visibility = 'private' WHERE id = $1").bind(b).execute(app.db()).await.unwrap();
    assert_eq!(ids_of_videos(&get(&app, "/api/v1/me/history", Some(&me)).await), vec![a.to_string()]);
    assert_eq!(call(&app, Method::DELETE, &format!("/api/v1/me/history/{a}"), Some(&me), None).await.0, 204);
    assert_eq!(call(&app, Method::DELETE, &format!("/api/v1/me/history/{a}"), Some(&me), None).await.0, 404);
    assert_eq!(put(a, 0.0).await, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, Method::DELETE, "/api/v1/me/history", Some(&me), None).await.0, 204);
    assert!(get(&app, "/api/v1/me/history", Some(&me)).await["items"].as_array().unwrap().is_empty());
}

fn ids_of_videos(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|e| e["video"]["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn follows_build_the_following_feed_and_lists() {
    let app = TestApp::spawn().await;
    let (alice, alice_token) = app.quick_user("creator", "Alice").await;
    let (bob, _) = app.quick_user("creator", "Bob").await;
    let (fan, fan_token) = app.quick_user("viewer", "Fan").await;
    let alices = video(&app, alice, "public", "Alice's", "", 10.0).await;
    video(&app, alice, "unlisted", "Alice's unlisted", "", 5.0).await;
    let bobs = video(&app, bob, "public", "Bob's", "", 1.0).await;

    for creator in [alice, bob] {
        let path = format!("/api/v1/creators/{creator}/follow");
        for _ in 0..2 {
            let (status, state) = call(&app, Method::PUT, &path, Some(&fan_token), None).await;
            assert_eq!((status, state["followers"].clone()), (StatusCode::OK, json!(1)), "following twice is once");
        }
    }
    assert_eq!(
        call(&app, Method::PUT, &format!("/api/v1/creators/{alice}/follow"), Some(&alice_token), None).await.0,
        422
    );
    assert_eq!(
        call(&app, Method::PUT, &format!("/api/v1/creators/{fan}/follow"), Some(&alice_token), None).await.0,
        404
    );

    let feed = get(&app, "/api/v1/feed/following", Some(&fan_token)).await;
    assert_eq!(ids(&feed), vec![bobs.to_string(), alices.to_string()], "newest first, public only");
    let followers = get(&app, &format!("/api/v1/creators/{alice}/followers"), None).await;
    assert_eq!(followers["items"][0]["id"], fan.to_string());
    let following = get(&app, &format!("/api/v1/users/{fan}/following"), None).await;
    assert_eq!(following["items"].as_array().unwrap().len(), 2);

    let (_, state) =
        call(&app, Method::DELETE, &format!("/api/v1/creators/{bob}/follow"), Some(&fan_token), None).await;
    assert_eq!(state["followers"], 0);
    assert_eq!(ids(&get(&app, "/api/v1/feed/following", Some(&fan_token)).await), vec![alices.to_string()]);
    assert_eq!(call(&app, Method::GET, "/api/v1/feed/following", None, None).await.0, 401);
}

/// Rotating the user agent does not make one address many viewers: it counts as at most
/// three (a household behind one router); another address counts on its own.
#[tokio::test]
async fn one_address_cannot_inflate_views_by_rotating_its_user_agent() {
    let app = TestApp::spawn_with(&[("STREAMBOX_TRUST_FORWARDED_FOR", "true")]).await;
    let (owner, _) = app.quick_user("creator", "Owner").await;
    let target = video(&app, owner, "public", "Target", "", 0.0).await;
    let record = |agent: String, from: &'static str| {
        let request = app
            .http
            .post(app.url(&format!("/api/v1/videos/{target}/views")))
            .header("user-agent", agent)
            .header("x-forwarded-for", from);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap()["counted"].as_bool().unwrap() }
    };
    let mut counted = 0;
    for n in 0..50 {
        counted += usize::from(record(format!("agent {n}"), "203.0.113.5").await);
    }
    assert_eq!(counted, 3, "fifty user agents from one address are three viewers at most");
    assert!(record("agent 0".into(), "198.51.100.20").await, "another address is another viewer");
}

#[tokio::test]
async fn views_count_once_per_viewer_per_window_and_reach_postgres_in_batches() {
    let app =
        TestApp::spawn_with(&[("STREAMBOX_VIEW_FLUSH_SECS", "0.2"), ("STREAMBOX_POPULAR_REFRESH_SECS", "0.2")]).await;
    let (owner, _) = app.quick_user("creator", "Owner").await;
    let (_, viewer) = app.quick_user("viewer", "Viewer").await;
    let hot = video(&app, owner, "public", "Hot", "", 0.0).await;
    let warm = video(&app, owner, "public", "Warm", "", 0.0).await;
    let record = |video: Uuid, token: Option<String>, agent: &'static str| {
        let app = &app;
        async move {
            let mut request =
                app.http.post(app.url(&format!("/api/v1/videos/{video}/views"))).header("user-agent", agent);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            response.json::<Value>().await.unwrap()["counted"].as_bool().unwrap()
        }
    };
    assert!(record(hot, Some(viewer.clone()), "player").await);
    assert!(!record(hot, Some(viewer.clone()), "player").await, "same user within 30 minutes");
    assert!(record(hot, None, "browser A").await);
    assert!(!record(hot, None, "browser A").await, "same address and agent");
    assert!(record(hot, None, "browser B").await, "another agent is another viewer");
    assert!(record(warm, None, "browser A").await, "another video");
    let concurrent = (0..20).map(|_| record(hot, None, "browser C"));
    let counted = futures::future::join_all(concurrent).await.into_iter().filter(|c| *c).count();
    assert_eq!(counted, 1, "twenty at once from one viewer count once");

    let views = |video: Uuid| {
        let app = &app;
        async move { get(app, &format!("/api/v1/videos/{video}"), None).await["views"].as_i64().unwrap() }
    };
    eventually(Duration::from_secs(10), "the views to be flushed", || async {
        (views(hot).await == 4 && views(warm).await == 1).then_some(())
    })
    .await;
    // The ranking is rebuilt periodically (every 0.2 s here).
    let popular = eventually(Duration::from_secs(10), "the popular ranking to include the views", || async {
        Some(get(&app, "/api/v1/feed/popular", None).await).filter(|p| p["items"][0]["recent_views"] == 4)
    })
    .await;
    assert_eq!(ids(&popular), vec![hot.to_string(), warm.to_string()]);
    let private = video(&app, owner, "private", "Private", "", 0.0).await;
    assert_eq!(call(&app, Method::POST, &format!("/api/v1/videos/{private}/views"), None, None).await.0, 404);
}

#[tokio::test]
async fn a_view_batch_left_by_a_dead_flush_is_added_once_however_often_it_is_found() {
    let app = TestApp::spawn_with(&[("STREAMBOX_VIEW_FLUSH_SECS", "0.2")]).await;
    let (owner, _) = app.quick_user("creator", "Owner").await;
    let watched = video(&app, owner, "public", "Watched", "", 0.0).await;
    let views = || async { get(&app, &format!("/api/v1/videos/{watched}"), None).await["views"].as_i64().unwrap() };
    let client = redis::Client::open(app.state.config.redis_url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();

    // Another process moved three views into its batch and died before adding them.
    let batch = format!("{}:views:flushing:{}", app.queue_name, Uuid::new_v4());
    let _: () = redis.hset(&batch, watched.to_string(), 3).await.unwrap();
    eventually(Duration::from_secs(10), "the dead process's views to be added", || async {
        (views().await == 3).then_some(())
    })
    .await;

    // The same batch again, as a flush leaves it when its DEL fails after the commit.
    let _: () = redis.hset(&batch, watched.to_string(), 3).await.unwrap();
    eventually(Duration::from_secs(10), "the batch to be found again", || async {
        (!redis.clone().exists::<_, bool>(&batch).await.unwrap()).then_some(())
    })
    .await;
    assert_eq!(views().await, 3, "a batch already added adds nothing");
}

/// A word only older videos have: the walk down the newest finds too few matches, and
/// the full-text index finds the rest, however many videos came after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_matches_older_than_the_newest_videos_it_walks_first() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.quick_user("creator", "Keeper Kai").await;
    let old = video(&app, owner, "public", "Lighthouse at dusk", "", 48.0 * 3600.0).await;
    sqlx::query(
        "INSERT INTO videos (id, owner_id, title, visibility, status, source_bytes, duration_s, width, height, created_at)
         SELECT gen_random_uuid(), $1, 'Crowd ' || n, 'public', 'ready', 10, 2.0, 854, 480, now() - make_interval(secs => n)
         FROM generate_series(1, $2) AS n",
    )
    .bind(owner)
    .bind(streambox_db::feeds::SEARCH_RECENT + 1)
    .execute(app.db())
    .await
    .unwrap();
    let (status, found) = call(&app, Method::GET, "/api/v1/search?q=lighth", None, None).await;
    assert_eq!((status, ids(&found)), (StatusCode::OK, vec![old.to_string()]), "{found}");
}

/// More matches than are ranked: the walk down the newest videos finds them, ranks the
/// newest [`SEARCH_DEPTH`] and pages through exactly those, never a private one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_of_a_common_word_ranks_its_newest_matches_and_pages_to_the_depth() {
    const SEARCH_DEPTH: usize = 200;
    let app = TestApp::spawn().await;
    let (owner, _) = app.quick_user("creator", "Dock Dora").await;
    let mut in_descriptions = Vec::new();
    for minute in 1..=SEARCH_DEPTH + 5 {
        in_descriptions.push(video(&app, owner, "public", "Boats", "at the harbor", minute as f64 * 60.0).await);
    }
    let titled = video(&app, owner, "public", "Harbor lights", "", 100.5 * 60.0).await;
    video(&app, owner, "private", "Harbor secrets", "", 0.0).await;

    let mut seen = Vec::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let (status, page) = call(&app, Method::GET, &format!("/api/v1/search?q=harb&offset={at}"), None, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        offset = page["next_offset"].as_i64();
    }
    assert_eq!(seen.len(), SEARCH_DEPTH, "pages reach the depth and stop");
    assert_eq!(seen[0], titled.to_string(), "a title match outranks newer description matches");
    // The rest: the newest description matches, newest first, each once.
    let newest: Vec<String> = in_descriptions.iter().take(SEARCH_DEPTH - 1).map(Uuid::to_string).collect();
    assert_eq!(seen[1..], newest[..]);
}

#[tokio::test]
async fn search_ranks_title_over_creator_over_description_matches_prefixes_and_takes_any_input() {
    let app = TestApp::spawn().await;
    let (rail_fan, _) = app.quick_user("creator", "Railway Rita").await;
    let (other, _) = app.quick_user("creator", "Cook").await;
    let in_title = video(&app, other, "public", "Railway journeys of Norway", "scenery", 3.0).await;
    let by_creator = video(&app, rail_fan, "public", "Morning light", "a quiet walk", 2.0).await;
    let in_description = video(&app, other, "public", "Soup", "cooked on a railway carriage", 1.0).await;
    video(&app, other, "private", "Railway secrets", "", 0.0).await;
    video(&app, other, "unlisted", "Railway unlisted", "", 0.0).await;
    video(&app, other, "public", "Pasta", "nothing to do with trains", 0.0).await;

    let search = |q: &str| {
        let app = &app;
        let path = format!("/api/v1/search?q={}", urlencode(q));
        async move { call(app, Method::GET, &path, None, None).await }
    };
    let (status, found) = search("railw").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(ids(&found), vec![in_title.to_string(), by_creator.to_string(), in_description.to_string()]);
    assert_eq!(ids(&search("RAILWAY norw").await.1), vec![in_title.to_string()], "every word, any case");
    let (status, none) = search("railway norwx").await;
    assert_eq!((status, ids(&none)), (StatusCode::OK, vec![]), "a word no video has: {none}");
    // Renaming the creator re-indexes their videos.
    sqlx::query("UPDATE users SET display_name = 'Tram Tom' WHERE id = $1")
        .bind(rail_fan)
        .execute(app.db())
        .await
        .unwrap();
    assert_eq!(ids(&search("tram").await.1), vec![by_creator.to_string()]);
    // Input is words, never syntax.
    for hostile in ["railway' OR 1=1 --", "rail:* | !x", "(railway) & ", "%_\\", "\u{0}railway"] {
        let (status, body) = search(hostile).await;
        assert!(status == 200 || status == 422, "{hostile:?}: {status} {body}");
    }
    assert_eq!(search("'&|!():*").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(search(&"a".repeat(201)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    // Pages by offset: "railway" is now in two videos (Rita is Tom).
    let (_, paged) = call(&app, Method::GET, "/api/v1/search?q=railway&limit=1", None, None).await;
    assert_eq!((ids(&paged), paged["next_offset"].clone()), (vec![in_title.to_string()], json!(1)));
    let (_, rest) = call(&app, Method::GET, "/api/v1/search?q=railway&limit=1&offset=1", None, None).await;
    assert_eq!(ids(&rest), vec![in_description.to_string()]);
    // A prefix that begins more words than a query expands (32) stands for itself alone:
    // "sk" begins 34 here, and only the video with the word "sk" itself is found.
    let whole_word = video(&app, other, "public", "Sk", "", 0.0).await;
    for n in 0..=32 {
        video(&app, other, "public", &format!("Ski{n:02}"), "", 0.0).await;
    }
    assert_eq!(ids(&search("sk").await.1), vec![whole_word.to_string()], "too common a prefix is one word");
    assert_eq!(
        search("ski3").await.1["items"].as_array().map(Vec::len),
        Some(3),
        "a rarer one is every word it begins"
    );
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn feeds_page_by_keyset_and_stay_stable_while_videos_arrive() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.quick_user("creator", "Owner").await;
    let mut made = Vec::new();
    for n in 0..7 {
        made.push(video(&app, owner, "public", &format!("V{n}"), "", f64::from(100 - n)).await.to_string());
    }
    // Two with the same timestamp: the id breaks the tie.
    sqlx::query("UPDATE videos SET created_at = (SELECT created_at FROM videos WHERE title = 'V3') WHERE title = 'V4'")
        .execute(app.db())
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/feed/latest?limit=3&cursor={c}"),
            None => "/api/v1/feed/latest?limit=3".to_owned(),
        };
        let page = get(&app, &path, None).await;
        seen.extend(ids(&page));
        // New videos arrive between pages: they belong before the first page, not in it.
        video(&app, owner, "public", "Newcomer", "", 0.0).await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut expected = made.clone();
    expected.reverse();
    let (v3, v4) = (made[3].clone(), made[4].clone());
    let (hi, lo) = if v3 > v4 { (v3, v4) } else { (v4, v3) };
    let at = expected.iter().position(|id| *id == hi || *id == lo).unwrap();
    expected[at] = hi;
    expected[at + 1] = lo;
    assert_eq!(seen, expected, "every video exactly once, in order");

    let by_creator = get(&app, &format!("/api/v1/creators/{owner}/videos?limit=100"), None).await;
    assert_eq!(by_creator["items"].as_array().unwrap().len(), 7 + 3);
    assert_eq!(call(&app, Method::GET, "/api/v1/feed/latest?limit=0", None, None).await.0, 422);
    assert_eq!(call(&app, Method::GET, "/api/v1/feed/latest?limit=101", None, None).await.0, 422);
    assert_eq!(call(&app, Method::GET, "/api/v1/feed/latest?cursor=bm9wZQ", None, None).await.0, 400);
}

#[tokio::test]
async fn private_and_unlisted_videos_never_appear_in_listings_others_see() {
    let app =
        TestApp::spawn_with(&[("STREAMBOX_VIEW_FLUSH_SECS", "0.2"), ("STREAMBOX_POPULAR_REFRESH_SECS", "0.2")]).await;
    let (owner, owner_token) = app.quick_user("creator", "Shy Sam").await;
    let (_, fan) = app.quick_user("viewer", "Fan").await;
    call(&app, Method::PUT, &format!("/api/v1/creators/{owner}/follow"), Some(&fan), None).await;
    let public = video(&app, owner, "public", "Shy public", "", 3.0).await;
    let mut hidden = Vec::new();
    for visibility in ["unlisted", "private"] {
        let id = video(&app, owner, visibility, &format!("Shy {visibility}"), "", 1.0).await;
        // Views on them (by the owner, who may watch them) must not surface them either.
        call(&app, Method::POST, &format!("/api/v1/videos/{id}/views"), Some(&owner_token), None).await;
        hidden.push(id.to_string());
    }
    call(&app, Method::POST, &format!("/api/v1/videos/{public}/views"), Some(&owner_token), None).await;
    eventually(Duration::from_secs(10), "views to be flushed", || async {
        let total: i64 =
            sqlx::query_scalar("SELECT sum(view_count)::bigint FROM videos").fetch_one(app.db()).await.unwrap();
        (total == 3).then_some(())
    })
    .await;
    // Not even a video that is still processing.
    sqlx::query("INSERT INTO videos (id, owner_id, title, status, source_bytes) VALUES ($1, $2, 'Shy processing', 'processing', 1)")
        .bind(Uuid::new_v4())
        .bind(owner)
        .execute(app.db())
        .await
        .unwrap();

    for path in [
        "/api/v1/feed/latest".to_owned(),
        "/api/v1/feed/popular".to_owned(),
        "/api/v1/feed/following".to_owned(),
        format!("/api/v1/creators/{owner}/videos"),
        "/api/v1/search?q=shy".to_owned(),
    ] {
        for token in [None, Some(fan.as_str()), Some(owner_token.as_str())] {
            // The following feed is the fan's (the owner follows nobody).
            let token = if path.contains("following") { Some(fan.as_str()) } else { token };
            let listed = ids(&get(&app, &path, token).await);
            assert_eq!(listed, vec![public.to_string()], "{path} as {token:?}");
        }
    }
}

#[tokio::test]
async fn behind_the_gateway_the_viewer_is_the_address_it_added_not_what_the_client_claims() {
    let app = TestApp::spawn_with(&[("STREAMBOX_TRUST_FORWARDED_FOR", "true")]).await;
    let (owner, _) = app.quick_user("creator", "Owner").await;
    let id = video(&app, owner, "public", "Watched", "", 0.0).await;
    let record = |forwarded: &'static str| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(app.url(&format!("/api/v1/videos/{id}/views")))
                .header("user-agent", "player")
                .header("x-forwarded-for", forwarded)
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()["counted"].as_bool().unwrap()
        }
    };
    assert!(record("198.51.100.1, 203.0.113.7").await);
    assert!(!record("198.51.100.2, 203.0.113.7").await, "a forged first entry does not make a new viewer");
    assert!(record("198.51.100.1, 203.0.113.8").await, "the gateway's entry does");
}
