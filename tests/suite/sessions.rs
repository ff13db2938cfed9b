//! Sessions under attack: forged and stale tokens, refresh rotation and reuse,
//! cookies, password storage, and bootstrapping the first admin from the CLI.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{TEST_JWT_SECRET, TestApp};

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn sign(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

async fn me_status(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app.http.get(app.url("/api/v1/me")).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_orphaned_tokens_get_401_never_500() {
    let app = TestApp::spawn().await;
    let user = app.user("creator").await;
    assert_eq!(me_status(&app, &user.token).await.0, 200);

    let claims = |exp: u64| json!({ "sub": user.id, "role": "admin", "iat": now() - 10_000, "exp": exp, "iss": "streambox", "aud": "streambox-api" });
    let payload = b64(&claims(now() + 600));
    let attacks = [
        ("expired", sign(TEST_JWT_SECRET, &claims(now() - 60))),
        ("wrong signature", sign("another-secret-that-is-also-long-enough", &claims(now() + 600))),
        ("alg none", format!("{}.{payload}.", b64(&json!({ "alg": "none", "typ": "JWT" })))),
        // HS/RS confusion: an RS256 header signed with the HMAC secret must not be accepted.
        ("alg RS256", {
            let unsigned = format!("{}.{payload}", b64(&json!({ "alg": "RS256", "typ": "JWT" })));
            let valid = sign(TEST_JWT_SECRET, &claims(now() + 600));
            format!("{unsigned}.{}", valid.rsplit('.').next().unwrap())
        }),
        (
            "wrong audience",
            sign(
                TEST_JWT_SECRET,
                &json!({ "sub": user.id, "role": "admin", "iat": now(), "exp": now() + 600, "iss": "streambox", "aud": "streambox-playback" }),
            ),
        ),
        ("garbage", "not.a.token".to_owned()),
        ("empty claims", sign(TEST_JWT_SECRET, &json!({}))),
    ];
    for (name, token) in attacks {
        let (status, body) = me_status(&app, &token).await;
        assert_eq!(status, 401, "{name}");
        assert_eq!(body["code"], "unauthorized", "{name}");
    }

    // A valid token of a user who no longer exists.
    sqlx::query("DELETE FROM users WHERE id = $1").bind(user.id).execute(app.db()).await.unwrap();
    assert_eq!(me_status(&app, &user.token).await.0, 401, "deleted user");
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.http.post(app.url("/api/v1/auth/refresh")).json(&json!({ "refresh_token": token })).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let app = TestApp::spawn().await;
    let user = app.user("creator").await;

    let first = refresh(&app, &user.refresh_token).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let second_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, user.refresh_token, "refresh tokens rotate");
    assert_eq!(me_status(&app, first["access_token"].as_str().unwrap()).await.0, 200);

    // Replaying the used token once its race window (a second tab) has passed is theft:
    // it fails, and so does its successor from then on.
    sqlx::query("UPDATE refresh_tokens SET used_at = used_at - interval '1 minute' WHERE used_at IS NOT NULL")
        .execute(app.db())
        .await
        .unwrap();
    assert_eq!(refresh(&app, &user.refresh_token).await.status(), 401);
    assert_eq!(refresh(&app, &second_refresh).await.status(), 401, "the family is revoked");

    // Only hashes are stored.
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT token_hash FROM refresh_tokens").fetch_all(app.db()).await.unwrap();
    assert!(!stored.is_empty());
    for hash in &stored {
        assert_eq!(hash.len(), 32);
        assert!(!String::from_utf8_lossy(hash).contains(&second_refresh));
    }

    // A separate login is a separate family, unaffected; logout revokes it.
    let login: Value = app.login(&user.email, &user.password).await.json().await.unwrap();
    let fresh = login["refresh_token"].as_str().unwrap();
    let logout =
        app.http.post(app.url("/api/v1/auth/logout")).json(&json!({ "refresh_token": fresh })).send().await.unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(refresh(&app, fresh).await.status(), 401, "logged out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_http_only_cookies_that_work_on_their_own() {
    let app = TestApp::spawn().await;
    let user = app.user("creator").await;
    let login = app.login(&user.email, &user.password).await;
    let cookies: Vec<String> =
        login.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(cookies.len(), 3, "{cookies:?}");
    for cookie in cookies.iter().filter(|c| !c.starts_with("sb_session=")) {
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure"),
            "{cookie}"
        );
    }
    // The one cookie scripts read says only when the access token expires.
    let marker = cookies.iter().find(|c| c.starts_with("sb_session=")).expect("the session marker");
    assert!(!marker.contains("HttpOnly") && marker.contains("SameSite=Lax") && marker.contains("Secure"), "{marker}");
    let expiry: i64 = marker["sb_session=".len()..].split(';').next().unwrap().parse().expect("a timestamp");
    let access_ttl = login.json::<Value>().await.unwrap()["expires_in"].as_i64().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (expiry - (now + access_ttl)).abs() <= 5,
        "the marker is the access expiry: {expiry} vs now {now} + {access_ttl}"
    );
    let pair = |name: &str| cookies.iter().find(|c| c.starts_with(name)).unwrap().split(';').next().unwrap().to_owned();
    let (access, refresh_cookie) = (pair("sb_access="), pair("sb_refresh="));
    assert!(cookies.iter().any(|c| c.starts_with("sb_refresh=") && c.contains("Path=/api/v1/auth")));

    let me = app.http.get(app.url("/api/v1/me")).header("cookie", &access).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let refreshed =
        app.http.post(app.url("/api/v1/auth/refresh")).header("cookie", &refresh_cookie).send().await.unwrap();
    assert_eq!(refreshed.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_does_not_reveal_which_emails_exist_and_passwords_are_argon2id() {
    let app = TestApp::spawn().await;
    let user = app.user("creator").await;
    let wrong_password = app.login(&user.email, "not the right password").await;
    let unknown_email = app.login("nobody@example.org", "not the right password").await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    assert_eq!(wrong_password.text().await.unwrap(), unknown_email.text().await.unwrap());

    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");

    let duplicate = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .json(
            &json!({ "email": user.email.to_uppercase(), "password": "another long password", "display_name": "Dup" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 409, "emails are unique after normalisation");
    let short = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({ "email": "short@example.org", "password": "short", "display_name": "S" }))
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 422);
    assert!(short.text().await.unwrap().contains("password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_is_created_from_the_command_line() {
    let app = TestApp::spawn().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_streambox"))
        .args(["user", "create", "--email", "Root@Example.org", "--display-name", "Root", "--admin"])
        .env("DATABASE_URL", app.state.config.database_url.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"an admin password that is long\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let login: Value = app.login("root@example.org", "an admin password that is long").await.json().await.unwrap();
    let (status, me) = me_status(&app, login["access_token"].as_str().unwrap()).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")));
}

/// A password sign-in as if from `from` (the app must trust `X-Forwarded-For`).
fn sign_in_from(
    app: &TestApp,
    email: &str,
    password: &str,
    from: &str,
) -> impl Future<Output = reqwest::Response> + use<> {
    let request = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({ "email": email, "password": password }));
    async move { request.send().await.unwrap() }
}

/// Failed sign-ins slow down that account from that address, doubling the wait with each
/// further failure; the owner signing in from elsewhere is never kept out, and a success
/// clears the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_slow_down_that_account_from_that_address_only() {
    let app = TestApp::spawn_with(&[("STREAMBOX_TRUST_FORWARDED_FOR", "true")]).await;
    let user = app.user("creator").await;
    let attempt = |password: &'static str, from: &'static str| sign_in_from(&app, &user.email, password, from);
    let attacker = "203.0.113.7";
    for _ in 0..6 {
        assert_eq!(attempt("not the password", attacker).await.status(), 401);
    }
    // From here each attempt from that address waits: even the right password.
    let mut waits = Vec::new();
    for _ in 0..3 {
        let throttled = attempt("correct horse battery staple", attacker).await;
        assert_eq!(throttled.status(), 429);
        let wait: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert_eq!(throttled.json::<Value>().await.unwrap()["code"], "login_throttled");
        waits.push(wait);
        // The owner, elsewhere, is not kept out.
        assert_eq!(attempt("correct horse battery staple", "198.51.100.9").await.status(), 200);
        // Once the wait is over, one more failure doubles it.
        crate::support::eventually(Duration::from_secs(30), "the wait to end", || async {
            (attempt("not the password", attacker).await.status() == 401).then_some(())
        })
        .await;
    }
    assert!(waits[0] >= 1 && waits[1] >= 2 * waits[0] - 1 && waits[2] >= 2 * waits[1] - 1, "waits double: {waits:?}");

    crate::support::eventually(Duration::from_secs(30), "the last wait to end", || async {
        (attempt("correct horse battery staple", attacker).await.status() == 200).then_some(())
    })
    .await;
    assert_eq!(attempt("not the password", attacker).await.status(), 401, "a success clears the count");
}

/// A burst of 300 wrong passwords for one account from one address: only the first few
/// are even checked, the 301st (the right password) is refused, and the same account from
/// another address still gets its own tries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_failed_sign_ins_refuse_the_next_but_not_the_owner_elsewhere() {
    let app = TestApp::spawn_with(&[("STREAMBOX_TRUST_FORWARDED_FOR", "true")]).await;
    let user = app.user("creator").await;
    let attempt = |password: &'static str, from: &'static str| sign_in_from(&app, &user.email, password, from);
    let attacker = "203.0.113.66";
    let mut answers = std::collections::BTreeMap::<u16, u32>::new();
    for _ in 0..300 {
        *answers.entry(attempt("not the password", attacker).await.status().as_u16()).or_default() += 1;
    }
    let checked = answers.get(&401).copied().unwrap_or_default();
    // Five free failures, then one each time the doubling wait (1 s, 2 s, 4 s, ...) ends.
    assert!(checked <= 12 && answers.get(&429).copied().unwrap_or_default() == 300 - checked, "{answers:?}");
    let the_301st = attempt("correct horse battery staple", attacker).await;
    assert_eq!(the_301st.status(), 429, "the right password is refused from there too");
    assert_eq!(the_301st.json::<Value>().await.unwrap()["code"], "login_throttled");
    let elsewhere = "198.51.100.66";
    for _ in 0..5 {
        assert_eq!(attempt("not the password", elsewhere).await.status(), 401, "checked, not throttled");
    }
    assert_eq!(attempt("correct horse battery staple", elsewhere).await.status(), 200);
}

/// One address may register only so many accounts an hour; another address is not held back.
#[tokio::test]
async fn one_address_registers_only_so_many_accounts_an_hour() {
    let app =
        TestApp::spawn_with(&[("STREAMBOX_REGISTRATIONS_PER_HOUR", "3"), ("STREAMBOX_TRUST_FORWARDED_FOR", "true")])
            .await;
    let register = |n: u32, from: &'static str| {
        let request = app.http.post(app.url("/api/v1/auth/register")).header("x-forwarded-for", from).json(&json!({
            "email": format!("farm-{n}-{}@example.org", uuid::Uuid::new_v4().simple()),
            "password": "a long enough password",
            "display_name": "Farmed",
        }));
        async move { request.send().await.unwrap() }
    };
    for n in 0..3 {
        assert_eq!(register(n, "203.0.113.40").await.status(), 201);
    }
    let refused = register(3, "203.0.113.40").await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "registration_throttled");
    assert_eq!(register(4, "198.51.100.40").await.status(), 201, "another address registers");
}

/// Failures for many accounts from one address (credential stuffing) slow that whole
/// address down, even for an account without failures; other addresses are not held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_for_many_accounts_slow_the_whole_address_and_no_other() {
    let app = TestApp::spawn_with(&[("STREAMBOX_TRUST_FORWARDED_FOR", "true")]).await;
    let user = app.user("creator").await;
    let attempt =
        |email: String, password: &'static str, from: &'static str| sign_in_from(&app, &email, password, from);
    let stuffer = "203.0.113.99";
    for batch in 0..26 {
        let guesses = (0..2).map(|n| attempt(format!("victim-{batch}-{n}@example.org"), "leaked password", stuffer));
        for guess in futures::future::join_all(guesses).await {
            assert_eq!(guess.status(), 401);
        }
    }
    // 52 failures: past the 50 an address has before all its attempts wait.
    let held = attempt(user.email.clone(), "correct horse battery staple", stuffer).await;
    assert_eq!(held.status(), 429);
    let wait: u64 = held.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "the 51st and 52nd failures earn 1 s and 2 s: {wait}");
    let elsewhere = attempt(user.email.clone(), "correct horse battery staple", "198.51.100.99").await;
    assert_eq!(elsewhere.status(), 200, "another address is not held back");
}
