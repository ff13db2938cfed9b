//! Single sign-on against a real OpenID provider: `oidc-provider` (a certified
//! implementation, installed by scripts/test into tests/oidc) run by node on 127.0.0.1,
//! whose signed-in person each test chooses. A cookie-keeping HTTP client stands in for
//! the browser and follows every redirect by hand, so a test can stop, change or replay
//! any step.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tempfile::TempDir;
use url::Url;

use crate::support::{TestApp, eventually, free_port};

const CLIENT_ID: &str = "streambox-tests";
const CLIENT_SECRET: &str = "a-client-secret-of-the-tests";

/// The provider, killed when dropped.
struct Provider {
    issuer: String,
    account_file: PathBuf,
    process: tokio::process::Child,
    _dir: TempDir,
}

impl Provider {
    /// Starts a provider whose one client sends people back to `redirect_uri`, on a port
    /// no other server takes while this one is stopped and started again.
    async fn start(redirect_uri: &str) -> Self {
        Self::start_on(redirect_uri, free_port(), &[]).await
    }

    /// Starts a provider on `port` with `settings` (`OIDC_ISSUER_HOST`,
    /// `OIDC_KEY_FILE`: see tests/oidc/provider.mjs).
    async fn start_on(redirect_uri: &str, port: u16, settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let account_file = dir.path().join("account.json");
        std::fs::write(&account_file, "{}").unwrap();
        let issuer_file = dir.path().join("issuer");
        let log = std::fs::File::create(dir.path().join("provider.log")).unwrap();
        let mut process = tokio::process::Command::new("node")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc/provider.mjs"))
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", redirect_uri)
            .env("OIDC_ACCOUNT_FILE", &account_file)
            .env("OIDC_ISSUER_FILE", &issuer_file)
            .env("OIDC_PORT", port.to_string())
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("run node (scripts/test installs it)");
        let issuer = eventually(Duration::from_secs(30), "the OpenID provider to listen", || {
            let exited = process.try_wait().unwrap();
            assert!(
                exited.is_none(),
                "the provider exited: {}",
                std::fs::read_to_string(dir.path().join("provider.log")).unwrap()
            );
            std::future::ready(std::fs::read_to_string(&issuer_file).ok())
        })
        .await;
        assert!(issuer.starts_with("http://"), "{issuer}");
        Self { issuer, account_file, process, _dir: dir }
    }

    /// Stops the provider, and waits until it has.
    async fn stop(mut self) {
        self.process.kill().await.unwrap();
    }

    /// Whoever signs in next is this person.
    fn sign_in_as(&self, subject: &str, email: &str, email_verified: bool, name: &str) {
        let person = json!({ "sub": subject, "email": email, "email_verified": email_verified, "name": name });
        std::fs::write(&self.account_file, person.to_string()).unwrap();
    }
}

/// A provider and an app configured to sign in through it.
async fn app_with_provider() -> (TestApp, Provider) {
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/api/v1/auth/oidc/callback");
    let provider = Provider::start(&callback).await;
    let app = app_for(port, &provider.issuer, &callback).await;
    (app, provider)
}

async fn app_for(port: u16, issuer: &str, callback: &str) -> TestApp {
    TestApp::spawn_with(&[
        ("STREAMBOX_BIND", &format!("127.0.0.1:{port}")),
        ("STREAMBOX_COOKIE_SECURE", "false"),
        ("STREAMBOX_OIDC_ISSUER", issuer),
        ("STREAMBOX_OIDC_CLIENT_ID", CLIENT_ID),
        ("STREAMBOX_OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("STREAMBOX_OIDC_REDIRECT_URL", callback),
        ("STREAMBOX_OIDC_NAME", "Test Provider"),
    ])
    .await
}

/// A browser: keeps cookies (by name; both servers are on 127.0.0.1) and follows no
/// redirect by itself.
struct Browser {
    http: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
}

impl Browser {
    fn new() -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, cookies: Mutex::new(HashMap::new()) }
    }

    async fn get(&self, url: &Url) -> reqwest::Response {
        let jar = self.cookies.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let response = self.http.get(url.clone()).header(COOKIE, jar).send().await.unwrap();
        let mut cookies = self.cookies.lock().unwrap();
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            let gone = value.is_empty() || set.to_ascii_lowercase().contains("max-age=0");
            if gone {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// Where `response` redirects to.
    fn location(from: &Url, response: &reqwest::Response) -> Url {
        let location =
            response.headers().get(LOCATION).unwrap_or_else(|| panic!("{from}: no redirect")).to_str().unwrap();
        from.join(location).unwrap()
    }

    /// Starts single sign-on at `app` and follows the provider's redirects until they
    /// lead back to the app's callback, which is answered unvisited. `tamper` may change
    /// the authorization request on its way to the provider.
    async fn to_callback(&self, app: &TestApp, return_to: Option<&str>, tamper: impl Fn(Url) -> Url) -> Url {
        let mut start = Url::parse(&app.url("/api/v1/auth/oidc/start")).unwrap();
        if let Some(path) = return_to {
            start.query_pairs_mut().append_pair("return_to", path);
        }
        let started = self.get(&start).await;
        assert_eq!(started.status(), 302, "{}", started.text().await.unwrap());
        let mut at = tamper(Self::location(&start, &started));
        for _ in 0..10 {
            if at.as_str().starts_with(&app.url("/api/v1/auth/oidc/callback")) {
                return at;
            }
            let answer = self.get(&at).await;
            assert!(answer.status().is_redirection(), "{at}: {} {}", answer.status(), answer.text().await.unwrap());
            at = Self::location(&at, &answer);
        }
        panic!("the provider never sent the browser back");
    }

    /// Visits the callback; answers where the app sends the browser next.
    async fn finish(&self, callback: &Url) -> String {
        let answer = self.get(callback).await;
        assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
        answer.headers()[LOCATION].to_str().unwrap().to_owned()
    }

    /// The whole sign-in; answers where the app sends the browser at its end.
    async fn sign_in(&self, app: &TestApp, return_to: Option<&str>) -> String {
        let callback = self.to_callback(app, return_to, |url| url).await;
        self.finish(&callback).await
    }

    /// `GET /api/v1/me` with this browser's session cookies.
    async fn me(&self, app: &TestApp) -> reqwest::Response {
        self.get(&Url::parse(&app.url("/api/v1/me")).unwrap()).await
    }
}

async fn identities_of(app: &TestApp, user: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT issuer, subject FROM user_identities WHERE user_id = $1::uuid ORDER BY created_at")
        .bind(user)
        .fetch_all(app.db())
        .await
        .unwrap()
}

async fn accounts_with_email(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1").bind(email).fetch_one(app.db()).await.unwrap()
}

#[tokio::test]
async fn a_first_sign_in_creates_an_account_whose_session_works_and_the_next_one_returns_to_it() {
    let (app, provider) = app_with_provider().await;
    let info: Value = app.http.get(app.url("/api/v1/auth/oidc")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info, json!({ "enabled": true, "name": "Test Provider" }));

    provider.sign_in_as("person-1", "Ada@Example.org", true, "Ada Lovelace");
    let browser = Browser::new();
    assert_eq!(browser.sign_in(&app, Some("/#/studio")).await, "/#/studio");
    for cookie in ["sb_access", "sb_refresh", "sb_session"] {
        assert!(browser.cookie(cookie).is_some(), "{cookie} set");
    }
    let me = browser.me(&app).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.org");
    assert_eq!(me["display_name"], "Ada Lovelace");
    assert_eq!(me["role"], "creator");
    // The provider verified the address: nothing asks for it again here.
    assert_eq!(me["email_verified"], true);
    let id = me["id"].as_str().unwrap().to_owned();
    assert_eq!(identities_of(&app, &id).await, [(provider.issuer.clone(), "person-1".to_owned())]);

    // The account has no password: none signs in to it (and trying is no server error).
    for password in ["", "!", "correct horse battery staple"] {
        assert_eq!(app.login("ada@example.org", password).await.status(), 401, "{password:?}");
    }

    // The subject, not the email, names the person: a changed address still comes home.
    provider.sign_in_as("person-1", "ada@elsewhere.example", true, "Ada");
    let again = Browser::new();
    // A return path off this site is ignored.
    assert_eq!(again.sign_in(&app, Some("//evil.example/")).await, "/#/");
    let me: Value = again.me(&app).await.json().await.unwrap();
    assert_eq!(me["id"], id.as_str());
    assert_eq!(accounts_with_email(&app, "ada@elsewhere.example").await, 0);
}

#[tokio::test]
async fn a_verified_email_links_the_existing_account_and_an_unverified_one_reaches_no_account() {
    let (app, provider) = app_with_provider().await;
    let existing = app.user("creator").await;
    sqlx::query("UPDATE users SET email_verified_at = now() WHERE id = $1")
        .bind(existing.id)
        .execute(app.db())
        .await
        .unwrap();

    provider.sign_in_as("person-2", &existing.email, false, "Someone");
    let browser = Browser::new();
    assert_eq!(browser.sign_in(&app, None).await, "/#/signin?error=oidc_email_unverified");
    assert_eq!(browser.me(&app).await.status(), 401);
    assert!(identities_of(&app, &existing.id.to_string()).await.is_empty());
    assert_eq!(accounts_with_email(&app, &existing.email).await, 1);
    let identities: i64 = sqlx::query_scalar("SELECT count(*) FROM user_identities").fetch_one(app.db()).await.unwrap();
    assert_eq!(identities, 0);

    provider.sign_in_as("person-2", &existing.email, true, "Someone");
    assert_eq!(browser.sign_in(&app, None).await, "/#/");
    let me: Value = browser.me(&app).await.json().await.unwrap();
    assert_eq!(me["id"], existing.id.to_string());
    assert_eq!(identities_of(&app, &existing.id.to_string()).await, [(provider.issuer.clone(), "person-2".to_owned())]);
    // Linking took nothing away: the password and the sessions still work.
    assert_eq!(app.login(&existing.email, &existing.password).await.status(), 200);
    let me = app.http.get(app.url("/api/v1/me")).bearer_auth(&existing.token).send().await.unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn an_account_whose_address_was_never_verified_here_is_claimed_by_the_provider_verified_owner() {
    let (app, provider) = app_with_provider().await;
    // Someone registered the address without showing it is theirs, and chose the password.
    let squatter = app.user("creator").await;

    provider.sign_in_as("person-8", &squatter.email, true, "Owner");
    let owner = Browser::new();
    assert_eq!(owner.sign_in(&app, None).await, "/#/");
    let me: Value = owner.me(&app).await.json().await.unwrap();
    assert_eq!(me["id"], squatter.id.to_string());
    let verified: bool = sqlx::query_scalar("SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1")
        .bind(squatter.id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(verified);
    // The password and sessions of whoever registered it are done with.
    assert_eq!(app.login(&squatter.email, &squatter.password).await.status(), 401);
    let theirs = app.http.get(app.url("/api/v1/me")).bearer_auth(&squatter.token).send().await.unwrap();
    assert_eq!(theirs.status(), 401);
    assert_eq!(owner.me(&app).await.status(), 200);
}

#[tokio::test]
async fn the_callback_refuses_a_state_that_is_tampered_unknown_reused_expired_or_from_another_browser() {
    let (app, provider) = app_with_provider().await;
    provider.sign_in_as("person-3", "grace@example.org", true, "Grace");
    let refused = "/#/signin?error=invalid_oidc_state";
    let browser = Browser::new();

    let callback = browser.to_callback(&app, None, |url| url).await;
    let mut tampered = callback.clone();
    let pairs: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    tampered.query_pairs_mut().clear().extend_pairs(
        pairs.iter().map(|(k, v)| if k == "state" { (k.clone(), format!("{v}x")) } else { (k.clone(), v.clone()) }),
    );
    assert_eq!(browser.finish(&tampered).await, refused);
    let mut unknown = Url::parse(&app.url("/api/v1/auth/oidc/callback")).unwrap();
    unknown.query_pairs_mut().append_pair("code", "whatever").append_pair("state", "nOtAsTaTeThIsSeRvErGaVeOuT");
    assert_eq!(browser.finish(&unknown).await, refused);
    let no_state = Url::parse(&app.url("/api/v1/auth/oidc/callback?code=whatever")).unwrap();
    assert_eq!(browser.finish(&no_state).await, refused);

    // The untouched callback still works, once.
    assert_eq!(browser.finish(&callback).await, "/#/");
    assert_eq!(browser.me(&app).await.status(), 200);
    let replay = Browser::new();
    assert_eq!(replay.finish(&callback).await, refused);
    assert_eq!(browser.finish(&callback).await, refused);

    // A sign-in is kept ten minutes, then forgotten.
    let late = browser.to_callback(&app, None, |url| url).await;
    let state = late.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let key = format!("{}:oidc:{state}", app.queue_name);
    let client = redis::Client::open(app.state.config.redis_url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut redis).await.unwrap();
    assert!((590..=600).contains(&ttl), "{ttl}");
    let _: () = redis::cmd("PEXPIRE").arg(&key).arg(1).query_async(&mut redis).await.unwrap();
    eventually(Duration::from_secs(5), "the sign-in to expire", || {
        let mut redis = redis.clone();
        let key = key.clone();
        async move { (!redis::cmd("EXISTS").arg(&key).query_async::<bool>(&mut redis).await.unwrap()).then_some(()) }
    })
    .await;
    assert_eq!(browser.finish(&late).await, refused);

    // A callback carried to another browser signs nobody in there.
    let victim = Browser::new();
    let stolen = victim.to_callback(&app, None, |url| url).await;
    let attacker = Browser::new();
    assert_eq!(attacker.finish(&stolen).await, refused);
    assert_eq!(attacker.me(&app).await.status(), 401);
    assert!(attacker.cookie("sb_access").is_none());
}

#[tokio::test]
async fn an_id_token_carrying_another_nonce_is_refused() {
    let (app, provider) = app_with_provider().await;
    provider.sign_in_as("person-4", "linus@example.org", true, "Linus");
    let browser = Browser::new();
    // The provider is asked for a token with a nonce of someone else's choosing (one
    // captured from another sign-in, say); the app must notice its own is not in it.
    let callback = browser
        .to_callback(&app, None, |mut url| {
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            url.query_pairs_mut().clear().extend_pairs(pairs.iter().map(|(k, v)| {
                if k == "nonce" { (k.clone(), "a-nonce-from-elsewhere".to_owned()) } else { (k.clone(), v.clone()) }
            }));
            url
        })
        .await;
    assert_eq!(browser.finish(&callback).await, "/#/signin?error=invalid_oidc_nonce");
    assert_eq!(browser.me(&app).await.status(), 401);
    assert_eq!(accounts_with_email(&app, "linus@example.org").await, 0);
}

#[tokio::test]
async fn a_token_signed_with_a_key_rotated_in_since_discovery_is_checked_against_the_new_keys() {
    let (app, provider) = app_with_provider().await;
    provider.sign_in_as("person-6", "barbara@example.org", true, "Barbara");
    assert_eq!(Browser::new().sign_in(&app, None).await, "/#/");

    // The same provider comes back with a new signing key while the app still has the old
    // key set; the new key is found on a second look.
    let issuer = Url::parse(&provider.issuer).unwrap();
    let callback = app.url("/api/v1/auth/oidc/callback");
    provider.stop().await;
    let provider = Provider::start_on(&callback, issuer.port().unwrap(), &[]).await;
    assert_eq!(provider.issuer, issuer.as_str().trim_end_matches('/'));
    provider.sign_in_as("person-6", "barbara@example.org", true, "Barbara");
    let browser = Browser::new();
    assert_eq!(browser.sign_in(&app, None).await, "/#/");
    assert_eq!(browser.me(&app).await.status(), 200);
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("key.json");
    let key_file = key_file.to_str().unwrap();
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/api/v1/auth/oidc/callback");
    let provider = Provider::start_on(&callback, free_port(), &[("OIDC_KEY_FILE", key_file)]).await;
    let app = app_for(port, &provider.issuer, &callback).await;
    provider.sign_in_as("person-7", "eve@example.org", true, "Eve");
    assert_eq!(Browser::new().sign_in(&app, None).await, "/#/");

    // At the same address, with the same key, a provider calling itself something else:
    // its tokens are well signed, for this client, and not from the configured issuer.
    let provider_port = Url::parse(&provider.issuer).unwrap().port().unwrap();
    provider.stop().await;
    let impostor =
        Provider::start_on(&callback, provider_port, &[("OIDC_KEY_FILE", key_file), ("OIDC_ISSUER_HOST", "localhost")])
            .await;
    assert_eq!(impostor.issuer, format!("http://localhost:{provider_port}"));
    impostor.sign_in_as("person-7", "eve@example.org", true, "Eve");
    let browser = Browser::new();
    assert_eq!(browser.sign_in(&app, None).await, "/#/signin?error=invalid_oidc_token");
    assert_eq!(browser.me(&app).await.status(), 401);
}

#[tokio::test]
async fn a_provider_whose_discovery_document_names_another_issuer_is_refused() {
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/api/v1/auth/oidc/callback");
    let provider = Provider::start(&callback).await;
    // The same server by another name: its discovery document names the issuer it is.
    let other_name = provider.issuer.replace("127.0.0.1", "localhost");
    let document: Value = reqwest::get(format!("{other_name}/.well-known/openid-configuration"))
        .await
        .expect("the provider answers as localhost too")
        .json()
        .await
        .unwrap();
    assert_eq!(document["issuer"], provider.issuer.as_str());
    let app = app_for(port, &other_name, &callback).await;
    provider.sign_in_as("person-5", "mallory@example.org", true, "Mallory");

    let browser = Browser::new();
    let start = Url::parse(&app.url("/api/v1/auth/oidc/start")).unwrap();
    let answer = browser.get(&start).await;
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.json::<Value>().await.unwrap()["code"], "unavailable");
    assert!(browser.cookie("sb_oidc").is_none(), "no sign-in was started");
}

#[tokio::test]
async fn single_sign_on_is_off_unless_configured() {
    let app = TestApp::spawn().await;
    let info: Value = app.http.get(app.url("/api/v1/auth/oidc")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info, json!({ "enabled": false, "name": null }));
    let start = app.http.get(app.url("/api/v1/auth/oidc/start")).send().await.unwrap();
    assert_eq!(start.status(), 404);
}
