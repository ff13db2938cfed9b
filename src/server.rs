//! Starting services: dependencies, state, routes, the worker, and shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use axum::{Extension, Router, middleware};
use streambox_api::mail::Outbox;
use streambox_base::Config;
use streambox_base::config::Secret;
use streambox_base::metrics::Metrics;
use streambox_core::{App, Core};
use streambox_http::routes::Routes;
use streambox_http::tokens::TokenKeys;
use streambox_http::{AppState, health, metrics};
use streambox_queue::JobQueue;
use streambox_storage::ObjectStore;
use streambox_storage::embedded_s3;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::hardening::Hardening;
use crate::{edge, listener, openapi, rate_limit, request_id};

/// Which services this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Every service in one process on one port, with the dev frontend.
    All,
    Api,
    Upload,
    Transcoder,
    Streamer,
}

/// A started process: where it listens, and its tasks to await.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    tasks: JoinSet<anyhow::Result<()>>,
    shutdown: CancellationToken,
}

impl Running {
    /// Waits until every task has stopped, returning the first error. Tasks run until
    /// shutdown: one that stops before it shuts the others down, so the process exits
    /// (and its supervisor restarts it) rather than serving without it.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let outcome = joined.context("a service task panicked").and_then(|r| r);
            let early = !self.shutdown.is_cancelled();
            let outcome = match outcome {
                Ok(()) if early => Err(anyhow::anyhow!("a service task stopped before shutdown")),
                other => other,
            };
            if let (true, Err(e)) = (early, &outcome) {
                tracing::error!(error = %format!("{e:#}"), "a service stopped; stopping the others");
                self.shutdown.cancel();
            }
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

pub async fn start(mut config: Config, mode: Mode, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let endpoint = match (&config.s3.endpoint, mode) {
        (Some(endpoint), _) => endpoint.clone(),
        (None, Mode::All) => embedded_s3::start(&config.data_dir.join("objects"), &config.s3, shutdown.clone()).await?,
        (None, _) => anyhow::bail!("configuration: S3_ENDPOINT is required when services run separately"),
    };
    let secret = match mode {
        Mode::All => local_jwt_secret(&config).await?,
        _ => config.require_jwt_secret()?.clone(),
    };
    config.key_encryption_key = match mode {
        Mode::All => Some(local_key_encryption_key(&config).await?),
        _ => config.require_key_encryption_key()?.cloned(),
    };

    let pool = streambox_db::connect(&config.database_url).await?;
    if config.migrate_on_start {
        streambox_db::migrate(&pool).await?;
    }
    let storage = ObjectStore::new(&config.s3, &endpoint);
    // Object storage may be briefly away at start: run anyway, /readyz reports it and
    // jobs that need it retry. Only the embedded endpoint must work at once.
    if let Err(e) = storage.ensure_bucket().await {
        anyhow::ensure!(config.s3.endpoint.is_some(), "embedded object storage: {e:#}");
        tracing::warn!(error = %format!("{e:#}"), "object storage (S3_ENDPOINT) is unreachable; continuing");
    }
    let queue = JobQueue::connect(&config).await?;
    let tokens = TokenKeys::new(&secret, config.access_token_ttl);
    let metrics = Metrics::new(config.metrics);
    let core = Core(Arc::new(App { config, db: pool, storage, queue, worker: Default::default(), metrics }));
    let state = AppState { core, tokens: Arc::new(tokens) };

    let mut tasks = JoinSet::new();
    if matches!(mode, Mode::All | Mode::Transcoder) && state.config.transcode.run_worker {
        tasks.spawn(streambox_transcoder::run(state.core.clone(), shutdown.clone()));
    }
    if matches!(mode, Mode::All | Mode::Api) {
        tasks.spawn(streambox_api::view_counter::run(state.clone(), shutdown.clone()));
        tasks.spawn(streambox_api::playback_beats::run(state.clone(), shutdown.clone()));
    }
    if matches!(mode, Mode::All | Mode::Api | Mode::Transcoder) && state.config.events.run_sender {
        tasks.spawn(streambox_events::run(state.core.clone(), shutdown.clone()));
    }
    let listener =
        TcpListener::bind(state.config.bind).await.with_context(|| format!("binding {}", state.config.bind))?;
    let addr = listener.local_addr()?;
    // The API document describes everything a process running all services serves.
    let document = openapi::Document::of(routes(Mode::All).table());
    let hardening = Hardening::new(&state.config, &endpoint);
    let public_url = state.config.mail.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let outbox = Outbox::new(&state.config.mail, public_url, mode == Mode::All)?;
    if mode == Mode::Api && state.config.mail.smtp_url.is_none() {
        tracing::warn!("STREAMBOX_SMTP_URL is not set: verification and password-reset mail cannot be sent");
    }
    let limited =
        rate_limit::apply(serving_routes(mode, &state, &shutdown, outbox).into_router(), &state, &mut tasks, &shutdown);
    let app = traced(hardening.apply(edge::apply(limited)), state.config.trust_forwarded_for)
        .layer(middleware::from_fn_with_state(state.clone(), metrics::measure))
        .layer(Extension(document))
        .with_state(state.clone());
    tasks.spawn(listener::serve(listener, app, shutdown.clone()));
    if let Some(bind) = state.config.metrics_bind {
        let metrics_listener =
            TcpListener::bind(bind).await.with_context(|| format!("binding {bind} (STREAMBOX_METRICS_BIND)"))?;
        tracing::info!(addr = %metrics_listener.local_addr()?, "metrics listening");
        tasks.spawn(listener::serve(metrics_listener, metrics::listener_router(state.clone()), shutdown.clone()));
    }
    tracing::info!(?mode, %addr, "streambox listening");
    Ok(Running { addr, state, tasks, shutdown })
}

/// Every route a process in `mode` serves.
pub fn routes(mode: Mode) -> Routes {
    compose(mode, streambox_api::routes, streambox_streamer::routes)
}

/// `routes(mode)` with the state services need beyond `AppState` (the streamer's caches,
/// the API's outbox).
fn serving_routes(mode: Mode, state: &AppState, shutdown: &CancellationToken, outbox: Outbox) -> Routes {
    compose(
        mode,
        || streambox_api::serving(state, shutdown.clone(), outbox),
        || streambox_streamer::serving(state, shutdown.clone()),
    )
}

fn compose(mode: Mode, api: impl FnOnce() -> Routes, streamer: impl FnOnce() -> Routes) -> Routes {
    let routes = health::routes().merge(metrics::routes());
    match mode {
        Mode::All => routes
            .merge(api())
            .merge(openapi::routes())
            .merge(streambox_upload::routes())
            .merge(streamer())
            .merge(crate::frontend::routes()),
        Mode::Api => routes.merge(api()).merge(openapi::routes()),
        Mode::Upload => routes.merge(streambox_upload::routes()),
        Mode::Streamer => routes.merge(streamer()),
        Mode::Transcoder => routes,
    }
}

/// Request spans name the method and path only: query strings can carry playback tokens.
/// Each carries the request's id (see [`request_id`]).
fn traced(router: Router<AppState>, trust_gateway: bool) -> Router<AppState> {
    let traced = router.layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request<Body>| {
                let id = request.headers().get(&request_id::HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
                tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
            })
            .on_request(()),
    );
    request_id::apply(traced, trust_gateway)
}

/// In `all` mode without a configured secret: one generated at first start and kept
/// (owner-only) in the data dir, so sessions survive restarts.
async fn local_jwt_secret(config: &Config) -> anyhow::Result<Secret> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let path = config.data_dir.join("jwt-secret");
    if let Ok(existing) = tokio::fs::read_to_string(&path).await {
        let existing = existing.trim();
        anyhow::ensure!(existing.len() >= 32, "{} is too short; delete it to generate a new one", path.display());
        return Ok(Secret::new(existing));
    }
    let secret: String = {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    write_private(&path, &secret).await?;
    tracing::info!(path = %path.display(), "generated a signing secret for local use");
    Ok(Secret::new(secret))
}

/// In `all` mode without a configured one: a key-encryption key generated at first start
/// and kept (owner-only) in the data dir beside the signing secret, so encrypted videos
/// stay playable across restarts. Whoever reads the data dir can open their keys: a
/// deployment sets `STREAMBOX_KEY_ENCRYPTION_KEY` from its secret store instead.
async fn local_key_encryption_key(config: &Config) -> anyhow::Result<Secret> {
    if let Some(key) = &config.key_encryption_key {
        return Ok(key.clone());
    }
    let path = config.data_dir.join("key-encryption-key");
    if let Ok(existing) = tokio::fs::read_to_string(&path).await {
        let existing = existing.trim();
        let valid = existing.len() == 64 && existing.bytes().all(|b| b.is_ascii_hexdigit());
        anyhow::ensure!(valid, "{} is not 64 hexadecimal characters; restore it from a backup", path.display());
        return Ok(Secret::new(existing));
    }
    let key: String = {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    write_private(&path, &key).await?;
    tracing::info!(path = %path.display(), "generated a key-encryption key for local use");
    Ok(Secret::new(key))
}

async fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let path = path.to_owned();
    let contents = contents.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        file.write_all(contents.as_bytes())
    })
    .await?
    .context("writing a generated secret")
}
