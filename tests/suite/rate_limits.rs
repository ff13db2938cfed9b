//! Rate limits: token buckets per request class, for each address and each account, with
//! `RateLimit-*` headers and 429 `rate_limited` past them; the app and health checks
//! are never limited, processes share the buckets, and a Redis outage never locks readers out.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{SwitchableProxy, TestApp, WorkerProcess, eventually, redis_url};

fn header(response: &reqwest::Response, name: &str) -> Option<u64> {
    response.headers().get(name).map(|v| v.to_str().unwrap().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_address_and_account_has_its_own_bucket_per_class() {
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_RATE_LIMITS", "true"),
        ("STREAMBOX_RATE_LIMIT_SEARCH", "3/min"),
        ("STREAMBOX_TRUST_FORWARDED_FOR", "true"),
    ])
    .await;
    let search = |from: &'static str, token: Option<&str>| {
        let mut request = app.http.get(app.url("/api/v1/search?q=cats")).header("x-forwarded-for", from);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap() }
    };
    for left in [2, 1, 0] {
        let allowed = search("203.0.113.1", None).await;
        assert_eq!(allowed.status(), 200);
        assert_eq!(header(&allowed, "ratelimit-limit"), Some(3));
        assert_eq!(header(&allowed, "ratelimit-remaining"), Some(left));
        assert!(header(&allowed, "ratelimit-reset").unwrap() <= 60);
    }
    let refused = search("203.0.113.1", None).await;
    assert_eq!(refused.status(), 429);
    let wait = header(&refused, "retry-after").unwrap();
    assert!((1..=20).contains(&wait), "a token is back within a third of a minute: {wait}");
    assert_eq!(header(&refused, "ratelimit-remaining"), Some(0));
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "rate_limited");

    // Another class, and another address, draw from other buckets.
    assert_eq!(
        app.http
            .get(app.url("/api/v1/feed/latest"))
            .header("x-forwarded-for", "203.0.113.1")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(search("203.0.113.2", None).await.status(), 200);

    // An account's bucket follows it from address to address.
    let user = app.user("viewer").await;
    for n in 0..3 {
        let from = ["198.51.100.1", "198.51.100.2", "198.51.100.3"][n];
        assert_eq!(search(from, Some(&user.token)).await.status(), 200);
    }
    assert_eq!(search("198.51.100.4", Some(&user.token)).await.status(), 429, "the account's bucket is empty");

    // The app's files and the health checks are never limited.
    for _ in 0..5 {
        for path in ["/", "/healthz", "/api/v1/docs"] {
            let page = app.http.get(app.url(path)).header("x-forwarded-for", "203.0.113.1").send().await.unwrap();
            assert!(page.status().is_success(), "{path}");
            assert!(page.headers().get("ratelimit-limit").is_none(), "{path} is not limited");
        }
    }
}

/// Two processes of one deployment draw from one bucket in Redis, and a client refused
/// is served again once the Retry-After it was given has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_share_one_bucket_and_a_refused_client_is_served_after_retry_after() {
    let limits = [("STREAMBOX_RATE_LIMITS", "true"), ("STREAMBOX_RATE_LIMIT_SEARCH", "4/s")];
    let app = TestApp::spawn_with(&limits).await;
    let other = WorkerProcess::spawn_mode(&app, "api", &limits).ready().await;
    let search = |base: &str| {
        let request = app.http.get(format!("{base}/api/v1/search?q=cats"));
        async move { request.send().await.unwrap() }
    };
    // Four tokens in all, whichever process answers: the fifth request is refused by either.
    let mut remaining = Vec::new();
    for base in [&app.base, &other.base, &app.base, &other.base] {
        let allowed = search(base).await;
        assert_eq!(allowed.status(), 200);
        remaining.push(header(&allowed, "ratelimit-remaining").unwrap());
    }
    // Refills (one every 250 ms) may come between requests; without sharing, each
    // process's own bucket would show 3, 3, 2, 2.
    assert!(remaining.windows(2).all(|w| w[1] <= w[0]) && remaining[3] <= 1, "one bucket: {remaining:?}");
    let refused = loop {
        let answer = search(if remaining.len() % 2 == 0 { &app.base } else { &other.base }).await;
        if answer.status() == 429 {
            break answer;
        }
        remaining.push(header(&answer, "ratelimit-remaining").unwrap());
        assert!(remaining.len() < 12, "the shared bucket never ran dry: {remaining:?}");
    };
    let wait = header(&refused, "retry-after").unwrap();
    assert!((1..=2).contains(&wait), "a token is back within a second: {wait}");
    // Waiting what the answer said is what a client is told to do.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(search(&other.base).await.status(), 200, "served again after Retry-After");
}

/// A flood on a wide bucket is served mostly from the tokens each process leases, yet two
/// processes together never serve more than the bucket holds (plus what it refilled), nor
/// hold back tokens that a client could have had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_draws_leases_from_redis_yet_never_gets_past_the_shared_bucket() {
    const CAPACITY: u32 = 640;
    let limits = [("STREAMBOX_RATE_LIMITS", "true"), ("STREAMBOX_RATE_LIMIT_API", "640/h")];
    let app = TestApp::spawn_with(&limits).await;
    let other = WorkerProcess::spawn_mode(&app, "api", &limits).ready().await;
    let started = Instant::now();
    let (mut allowed, mut refused_in_a_row, mut sent) = (0_u32, 0, 0);
    while refused_in_a_row < 10 {
        let base = if sent % 2 == 0 { &app.base } else { &other.base };
        let answer = app.http.get(format!("{base}/api/v1/feed/latest")).send().await.unwrap();
        sent += 1;
        match answer.status().as_u16() {
            200 => (allowed, refused_in_a_row) = (allowed + 1, 0),
            429 => refused_in_a_row += 1,
            other => panic!("unexpected {other}"),
        }
        assert!(sent < 2 * CAPACITY, "the bucket never ran dry");
    }
    let refilled = (started.elapsed().as_secs_f64() * f64::from(CAPACITY) / 3600.0).ceil() as u32;
    assert!(
        (CAPACITY..=CAPACITY + refilled).contains(&allowed),
        "{allowed} allowed from a bucket of {CAPACITY} that refilled {refilled} meanwhile"
    );
    let mut by_redis = 0.0;
    let mut by_process = 0.0;
    for base in [&app.base, &other.base] {
        let text = app.http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let series = |decided: &str| {
            let name = format!("streambox_rate_limit_decisions_total{{decided_by=\"{decided}\",outcome=\"allowed\"}} ");
            text.lines().find_map(|l| l.strip_prefix(&name)).map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
        };
        by_redis += series("redis");
        by_process += series("process");
    }
    assert_eq!(by_redis + by_process, f64::from(allowed), "every allowed request is counted once");
    assert!(by_redis * 4.0 < f64::from(allowed), "{by_redis} of {allowed} requests drew from Redis");
}

/// Viewers making a request now and then never wait on Redis: a wide bucket's token is
/// owed and paid with everyone's a moment later, and a client whose bucket Redis holds
/// empty gets at most that one request through before it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occasional_clients_owe_their_tokens_and_an_empty_bucket_still_refuses() {
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_RATE_LIMITS", "true"),
        ("STREAMBOX_RATE_LIMIT_API", "640/h"),
        ("STREAMBOX_TRUST_FORWARDED_FOR", "true"),
    ])
    .await;
    let get = |from: String| {
        let request = app.http.get(app.url("/api/v1/feed/latest")).header("x-forwarded-for", from);
        async move { request.send().await.unwrap() }
    };
    for n in 1..=20 {
        let answer = get(format!("198.51.100.{n}")).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(header(&answer, "ratelimit-remaining"), Some(639), "a full bucket less this request");
    }
    let client = redis::Client::open(app.state.config.redis_url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let bucket = |n: u32| format!("{}:rate:api:address:198.51.100.{n}", app.queue_name);
    for n in [1, 20] {
        let key = bucket(n);
        let tokens: f64 = eventually(Duration::from_secs(10), "the owed token to be paid", || {
            let (mut redis, key) = (redis.clone(), key.clone());
            async move { redis::cmd("HGET").arg(&key).arg("t").query_async::<Option<f64>>(&mut redis).await.unwrap() }
        })
        .await;
        assert!((638.0..640.0).contains(&tokens), "{key}: {tokens}");
    }

    // A client Redis knows has spent its bucket (in another process, say).
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let spent = bucket(99);
    redis::cmd("HSET").arg(&spent).arg("t").arg(0).arg("at").arg(now_ms).query_async::<()>(&mut redis).await.unwrap();
    assert_eq!(get("198.51.100.99".into()).await.status(), 200, "owed: this process did not know");
    let refused = eventually(Duration::from_secs(10), "the spent bucket to refuse", || async {
        let answer = get("198.51.100.99".into()).await;
        (answer.status() == 429).then_some(answer)
    })
    .await;
    assert!(header(&refused, "retry-after").unwrap() >= 5, "the debt is refilled first: a token takes 5.6 s");
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let redis_allowed = text
        .lines()
        .find_map(|l| l.strip_prefix("streambox_rate_limit_decisions_total{decided_by=\"redis\",outcome=\"allowed\"} "))
        .map_or(0.0, |v| v.trim().parse::<f64>().unwrap());
    assert_eq!(redis_allowed, 0.0, "no request waited on a draw");
}

/// Redis away: reads go on unlimited; signing in waits for Redis (503), never unlimited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_readers_go_on_and_sign_in_is_refused() {
    let redis = SwitchableProxy::start(&redis_url().replace("redis://", "http://")).await;
    let redis_through_proxy = redis.url.replace("http://", "redis://");
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_RATE_LIMITS", "true"),
        ("STREAMBOX_RATE_LIMIT_SEARCH", "3/min"),
        ("REDIS_URL", &redis_through_proxy),
    ])
    .await;
    let user = app.user("creator").await;
    redis.set_up(false);
    eventually(Duration::from_secs(30), "sign-in to be refused without Redis", || async {
        let login = app.login(&user.email, &user.password).await;
        (login.status() == 503).then_some(())
    })
    .await;
    for _ in 0..5 {
        let search = app.http.get(app.url("/api/v1/search?q=cats")).send().await.unwrap();
        assert_eq!(search.status(), 200, "reads go on, past their limit of 3");
        assert!(search.headers().get("ratelimit-limit").is_none(), "unlimited while Redis is away");
    }
    // A wide bucket's token is owed, and forgiven while Redis is away.
    assert_eq!(app.http.get(app.url("/api/v1/feed/latest")).send().await.unwrap().status(), 200);
    redis.set_up(true);
    eventually(Duration::from_secs(30), "sign-in to work again", || async {
        (app.login(&user.email, &user.password).await.status() == 200).then_some(())
    })
    .await;
}
