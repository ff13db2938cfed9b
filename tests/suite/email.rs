//! Mail to account holders against a real SMTP server each test starts (Python's
//! aiosmtpd on a free 127.0.0.1 port, writing every message it receives to a folder):
//! the verification mail arrives and its link verifies once; expired and made-up links
//! are refused; an unverified account cannot upload while verification is required; a
//! password reset revokes every session and the old password; asking for a reset
//! answers alike whether or not the address has an account. The web app's pages for the
//! links are walked in headless Chromium (tests/browser/mailed_links.mjs).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::support::{TestApp, TestUser, free_port};

/// An SMTP server that writes each message to `{dir}/NNNN.json` as
/// `{"to": [...], "subject": ..., "body": <the decoded text>}` (written aside, then
/// renamed, so a reader never sees half a message), and prints `ready` once listening.
const SMTP_SINK: &str = r#"
import email, json, os, sys, threading
from email import policy
from aiosmtpd.controller import Controller

out, port = sys.argv[1], int(sys.argv[2])

class Sink:
    def __init__(self):
        self.count = 0
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.count += 1
        record = {"to": envelope.rcpt_tos, "subject": str(message["subject"]),
                  "body": message.get_body(preferencelist=("plain",)).get_content()}
        part = os.path.join(out, f".{self.count:04}.part")
        with open(part, "w") as f:
            json.dump(record, f)
        os.rename(part, os.path.join(out, f"{self.count:04}.json"))
        return "250 Message accepted"

controller = Controller(Sink(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
threading.Event().wait()
"#;

/// How long a test waits for a mail before it fails.
const MAIL_DEADLINE: Duration = Duration::from_secs(30);

/// A running SMTP sink and the folder of what it received; stopped when dropped.
struct Mailbox {
    dir: PathBuf,
    port: u16,
    _server: Child,
    _dir: tempfile::TempDir,
}

impl Mailbox {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut server = Command::new("python3")
            .arg("-c")
            .arg(SMTP_SINK)
            .arg(dir.path())
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 with aiosmtpd (scripts/lib.sh ensure_aiosmtpd)");
        let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(MAIL_DEADLINE, lines.next_line()).await;
        assert!(matches!(&ready, Ok(Ok(Some(line))) if line == "ready"), "the SMTP sink did not start: {ready:?}");
        Self { dir: dir.path().to_owned(), port, _server: server, _dir: dir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in order.
    fn received(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }

    /// The `n`th (from 1) message to `to`, once it has arrived.
    async fn nth_to(&self, to: &str, n: usize) -> Value {
        let until = Instant::now() + MAIL_DEADLINE;
        loop {
            let mine: Vec<Value> = self.received().into_iter().filter(|m| m["to"] == json!([to])).collect();
            if let Some(mail) = mine.into_iter().nth(n - 1) {
                return mail;
            }
            assert!(Instant::now() < until, "no mail #{n} to {to} arrived within {MAIL_DEADLINE:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first message to `to`, once it has arrived.
    async fn first_to(&self, to: &str) -> Value {
        self.nth_to(to, 1).await
    }
}

/// The link in a mail's body, and its token.
fn link_of(mail: &Value, page: &str) -> (String, String) {
    let body = mail["body"].as_str().unwrap();
    let link = body
        .split_whitespace()
        .find(|word| word.contains(&format!("/#/{page}?token=")))
        .unwrap_or_else(|| panic!("no {page} link in {body:?}"))
        .to_owned();
    let token = link.split_once("?token=").unwrap().1.to_owned();
    (link, token)
}

async fn spawn_with_mail(mailbox: &Mailbox) -> TestApp {
    TestApp::spawn_with(&[("STREAMBOX_SMTP_URL", &mailbox.url())]).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app.http.post(app.url(path)).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app.http.get(app.url("/api/v1/me")).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn verification_token(mailbox: &Mailbox, user: &TestUser) -> String {
    link_of(&mailbox.first_to(&user.email).await, "verify").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verification_mail_arrives_and_its_link_verifies_once_and_only_once() {
    let mailbox = Mailbox::start().await;
    let app = spawn_with_mail(&mailbox).await;
    let user = app.user("creator").await;
    let account = me(&app, &user.token).await.1;
    assert_eq!((&account["email_verified"], &account["email_verification_required"]), (&json!(false), &json!(true)));

    let mail = mailbox.first_to(&user.email).await;
    assert_eq!(mail["subject"], "Confirm your email address");
    let (link, token) = link_of(&mail, "verify");
    assert_eq!(link, format!("{}/#/verify?token={token}", app.base), "the link opens the web app's page");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM email_links WHERE user_id = $1")
        .bind(user.id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(stored, Sha256::digest(token.as_bytes()).to_vec(), "only the token's digest is stored");

    assert_eq!(post(&app, "/api/v1/auth/verify-email", json!({ "token": token })).await.0, 204);
    assert_eq!(me(&app, &user.token).await.1["email_verified"], true);
    let (status, again) = post(&app, "/api/v1/auth/verify-email", json!({ "token": token })).await;
    assert_eq!((status, again["code"].as_str()), (410, Some("email_link_used")), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_made_up_verification_link_is_refused() {
    let mailbox = Mailbox::start().await;
    let app = spawn_with_mail(&mailbox).await;
    let user = app.user("creator").await;
    let token = verification_token(&mailbox, &user).await;
    sqlx::query("UPDATE email_links SET expires_at = now() - interval '1 second' WHERE user_id = $1")
        .bind(user.id)
        .execute(app.db())
        .await
        .unwrap();

    let (status, expired) = post(&app, "/api/v1/auth/verify-email", json!({ "token": token })).await;
    assert_eq!((status, expired["code"].as_str()), (410, Some("email_link_expired")), "{expired}");
    assert_eq!(me(&app, &user.token).await.1["email_verified"], false);
    let (status, made_up) = post(&app, "/api/v1/auth/verify-email", json!({ "token": format!("{token}x") })).await;
    assert_eq!((status, made_up["code"].as_str()), (400, Some("email_link_invalid")), "{made_up}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_account_cannot_upload_while_verification_is_required_and_can_once_verified() {
    let mailbox = Mailbox::start().await;
    let app = spawn_with_mail(&mailbox).await;
    let user = app.user("creator").await;
    let clip = app.dir.path().join("clip.mp4");
    std::fs::write(&clip, crate::support::fake_video()).unwrap();

    let refusals = [
        ("multipart", app.upload(Some(&user.token), &clip, "Too early").await),
        ("presigned", app.presign(&user.token, &json!({ "title": "Too early", "size": 1000 })).await),
        ("tus", tus_create(&app, &user.token).await),
    ];
    for (how, response) in refusals {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!((status, body["code"].as_str()), (403, Some("email_not_verified")), "{how}: {body}");
        assert!(body["message"].as_str().unwrap().contains("verify your email"), "{how}: {body}");
    }

    let token = verification_token(&mailbox, &user).await;
    assert_eq!(post(&app, "/api/v1/auth/verify-email", json!({ "token": token })).await.0, 204);
    assert_eq!(app.upload(Some(&user.token), &clip, "Verified").await.status(), 202);
    assert_eq!(app.presign(&user.token, &json!({ "title": "Verified", "size": 1000 })).await.status(), 201);
    assert_eq!(tus_create(&app, &user.token).await.status(), 201);
}

async fn tus_create(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/uploads/tus"))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "1000")
        .header("upload-metadata", "title VGFibGU=")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_revokes_every_session_and_the_old_password() {
    let mailbox = Mailbox::start().await;
    let app = spawn_with_mail(&mailbox).await;
    let user = app.user("creator").await;
    let second: Value = app.login(&user.email, &user.password).await.json().await.unwrap();

    assert_eq!(post(&app, "/api/v1/auth/password-reset", json!({ "email": user.email })).await.0, 202);
    let mail = mailbox.nth_to(&user.email, 2).await;
    assert_eq!(mail["subject"], "Reset your password");
    let (_, token) = link_of(&mail, "reset");
    let new_password = "a brand new passphrase";
    let reset = json!({ "token": token, "password": new_password });
    assert_eq!(post(&app, "/api/v1/auth/password-reset/complete", reset.clone()).await.0, 204);

    for (name, refresh) in
        [("first", user.refresh_token.as_str()), ("second", second["refresh_token"].as_str().unwrap())]
    {
        let (status, _) = post(&app, "/api/v1/auth/refresh", json!({ "refresh_token": refresh })).await;
        assert_eq!(status, 401, "the {name} session's refresh token is revoked");
    }
    for (name, access) in [("first", user.token.as_str()), ("second", second["access_token"].as_str().unwrap())] {
        assert_eq!(me(&app, access).await.0, 401, "the {name} session's access token is revoked");
    }
    assert_eq!(app.login(&user.email, &user.password).await.status(), 401, "the old password is refused");
    let signed_in = app.login(&user.email, new_password).await;
    assert_eq!(signed_in.status(), 200, "the new password signs in");
    let fresh: Value = signed_in.json().await.unwrap();
    assert_eq!(me(&app, fresh["access_token"].as_str().unwrap()).await.0, 200, "a new session works");

    let (status, again) = post(&app, "/api/v1/auth/password-reset/complete", reset).await;
    assert_eq!((status, again["code"].as_str()), (410, Some("email_link_used")), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_reset_link_is_refused_and_the_password_stays() {
    let mailbox = Mailbox::start().await;
    let app = spawn_with_mail(&mailbox).await;
    let user = app.user("creator").await;
    assert_eq!(post(&app, "/api/v1/auth/password-reset", json!({ "email": user.email })).await.0, 202);
    let (_, token) = link_of(&mailbox.nth_to(&user.email, 2).await, "reset");
    sqlx::query("UPDATE email_links SET expires_at = now() - interval '1 second' WHERE purpose = 'reset_password'")
        .execute(app.db())
        .await
        .unwrap();

    let reset = json!({ "token": token, "password": "a brand new passphrase" });
    let (status, refused) = post(&app, "/api/v1/auth/password-reset/complete", reset).await;
    assert_eq!((status, refused["code"].as_str()), (410, Some("email_link_expired")), "{refused}");
    assert_eq!(app.login(&user.email, &user.password).await.status(), 200, "the password is unchanged");
    assert_eq!(me(&app, &user.token).await.0, 200, "the session still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_a_reset_answers_alike_whether_or_not_the_address_has_an_account() {
    let mailbox = Mailbox::start().await;
    let app = spawn_with_mail(&mailbox).await;
    let user = app.user("creator").await;

    let ask = |email: String| {
        let request = app.http.post(app.url("/api/v1/auth/password-reset")).json(&json!({ "email": email }));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers().get("content-type").cloned();
            (status, content_type, response.bytes().await.unwrap())
        }
    };
    let unknown = ask("nobody-here@example.org".to_owned()).await;
    let known = ask(user.email.clone()).await;
    assert_eq!(unknown, known, "the answers are the same");
    assert_eq!(known.0, 202);

    mailbox.nth_to(&user.email, 2).await;
    assert!(mailbox.received().iter().all(|m| m["to"] == json!([user.email])), "nothing went to the unknown address");
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM email_links WHERE purpose = 'reset_password'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(links, 1, "one reset link, for the account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_is_sent_a_few_links_an_hour_and_its_long_expired_ones_are_forgotten() {
    let mailbox = Mailbox::start().await;
    let app = spawn_with_mail(&mailbox).await;
    let user = app.user("creator").await;
    for _ in 0..5 {
        let (status, _) = post(&app, "/api/v1/auth/verify-email/resend", json!({ "email": user.email })).await;
        assert_eq!(status, 202, "every request is answered alike");
    }
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM email_links WHERE user_id = $1")
        .bind(user.id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(links, 3, "registration's link and two more, then none this hour");
    mailbox.nth_to(&user.email, 3).await;

    // Links long past their expiry go when the account is next sent one.
    sqlx::query("UPDATE email_links SET expires_at = now() - interval '8 days' WHERE user_id = $1")
        .bind(user.id)
        .execute(app.db())
        .await
        .unwrap();
    assert_eq!(post(&app, "/api/v1/auth/password-reset", json!({ "email": user.email })).await.0, 202);
    let kept: Vec<String> = sqlx::query_scalar("SELECT purpose FROM email_links WHERE user_id = $1")
        .bind(user.id)
        .fetch_all(app.db())
        .await
        .unwrap();
    assert_eq!(kept, ["reset_password"], "only the new link is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_does_not_wait_for_a_mail_server_that_never_answers() {
    // Takes connections and never says a word: an SMTP server hung mid-outage.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            open.push(connection);
        }
    });
    let app = TestApp::spawn_with(&[("STREAMBOX_SMTP_URL", &url)]).await;
    // Well under the mailer's own timeouts: only a registration that does not wait passes.
    let registered = tokio::time::timeout(Duration::from_secs(5), app.user("creator")).await;
    let user = registered.expect("registration answered while the mail server hung");
    assert_eq!(me(&app, &user.token).await.1["email_verified"], false);
    held.abort();
}

/// Runs tests/browser/mailed_links.mjs with `args`; its report.
async fn browse(args: Vec<String>) -> Value {
    let report = crate::support::browser::run_script("mailed_links.mjs", &args).await;
    assert_eq!(report["errors"], json!([]), "{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_verifies_the_address_and_resets_the_password_from_the_mailed_links() {
    let mailbox = Mailbox::start().await;
    let app = spawn_with_mail(&mailbox).await;
    let user = app.user("creator").await;
    let (verify_link, _) = link_of(&mailbox.first_to(&user.email).await, "verify");

    let seen =
        browse(vec!["verify".into(), app.base.clone(), user.email.clone(), user.password.clone(), verify_link]).await;
    assert!(seen["noticeBefore"].as_str().unwrap().contains("Verify your email address to upload"), "{seen}");
    assert!(seen["verified"].as_str().unwrap().contains("is verified"), "{seen}");
    assert_eq!(seen["noticesAfter"], 0, "the Studio no longer asks: {seen}");
    assert!(seen["secondUse"].as_str().unwrap().contains("used already"), "{seen}");
    assert!(seen["resetAsked"].as_str().unwrap().contains("a link is on its way"), "{seen}");
    assert_eq!(me(&app, &user.token).await.1["email_verified"], true);

    let (reset_link, _) = link_of(&mailbox.nth_to(&user.email, 2).await, "reset");
    let new_password = "a passphrase chosen in the browser";
    let seen =
        browse(vec!["reset".into(), app.base.clone(), user.email.clone(), new_password.into(), reset_link]).await;
    assert_eq!(seen["signedIn"], true, "{seen}");
    assert_eq!(app.login(&user.email, &user.password).await.status(), 401, "the old password is refused");
    assert_eq!(me(&app, &user.token).await.0, 401, "the session from before the reset is revoked");
}
