//! Typed configuration, read once at start from the environment.
//!
//! Every setting has a default that works on a laptop (`streambox all`), except the
//! ones that only make sense in a deployment: those fail at start naming the variable.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::role::Role;

/// A value that must never reach logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value so that printing it shows only `[redacted]`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that uses it (signing, authenticating); never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where object storage is and the credentials for it (`S3_*`).
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `None` means: start the embedded S3 endpoint on a folder under the data dir.
    pub endpoint: Option<String>,
    /// Where clients reach storage, for presigned URLs (MinIO behind a proxy or on a
    /// container network); `None`: the endpoint above.
    pub public_endpoint: Option<String>,
    /// The one bucket every object is stored in; created at start when missing.
    pub bucket: String,
    /// Access key id; the embedded endpoint accepts exactly this one.
    pub access_key: String,
    /// The secret paired with `access_key`.
    pub secret_key: Secret,
    /// The region requests are signed for (default `us-east-1`).
    pub region: String,
}

/// How videos are encoded, and how transcode workers poll, heartbeat, retry and give up.
#[derive(Debug, Clone)]
pub struct TranscodeConfig {
    /// Jobs one worker process runs at once; ffmpeg already uses every core.
    pub concurrency: usize,
    /// Attempts before a transiently failing job is declared dead.
    pub max_attempts: u32,
    /// x264 preset (speed/quality trade-off).
    pub preset: String,
    /// HLS segment target in seconds.
    pub segment_seconds: u32,
    /// Seconds between keyframes; every rung shares it so players switch cleanly.
    pub gop_seconds: u32,
    /// A source at least twice this long is encoded in chunks of about this many
    /// seconds that any worker may take (`STREAMBOX_CHUNK_SECONDS`; 0: never chunked).
    pub chunk_seconds: u32,
    /// How often a worker tells Redis it is alive; a silent worker's jobs are re-queued
    /// after `heartbeat * missed_heartbeats`.
    pub heartbeat: Duration,
    /// Heartbeats a worker may miss before it counts as dead (see [`Self::orphan_after`]).
    pub missed_heartbeats: usize,
    /// How often idle workers look for new jobs.
    pub poll_interval: Duration,
    /// An ffmpeg that reports no progress for this long is killed (a transient failure).
    pub stall_timeout: Duration,
    /// Backoff before retry n is `retry_base * 2^(n-1)`, capped at `retry_max`, ±20% jitter.
    pub retry_base: Duration,
    /// The longest backoff between two attempts, however many came before.
    pub retry_max: Duration,
    /// How often the reconciler looks for jobs and videos nothing will move.
    pub reconcile_every: Duration,
    /// Whether this process runs a transcode worker (`all` and `transcoder` modes).
    pub run_worker: bool,
    /// The ladder as `(short side, video kbit/s)`, largest first.
    pub ladder: Vec<(u32, u32)>,
    /// The short side of the rung the downloadable MP4 is made of; a video without it
    /// gets its largest rung below, else its smallest.
    pub download_rung: u32,
    /// Integrated loudness the audio is normalised to, in LUFS (`None`: left as it is).
    pub loudness: Option<f64>,
    /// How segments are packaged (`STREAMBOX_SEGMENT_FORMAT`).
    pub segment_format: SegmentFormat,
    /// Sources over these limits fail permanently with a readable reason.
    pub max_duration: Duration,
    /// Largest width or height of the displayed picture, in pixels.
    pub max_dimension: u32,
    /// Highest native frame rate, in frames per second.
    pub max_frame_rate: f64,
}

impl TranscodeConfig {
    /// A worker silent this long is dead; its running job may be taken over.
    pub fn orphan_after(&self) -> Duration {
        self.heartbeat * self.missed_heartbeats as u32
    }
}

/// How HLS segments are packaged: MPEG-TS, or CMAF fragmented MP4 (one initialization
/// segment per rendition, named by `EXT-X-MAP`, and `.m4s` fragments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SegmentFormat {
    /// MPEG-TS (`seg_NNN.ts`), every segment carrying its own tables.
    #[default]
    Ts,
    /// CMAF fragmented MP4 (`seg_NNN.m4s` after an `init_{rendition}.mp4`).
    Fmp4,
}

impl FromStr for SegmentFormat {
    type Err = ConfigError;

    fn from_str(raw: &str) -> Result<Self, ConfigError> {
        match raw {
            "ts" => Ok(Self::Ts),
            "fmp4" => Ok(Self::Fmp4),
            _ => Err(invalid("STREAMBOX_SEGMENT_FORMAT", "must be ts (MPEG-TS) or fmp4 (CMAF fragmented MP4)")),
        }
    }
}

/// Every setting of a StreamBox process; built by [`Config::from_env`] and validated there.
#[derive(Debug, Clone)]
pub struct Config {
    /// Postgres connection URL (`DATABASE_URL`).
    pub database_url: String,
    /// Redis connection URL, for the transcode queue and view counts (`REDIS_URL`).
    pub redis_url: String,
    /// Object storage.
    pub s3: S3Config,
    /// Address the HTTP server listens on (`STREAMBOX_BIND`).
    pub bind: SocketAddr,
    /// Local folder for transcoder scratch files and, in `all` mode, the embedded
    /// endpoint's objects and the generated JWT secret.
    pub data_dir: PathBuf,
    /// Resolved at start: required in split mode, generated and kept in the data dir in `all` mode.
    pub jwt_secret: Option<Secret>,
    /// Whether a new video's segments are encrypted (AES-128) when its owner does not say
    /// (`STREAMBOX_ENCRYPTION=on|off`, default off).
    pub encrypt_by_default: bool,
    /// Seals each encrypted video's segment key at rest (`STREAMBOX_KEY_ENCRYPTION_KEY`,
    /// 64 hexadecimal characters). Resolved at start like the JWT secret: generated and kept
    /// in the data dir in `all` mode; in split mode the upload, transcoder and streamer
    /// services must share one, and encryption is unavailable without it.
    pub key_encryption_key: Option<Secret>,
    /// Lifetime of an access token (default 15 minutes).
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token and its cookie (default 30 days).
    pub refresh_token_ttl: Duration,
    /// Lifetime of the per-video tokens in playback URLs of unlisted and private videos.
    pub playback_token_ttl: Duration,
    /// Session cookies carry `Secure`; turn off only for plain-http local use.
    pub cookie_secure: bool,
    /// The role a new registration gets: `creator` (may upload) or `viewer`.
    pub default_role: Role,
    /// Whether the process applies pending database migrations before it starts work.
    pub migrate_on_start: bool,
    /// Redis queue name; tests give every run its own.
    pub queue_name: String,
    /// Largest upload accepted, in bytes (default 10 GiB); a larger one is refused.
    pub max_upload_bytes: u64,
    /// An incomplete resumable upload is discarded this long after it was created.
    pub upload_expiry: Duration,
    /// How often views counted in Redis are added to the database.
    pub view_flush: Duration,
    /// How often the popular feed's ranking is rebuilt.
    pub popular_refresh: Duration,
    /// Take the viewer's address from X-Forwarded-For (behind the gateway) rather
    /// than from the connection.
    pub trust_forwarded_for: bool,
    /// Accounts one address (IPv6: one /64) may register per hour; more get 429.
    pub registrations_per_hour: u32,
    /// Token-bucket rate limits per request class (`STREAMBOX_RATE_LIMIT_*`).
    pub rate_limits: RateLimits,
    /// Each user's default limits on uploading, storing and queueing (`STREAMBOX_QUOTA_*`).
    pub quotas: Quotas,
    /// Whether Prometheus metrics are recorded and served at `/metrics` (`STREAMBOX_METRICS`).
    pub metrics: bool,
    /// Where `/metrics` is served instead of the service's own port (`STREAMBOX_METRICS_BIND`).
    pub metrics_bind: Option<SocketAddr>,
    /// Encoding and the transcode workers.
    pub transcode: TranscodeConfig,
    /// How the streamer serves playlists and segments.
    pub stream: StreamConfig,
    /// Webhook deliveries and the event log.
    pub events: EventsConfig,
    /// Mail to account holders: verification and password-reset links.
    pub mail: MailConfig,
    /// Single sign-on through an OpenID provider; `None` (no `STREAMBOX_OIDC_ISSUER`): off.
    pub oidc: Option<OidcConfig>,
}

/// The OpenID provider people may sign in with (`STREAMBOX_OIDC_*`).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer identifier; its discovery document must name exactly this issuer.
    pub issuer: String,
    /// This application's client id at the provider.
    pub client_id: String,
    /// The client secret the provider gave out with the id.
    pub client_secret: Secret,
    /// The callback URL registered at the provider (`…/api/v1/auth/oidc/callback`).
    pub redirect_url: String,
    /// The provider's name on the sign-in button ("Google").
    pub name: String,
}

/// How StreamBox mails account holders (verification and password-reset links), and
/// whether an unverified address may upload.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://` or `smtps://` URL of the server mail is sent through, with any
    /// credentials in it (`STREAMBOX_SMTP_URL`); `None`: no mail is sent (in `all`
    /// mode each link is logged instead, for local use).
    pub smtp_url: Option<Secret>,
    /// The `From` of every mail (`STREAMBOX_MAIL_FROM`).
    pub from: String,
    /// Where people reach the web app, the base of every mailed link
    /// (`STREAMBOX_PUBLIC_URL`); `None`: `http://` and the address the server listens on.
    pub public_url: Option<String>,
    /// Whether an account must verify its address before it uploads
    /// (`STREAMBOX_REQUIRE_VERIFIED_EMAIL`; default: whether SMTP is configured).
    pub require_verified_email: bool,
    /// How long a verification link works (default 48 hours).
    pub verification_ttl: Duration,
    /// How long a password-reset link works (default 1 hour).
    pub reset_ttl: Duration,
}

/// Where events go and how hard StreamBox tries: webhook delivery, its retries and
/// outbound safety, and how long the event log is kept.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Whether this process sends webhook deliveries (`all`, `api` and `transcoder` modes).
    pub run_sender: bool,
    /// Deliveries one process sends at once.
    pub concurrency: usize,
    /// Backoff before retry n of a delivery is `retry_base * 2^(n-1)` (capped at an hour, ±20%).
    pub retry_base: Duration,
    /// A delivery is retried this long after its event, then given up and its endpoint
    /// marked failing.
    pub retry_window: Duration,
    /// Deliveries may go to loopback, private and link-local addresses (self-hosted
    /// receivers); off by default, so a webhook cannot reach inside the network.
    pub allow_private_targets: bool,
    /// Events, their deliveries and notifications older than this are pruned.
    pub retention: Duration,
}

/// How the streamer serves media: its cache, access checks, CORS and segment redirects.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// In-memory cache of hot playlists and segments, in bytes (0 turns it off).
    pub cache_bytes: u64,
    /// Objects larger than this are streamed from storage, never cached.
    pub cache_max_object: u64,
    /// How long what a video allows (ready? public?) is remembered; changes are also pushed.
    pub access_ttl: Duration,
    /// Origins allowed to fetch media from browsers (`*` for any).
    pub cors_origins: Vec<String>,
    /// Whether segment requests get the bytes or a redirect (`STREAMBOX_SEGMENT_REDIRECT`).
    pub segment_redirect: SegmentRedirect,
}

/// Where segment requests go.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentRedirect {
    /// The streamer serves the bytes.
    Off,
    /// 302 to a presigned object-storage URL valid this long.
    Presigned(Duration),
    /// 302 to this base URL (a CDN in front of the bucket) + the object key; public videos only.
    Base(String),
}

/// The rate limits of each request class, for each client address and each signed-in
/// account (and for everyone together on sign-in and registration).
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Whether limits apply at all (`STREAMBOX_RATE_LIMITS`).
    pub enabled: bool,
    /// Sign-in and registration.
    pub auth: Rate,
    /// Sign-in and registration of everyone together (their password hashing is costly).
    pub auth_everyone: Rate,
    /// Uploads: multipart, tus (each PATCH), presigned.
    pub upload: Rate,
    /// Comments, likes and follows (writes).
    pub social: Rate,
    /// Reported views.
    pub view: Rate,
    /// Search.
    pub search: Rate,
    /// Playlists, segments, posters and storyboards: wide, against floods only.
    pub media: Rate,
    /// The rest of the API.
    pub api: Rate,
}

/// Per-user limits, `None` where unlimited (written `-1`). An admin may override each
/// for one user; admins themselves are unlimited unless overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Bytes a user may upload in any 24 hours, deleted videos included.
    pub upload_bytes_per_day: Option<u64>,
    /// Bytes of source files a user may keep (their videos and uploads in progress).
    pub stored_bytes: Option<u64>,
    /// Videos a user may have uploading, waiting or transcoding at once.
    pub queued_videos: Option<u32>,
}

/// A quota setting: a number, or `-1` for unlimited.
struct Limit<T>(Option<T>);

impl<T: FromStr> FromStr for Limit<T>
where
    T::Err: fmt::Display,
{
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim() {
            "-1" => Ok(Self(None)),
            n => n.parse().map(|n| Self(Some(n))).map_err(|e| format!("{e} (a number, or -1 for unlimited)")),
        }
    }
}

/// A token bucket: `capacity` requests at once, refilled at `capacity` per `period`.
/// Written `N/s`, `N/min` or `N/h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// The most requests at once, and how many the period refills.
    pub capacity: u32,
    /// How long a refill of the whole bucket takes.
    pub period: Duration,
}

impl Rate {
    /// Tokens refilled per millisecond.
    pub fn per_ms(&self) -> f64 {
        f64::from(self.capacity) / self.period.as_secs_f64() / 1000.0
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (count, unit) = raw.trim().split_once('/').ok_or("expected N/s, N/min or N/h")?;
        let capacity: u32 = count.trim().parse().map_err(|e| format!("{count:?}: {e}"))?;
        let period = match unit.trim() {
            "s" => Duration::from_secs(1),
            "min" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            other => return Err(format!("unknown period {other:?}: use s, min or h")),
        };
        if capacity == 0 {
            return Err("a rate must allow at least one request".into());
        }
        Ok(Self { capacity, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.capacity, self.period.as_secs())
    }
}

/// A setting is invalid or missing: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {problem}")]
pub struct ConfigError {
    /// The environment variable to fix, e.g. `STREAMBOX_BIND`.
    pub name: &'static str,
    /// What is wrong with its value, for the operator.
    pub problem: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads settings from a map of variables, applying defaults.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Vars(vars);
        Self {
            database_url: env.string("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/streambox"),
            redis_url: env.string("REDIS_URL", "redis://127.0.0.1:6379"),
            s3: S3Config {
                endpoint: env.optional("S3_ENDPOINT"),
                public_endpoint: env.optional("S3_PUBLIC_ENDPOINT"),
                bucket: env.string("S3_BUCKET", "streambox"),
                access_key: env.string("S3_ACCESS_KEY", "streambox"),
                secret_key: Secret::new(env.string("S3_SECRET_KEY", "streambox-local-secret")),
                region: env.string("S3_REGION", "us-east-1"),
            },
            bind: env.parse("STREAMBOX_BIND", "127.0.0.1:8080")?,
            data_dir: PathBuf::from(env.string("STREAMBOX_DATA_DIR", "./data")),
            jwt_secret: env.optional("STREAMBOX_JWT_SECRET").map(Secret::new),
            encrypt_by_default: match env.string("STREAMBOX_ENCRYPTION", "off").as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(invalid("STREAMBOX_ENCRYPTION", "must be on or off")),
            },
            key_encryption_key: env.optional("STREAMBOX_KEY_ENCRYPTION_KEY").map(Secret::new),
            access_token_ttl: Duration::from_secs(env.parse("STREAMBOX_ACCESS_TOKEN_TTL_SECS", "900")?),
            refresh_token_ttl: Duration::from_secs(env.parse("STREAMBOX_REFRESH_TOKEN_TTL_SECS", "2592000")?),
            playback_token_ttl: Duration::from_secs(env.parse("STREAMBOX_PLAYBACK_TOKEN_TTL_SECS", "3600")?),
            cookie_secure: env.parse("STREAMBOX_COOKIE_SECURE", "true")?,
            default_role: env.parse("STREAMBOX_DEFAULT_ROLE", "creator")?,
            migrate_on_start: env.parse("STREAMBOX_MIGRATE", "true")?,
            queue_name: env.string("STREAMBOX_QUEUE", "streambox:transcode"),
            max_upload_bytes: env.parse("STREAMBOX_MAX_UPLOAD_BYTES", "10737418240")?,
            upload_expiry: env.seconds("STREAMBOX_UPLOAD_EXPIRY_SECS", "86400")?,
            view_flush: env.seconds("STREAMBOX_VIEW_FLUSH_SECS", "10")?,
            popular_refresh: env.seconds("STREAMBOX_POPULAR_REFRESH_SECS", "300")?,
            trust_forwarded_for: env.parse("STREAMBOX_TRUST_FORWARDED_FOR", "false")?,
            registrations_per_hour: env.parse("STREAMBOX_REGISTRATIONS_PER_HOUR", "10")?,
            rate_limits: RateLimits {
                enabled: env.parse("STREAMBOX_RATE_LIMITS", "true")?,
                auth: env.parse("STREAMBOX_RATE_LIMIT_AUTH", "30/min")?,
                auth_everyone: env.parse("STREAMBOX_RATE_LIMIT_AUTH_EVERYONE", "50/s")?,
                upload: env.parse("STREAMBOX_RATE_LIMIT_UPLOAD", "600/min")?,
                social: env.parse("STREAMBOX_RATE_LIMIT_SOCIAL", "60/min")?,
                view: env.parse("STREAMBOX_RATE_LIMIT_VIEW", "120/min")?,
                search: env.parse("STREAMBOX_RATE_LIMIT_SEARCH", "60/min")?,
                media: env.parse("STREAMBOX_RATE_LIMIT_MEDIA", "6000/min")?,
                api: env.parse("STREAMBOX_RATE_LIMIT_API", "1200/min")?,
            },
            quotas: Quotas {
                upload_bytes_per_day: env.parse::<Limit<u64>>("STREAMBOX_QUOTA_UPLOAD_BYTES_PER_DAY", "53687091200")?.0,
                stored_bytes: env.parse::<Limit<u64>>("STREAMBOX_QUOTA_STORED_BYTES", "536870912000")?.0,
                queued_videos: env.parse::<Limit<u32>>("STREAMBOX_QUOTA_QUEUED_VIDEOS", "20")?.0,
            },
            metrics: env.parse("STREAMBOX_METRICS", "true")?,
            metrics_bind: env
                .optional("STREAMBOX_METRICS_BIND")
                .map(|raw| raw.parse().map_err(|e| invalid("STREAMBOX_METRICS_BIND", &format!("{raw:?}: {e}"))))
                .transpose()?,
            stream: StreamConfig {
                cache_bytes: env.parse("STREAMBOX_STREAM_CACHE_BYTES", "268435456")?,
                cache_max_object: env.parse("STREAMBOX_STREAM_CACHE_MAX_OBJECT_BYTES", "16777216")?,
                access_ttl: env.seconds("STREAMBOX_STREAM_ACCESS_TTL_SECS", "5")?,
                cors_origins: env
                    .string("STREAMBOX_CORS_ORIGINS", "*")
                    .split(',')
                    .map(|o| o.trim().to_owned())
                    .collect(),
                segment_redirect: match env.string("STREAMBOX_SEGMENT_REDIRECT", "off").as_str() {
                    "off" => SegmentRedirect::Off,
                    "presigned" => SegmentRedirect::Presigned(Duration::from_secs(3600)),
                    base if base.starts_with("https://") || base.starts_with("http://") => {
                        SegmentRedirect::Base(base.trim_end_matches('/').to_owned())
                    }
                    _ => return Err(invalid("STREAMBOX_SEGMENT_REDIRECT", "must be off, presigned, or a base URL")),
                },
            },
            events: EventsConfig {
                run_sender: env.parse("STREAMBOX_RUN_WEBHOOK_SENDER", "true")?,
                concurrency: env.parse("STREAMBOX_WEBHOOK_CONCURRENCY", "16")?,
                retry_base: env.seconds("STREAMBOX_WEBHOOK_RETRY_BASE_SECS", "10")?,
                retry_window: env.seconds("STREAMBOX_WEBHOOK_RETRY_WINDOW_SECS", "86400")?,
                allow_private_targets: env.parse("STREAMBOX_WEBHOOK_ALLOW_PRIVATE", "false")?,
                retention: Duration::from_secs(env.parse::<u64>("STREAMBOX_EVENT_RETENTION_DAYS", "30")? * 86400),
            },
            mail: {
                let smtp_url = env.optional("STREAMBOX_SMTP_URL").map(Secret::new);
                let required_by_default = if smtp_url.is_some() { "true" } else { "false" };
                MailConfig {
                    require_verified_email: env.parse("STREAMBOX_REQUIRE_VERIFIED_EMAIL", required_by_default)?,
                    smtp_url,
                    from: env.string("STREAMBOX_MAIL_FROM", "StreamBox <streambox@localhost>"),
                    public_url: env.optional("STREAMBOX_PUBLIC_URL").map(|url| url.trim_end_matches('/').to_owned()),
                    verification_ttl: env.seconds("STREAMBOX_EMAIL_VERIFICATION_TTL_SECS", "172800")?,
                    reset_ttl: env.seconds("STREAMBOX_PASSWORD_RESET_TTL_SECS", "3600")?,
                }
            },
            oidc: oidc(&env)?,
            transcode: TranscodeConfig {
                concurrency: env.parse("STREAMBOX_TRANSCODE_CONCURRENCY", "1")?,
                max_attempts: env.parse("STREAMBOX_MAX_ATTEMPTS", "3")?,
                preset: env.string("STREAMBOX_X264_PRESET", "veryfast"),
                segment_seconds: env.parse("STREAMBOX_SEGMENT_SECONDS", "6")?,
                gop_seconds: env.parse("STREAMBOX_GOP_SECONDS", "2")?,
                chunk_seconds: env.parse("STREAMBOX_CHUNK_SECONDS", "60")?,
                heartbeat: env.seconds("STREAMBOX_WORKER_HEARTBEAT_SECS", "5")?,
                missed_heartbeats: env.parse("STREAMBOX_WORKER_MISSED_HEARTBEATS", "3")?,
                poll_interval: Duration::from_millis(env.parse("STREAMBOX_POLL_INTERVAL_MS", "500")?),
                stall_timeout: env.seconds("STREAMBOX_FFMPEG_STALL_SECS", "120")?,
                retry_base: env.seconds("STREAMBOX_RETRY_BASE_SECS", "10")?,
                retry_max: env.seconds("STREAMBOX_RETRY_MAX_SECS", "600")?,
                reconcile_every: env.seconds("STREAMBOX_RECONCILE_SECS", "60")?,
                run_worker: env.parse("STREAMBOX_RUN_WORKER", "true")?,
                ladder: parse_ladder(&env.string("STREAMBOX_LADDER", DEFAULT_LADDER))?,
                loudness: parse_loudness(&env.string("STREAMBOX_LOUDNESS", "-16"))?,
                segment_format: env.string("STREAMBOX_SEGMENT_FORMAT", "ts").parse()?,
                download_rung: env.parse("STREAMBOX_DOWNLOAD_RUNG", "720")?,
                max_duration: env.seconds("STREAMBOX_MAX_DURATION_SECS", "21600")?,
                max_dimension: env.parse("STREAMBOX_MAX_DIMENSION", "7680")?,
                max_frame_rate: env.parse("STREAMBOX_MAX_FRAME_RATE", "120")?,
            },
        }
        .validated()
    }

    fn validated(self) -> Result<Self, ConfigError> {
        let t = &self.transcode;
        if t.concurrency == 0 {
            return Err(invalid("STREAMBOX_TRANSCODE_CONCURRENCY", "must be at least 1"));
        }
        // apalis-redis keeps worker liveness in whole seconds: below one, workers never fetch.
        if t.heartbeat < Duration::from_secs(1) || t.heartbeat.subsec_nanos() != 0 {
            return Err(invalid("STREAMBOX_WORKER_HEARTBEAT_SECS", "must be a whole number of seconds, at least 1"));
        }
        if self.events.concurrency == 0 {
            return Err(invalid("STREAMBOX_WEBHOOK_CONCURRENCY", "must be at least 1"));
        }
        if self.events.retention.is_zero() {
            return Err(invalid("STREAMBOX_EVENT_RETENTION_DAYS", "must be at least 1"));
        }
        if t.download_rung == 0 {
            return Err(invalid("STREAMBOX_DOWNLOAD_RUNG", "must be a rung's short side in pixels, like 720"));
        }
        if t.max_attempts == 0 {
            return Err(invalid("STREAMBOX_MAX_ATTEMPTS", "must be at least 1"));
        }
        if t.gop_seconds == 0 || !t.segment_seconds.is_multiple_of(t.gop_seconds) {
            return Err(invalid(
                "STREAMBOX_SEGMENT_SECONDS",
                "must be a positive multiple of STREAMBOX_GOP_SECONDS so segments start on keyframes",
            ));
        }
        if !t.chunk_seconds.is_multiple_of(t.segment_seconds.max(1)) {
            return Err(invalid(
                "STREAMBOX_CHUNK_SECONDS",
                "must be 0 (no chunking) or a multiple of STREAMBOX_SEGMENT_SECONDS so chunks end on segment boundaries",
            ));
        }
        // A chunked video's parts would each write their own initialization segment and
        // restart their fragments' numbering; stitching them is not done for fMP4.
        if t.segment_format == SegmentFormat::Fmp4 && t.chunk_seconds != 0 {
            return Err(invalid(
                "STREAMBOX_SEGMENT_FORMAT",
                "fmp4 cannot be used with chunked encoding: set STREAMBOX_CHUNK_SECONDS=0 with it",
            ));
        }
        if !matches!(
            t.preset.as_str(),
            "ultrafast" | "superfast" | "veryfast" | "faster" | "fast" | "medium" | "slow" | "slower" | "veryslow"
        ) {
            return Err(invalid("STREAMBOX_X264_PRESET", "is not an x264 preset"));
        }
        if self.default_role == Role::Admin {
            return Err(invalid(
                "STREAMBOX_DEFAULT_ROLE",
                "must be creator or viewer; create admins with `streambox user create --admin`",
            ));
        }
        if self
            .mail
            .smtp_url
            .as_ref()
            .is_some_and(|url| !(url.expose().starts_with("smtp://") || url.expose().starts_with("smtps://")))
        {
            return Err(invalid("STREAMBOX_SMTP_URL", "must be an smtp:// or smtps:// URL"));
        }
        if self.mail.public_url.as_ref().is_some_and(|url| !(url.starts_with("https://") || url.starts_with("http://")))
        {
            return Err(invalid("STREAMBOX_PUBLIC_URL", "must be an http:// or https:// URL"));
        }
        if !self.mail.from.contains('@') {
            return Err(invalid(
                "STREAMBOX_MAIL_FROM",
                "must be an address, `Name <name@example.org>` or `name@example.org`",
            ));
        }
        if self.jwt_secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
            return Err(invalid("STREAMBOX_JWT_SECRET", "must be at least 32 characters"));
        }
        if self.key_encryption_key.as_ref().is_some_and(|k| !is_key_encryption_key(k.expose())) {
            return Err(invalid(
                "STREAMBOX_KEY_ENCRYPTION_KEY",
                "must be 64 hexadecimal characters (32 random bytes: `openssl rand -hex 32`)",
            ));
        }
        Ok(self)
    }

    /// Split-mode services that encrypt by default must share a configured key-encryption key.
    pub fn require_key_encryption_key(&self) -> Result<Option<&Secret>, ConfigError> {
        match (&self.key_encryption_key, self.encrypt_by_default) {
            (None, true) => Err(invalid(
                "STREAMBOX_KEY_ENCRYPTION_KEY",
                "is required with STREAMBOX_ENCRYPTION=on when services run separately",
            )),
            (key, _) => Ok(key.as_ref()),
        }
    }

    /// Split-mode services share tokens, so they must share a configured secret.
    pub fn require_jwt_secret(&self) -> Result<&Secret, ConfigError> {
        self.jwt_secret
            .as_ref()
            .ok_or_else(|| invalid("STREAMBOX_JWT_SECRET", "is required when services run separately"))
    }
}

/// Single sign-on is on when an issuer is set; then the client's id, secret and
/// callback are required too.
fn oidc(env: &Vars) -> Result<Option<OidcConfig>, ConfigError> {
    let Some(issuer) = env.optional("STREAMBOX_OIDC_ISSUER") else {
        return match ["STREAMBOX_OIDC_CLIENT_ID", "STREAMBOX_OIDC_CLIENT_SECRET", "STREAMBOX_OIDC_REDIRECT_URL"]
            .into_iter()
            .find(|name| env.optional(name).is_some())
        {
            Some(name) => {
                Err(ConfigError { name: "STREAMBOX_OIDC_ISSUER", problem: format!("is required when {name} is set") })
            }
            None => Ok(None),
        };
    };
    let required = |name: &'static str| {
        env.optional(name).ok_or_else(|| invalid(name, "is required when STREAMBOX_OIDC_ISSUER is set"))
    };
    let config = OidcConfig {
        issuer: web_url("STREAMBOX_OIDC_ISSUER", &issuer)?,
        client_id: required("STREAMBOX_OIDC_CLIENT_ID")?,
        client_secret: Secret::new(required("STREAMBOX_OIDC_CLIENT_SECRET")?),
        redirect_url: web_url("STREAMBOX_OIDC_REDIRECT_URL", &required("STREAMBOX_OIDC_REDIRECT_URL")?)?,
        name: env.string("STREAMBOX_OIDC_NAME", "single sign-on"),
    };
    if config.name.chars().count() > 40 {
        return Err(invalid("STREAMBOX_OIDC_NAME", "must be at most 40 characters"));
    }
    Ok(Some(config))
}

/// An absolute URL with no fragment: `https`, or plain `http` to this machine only
/// (tokens and codes never cross a network in the clear).
fn web_url(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(raw).map_err(|e| ConfigError { name, problem: format!("{raw:?} is not a URL: {e}") })?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    if !(url.scheme() == "https" || url.scheme() == "http" && loopback) {
        return Err(invalid(name, "must be an https URL (plain http only to 127.0.0.1, ::1 or localhost)"));
    }
    if url.fragment().is_some() || url.host_str().is_none() {
        return Err(invalid(name, "must be an absolute URL with a host and no #fragment"));
    }
    Ok(raw.to_owned())
}

/// `"-16"` (LUFS, from -70 to -5) or `"off"`.
fn parse_loudness(raw: &str) -> Result<Option<f64>, ConfigError> {
    if raw == "off" {
        return Ok(None);
    }
    match raw.parse::<f64>() {
        Ok(lufs) if (-70.0..=-5.0).contains(&lufs) => Ok(Some(lufs)),
        _ => Err(invalid("STREAMBOX_LOUDNESS", "must be a loudness in LUFS from -70 to -5, or off")),
    }
}

/// The default ladder: down to a 240p rung whose video and low-rate audio together stay
/// under 192 kbit/s (Apple's HLS authoring spec, 9.21).
const DEFAULT_LADDER: &str = "1080:5000,720:2800,480:1400,360:700,240:80";

/// `"1080:5000,720:2800,480:1400"`: short side in pixels and video kbit/s per rung.
fn parse_ladder(raw: &str) -> Result<Vec<(u32, u32)>, ConfigError> {
    let bad =
        || invalid("STREAMBOX_LADDER", "must look like 1080:5000,720:2800,480:1400 (short side:kbit/s, largest first)");
    let mut ladder = Vec::new();
    for rung in raw.split(',') {
        let (side, kbps) = rung.trim().split_once(':').ok_or_else(bad)?;
        let (side, kbps): (u32, u32) = (side.parse().map_err(|_| bad())?, kbps.parse().map_err(|_| bad())?);
        if side < 144 || side % 2 != 0 || kbps < 50 {
            return Err(bad());
        }
        ladder.push((side, kbps));
    }
    if ladder.is_empty() || ladder.windows(2).any(|w| w[0].0 <= w[1].0) {
        return Err(bad());
    }
    Ok(ladder)
}

fn invalid(name: &'static str, problem: &str) -> ConfigError {
    ConfigError { name, problem: problem.to_owned() }
}

/// 32 bytes as hexadecimal: an AES-256 key.
fn is_key_encryption_key(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

struct Vars<'a>(&'a HashMap<String, String>);

impl Vars<'_> {
    fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    /// A duration in (possibly fractional) seconds.
    fn seconds(&self, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let seconds: f64 = self.parse(name, default)?;
        Duration::try_from_secs_f64(seconds).ok().filter(|d| !d.is_zero()).ok_or_else(|| ConfigError {
            name,
            problem: format!("must be a positive number of seconds, not {seconds}"),
        })
    }

    fn parse<T: FromStr>(&self, name: &'static str, default: &str) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        let raw = self.string(name, default);
        raw.parse().map_err(|e| ConfigError { name, problem: format!("cannot parse {raw:?}: {e}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_run_everything_locally() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert!(config.s3.endpoint.is_none());
        assert_eq!(config.transcode.max_attempts, 3);
        assert!(config.require_jwt_secret().is_err());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = Config::from_vars(&vars(&[("STREAMBOX_BIND", "nowhere")])).unwrap_err();
        assert_eq!(err.name, "STREAMBOX_BIND");
        let err = Config::from_vars(&vars(&[("STREAMBOX_JWT_SECRET", "short")])).unwrap_err();
        assert_eq!(err.name, "STREAMBOX_JWT_SECRET");
        let err = Config::from_vars(&vars(&[("STREAMBOX_WORKER_HEARTBEAT_SECS", "0.5")])).unwrap_err();
        assert_eq!(err.name, "STREAMBOX_WORKER_HEARTBEAT_SECS");
    }

    #[test]
    fn encryption_is_off_by_default_and_its_key_is_checked_but_never_shown() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert!(!config.encrypt_by_default && config.key_encryption_key.is_none());
        assert!(config.require_key_encryption_key().unwrap().is_none());
        let on = Config::from_vars(&vars(&[("STREAMBOX_ENCRYPTION", "on")])).unwrap();
        assert_eq!(on.require_key_encryption_key().unwrap_err().name, "STREAMBOX_KEY_ENCRYPTION_KEY");
        let err = Config::from_vars(&vars(&[("STREAMBOX_ENCRYPTION", "yes")])).unwrap_err();
        assert_eq!(err.name, "STREAMBOX_ENCRYPTION");
        let short = "0123456789abcdef";
        let err = Config::from_vars(&vars(&[("STREAMBOX_KEY_ENCRYPTION_KEY", short)])).unwrap_err();
        assert_eq!(err.name, "STREAMBOX_KEY_ENCRYPTION_KEY");
        assert!(!err.problem.contains(short), "the value is not repeated: {}", err.problem);
        let key = "ab".repeat(32);
        let config = Config::from_vars(&vars(&[("STREAMBOX_KEY_ENCRYPTION_KEY", &key)])).unwrap();
        assert!(!format!("{config:?}").contains(&key), "Debug output hides the key");
    }

    #[test]
    fn the_download_rung_defaults_to_720_and_is_checked() {
        assert_eq!(Config::from_vars(&vars(&[])).unwrap().transcode.download_rung, 720);
        let config = Config::from_vars(&vars(&[("STREAMBOX_DOWNLOAD_RUNG", "480")])).unwrap();
        assert_eq!(config.transcode.download_rung, 480);
        for bad in ["0", "-1", "720p"] {
            let err = Config::from_vars(&vars(&[("STREAMBOX_DOWNLOAD_RUNG", bad)])).unwrap_err();
            assert_eq!(err.name, "STREAMBOX_DOWNLOAD_RUNG", "{bad:?}");
        }
    }

    #[test]
    fn the_ladder_is_configurable_and_checked() {
        let config = Config::from_vars(&vars(&[("STREAMBOX_LADDER", "720:3000, 360:800")])).unwrap();
        assert_eq!(config.transcode.ladder, [(720, 3000), (360, 800)]);
        for bad in ["720", "360:800,720:3000", "721:3000", "720:x"] {
            let err = Config::from_vars(&vars(&[("STREAMBOX_LADDER", bad)])).unwrap_err();
            assert_eq!(err.name, "STREAMBOX_LADDER", "{bad:?}");
        }
    }

    #[test]
    fn the_segment_format_is_ts_or_fmp4_and_fmp4_is_never_chunked() {
        assert_eq!(Config::from_vars(&vars(&[])).unwrap().transcode.segment_format, SegmentFormat::Ts);
        let fmp4 = [("STREAMBOX_SEGMENT_FORMAT", "fmp4"), ("STREAMBOX_CHUNK_SECONDS", "0")];
        assert_eq!(Config::from_vars(&vars(&fmp4)).unwrap().transcode.segment_format, SegmentFormat::Fmp4);
        for bad in ["mp4", "TS", "cmaf"] {
            let err = Config::from_vars(&vars(&[("STREAMBOX_SEGMENT_FORMAT", bad)])).unwrap_err();
            assert_eq!(err.name, "STREAMBOX_SEGMENT_FORMAT", "{bad:?}");
        }
        let err = Config::from_vars(&vars(&[("STREAMBOX_SEGMENT_FORMAT", "fmp4")])).unwrap_err();
        assert_eq!(err.name, "STREAMBOX_SEGMENT_FORMAT", "chunking is on by default");
        assert!(err.problem.contains("STREAMBOX_CHUNK_SECONDS=0"), "{}", err.problem);
    }

    #[test]
    fn loudness_is_a_target_or_off() {
        assert_eq!(Config::from_vars(&vars(&[])).unwrap().transcode.loudness, Some(-16.0));
        let config = Config::from_vars(&vars(&[("STREAMBOX_LOUDNESS", "off")])).unwrap();
        assert_eq!(config.transcode.loudness, None);
        for bad in ["0", "-80", "loud"] {
            let err = Config::from_vars(&vars(&[("STREAMBOX_LOUDNESS", bad)])).unwrap_err();
            assert_eq!(err.name, "STREAMBOX_LOUDNESS", "{bad:?}");
        }
    }

    #[test]
    fn quotas_are_numbers_or_unlimited() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.quotas.queued_videos, Some(20));
        let config = Config::from_vars(&vars(&[
            ("STREAMBOX_QUOTA_STORED_BYTES", "-1"),
            ("STREAMBOX_QUOTA_UPLOAD_BYTES_PER_DAY", "1000"),
        ]))
        .unwrap();
        assert_eq!(config.quotas.stored_bytes, None);
        assert_eq!(config.quotas.upload_bytes_per_day, Some(1000));
        let err = Config::from_vars(&vars(&[("STREAMBOX_QUOTA_QUEUED_VIDEOS", "-2")])).unwrap_err();
        assert_eq!(err.name, "STREAMBOX_QUOTA_QUEUED_VIDEOS");
    }

    #[test]
    fn verified_email_is_required_by_default_only_when_mail_can_be_sent() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert!(!config.mail.require_verified_email);
        let config = Config::from_vars(&vars(&[("STREAMBOX_SMTP_URL", "smtp://127.0.0.1:25")])).unwrap();
        assert!(config.mail.require_verified_email);
        let config = Config::from_vars(&vars(&[
            ("STREAMBOX_SMTP_URL", "smtp://127.0.0.1:25"),
            ("STREAMBOX_REQUIRE_VERIFIED_EMAIL", "false"),
        ]))
        .unwrap();
        assert!(!config.mail.require_verified_email);
        for (name, bad) in [
            ("STREAMBOX_SMTP_URL", "mail.example.org"),
            ("STREAMBOX_PUBLIC_URL", "example.org"),
            ("STREAMBOX_MAIL_FROM", "nobody"),
            ("STREAMBOX_REQUIRE_VERIFIED_EMAIL", "sometimes"),
            ("STREAMBOX_PASSWORD_RESET_TTL_SECS", "0"),
        ] {
            assert_eq!(Config::from_vars(&vars(&[(name, bad)])).unwrap_err().name, name, "{bad:?}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let config = Config::from_vars(&vars(&[
            ("S3_SECRET_KEY", "hunter2-hunter2"),
            ("STREAMBOX_SMTP_URL", "smtps://mailer:hunter3-hunter3@mail.example.org"),
            ("STREAMBOX_OIDC_ISSUER", "https://accounts.google.com"),
            ("STREAMBOX_OIDC_CLIENT_ID", "client"),
            ("STREAMBOX_OIDC_CLIENT_SECRET", "oidc-hunter3"),
            ("STREAMBOX_OIDC_REDIRECT_URL", "https://videos.example/api/v1/auth/oidc/callback"),
        ]))
        .unwrap();
        assert!(config.oidc.is_some());
        assert!(!format!("{config:?}").contains("hunter"));
    }

    #[test]
    fn single_sign_on_is_off_unless_an_issuer_is_set_and_then_needs_its_client() {
        assert!(Config::from_vars(&vars(&[])).unwrap().oidc.is_none());
        let err = Config::from_vars(&vars(&[("STREAMBOX_OIDC_CLIENT_ID", "client")])).unwrap_err();
        assert_eq!(err.name, "STREAMBOX_OIDC_ISSUER");
        let issuer = ("STREAMBOX_OIDC_ISSUER", "https://accounts.google.com");
        let err = Config::from_vars(&vars(&[issuer])).unwrap_err();
        assert_eq!(err.name, "STREAMBOX_OIDC_CLIENT_ID");
        let complete = [
            issuer,
            ("STREAMBOX_OIDC_CLIENT_ID", "client"),
            ("STREAMBOX_OIDC_CLIENT_SECRET", "secret"),
            ("STREAMBOX_OIDC_REDIRECT_URL", "https://videos.example/api/v1/auth/oidc/callback"),
        ];
        for (name, bad) in [
            ("STREAMBOX_OIDC_ISSUER", "http://accounts.example"),
            ("STREAMBOX_OIDC_ISSUER", "not a url"),
            ("STREAMBOX_OIDC_REDIRECT_URL", "https://videos.example/callback#here"),
        ] {
            let mut settings = vars(&complete);
            settings.insert(name.to_owned(), bad.to_owned());
            assert_eq!(Config::from_vars(&settings).unwrap_err().name, name, "{bad:?}");
        }
        let mut local = vars(&complete);
        local.insert("STREAMBOX_OIDC_ISSUER".into(), "http://127.0.0.1:9000".into());
        assert_eq!(Config::from_vars(&local).unwrap().oidc.unwrap().issuer, "http://127.0.0.1:9000");
    }
}
