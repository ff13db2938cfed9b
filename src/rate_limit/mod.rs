//! Rate limits: token buckets in Redis, one atomic script per request over every bucket
//! it draws from. Each request belongs to a class (sign-in and registration, uploads,
//! comments/likes/follows, views, search, media, the rest of the API) and draws from its
//! class's bucket for the client's address, for the signed-in account, and (sign-in and
//! registration, whose password hashing is costly) for the whole service. Answers carry
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a request over a limit
//! gets 429 `rate_limited` with `Retry-After`. The media class is wide enough that a
//! player never meets it: it stops floods, not viewers. The app's static files and the
//! health checks are not limited. When Redis cannot answer within a moment, sign-in and
//! registration are refused (503) and every other request goes on unlimited: a Redis
//! outage never locks viewers out, and never leaves passwords unthrottled.
//!
//! The buckets live in Redis (`script`), shared by every process; each process leases
//! tokens of a busy bucket a few at a time (`leases`), so a flood costs Redis a round trip
//! per lease rather than per request.

mod leases;
mod script;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use metrics::Counter;
use streambox_base::config::{Rate, RateLimits};
use streambox_base::metrics::Metrics;
use streambox_http::auth::presented_token;
use streambox_http::client_address::{ClientAddress, network_of};
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, AppState};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::leases::{Bucket, Decision, Headroom, Leases};
use self::script::Drawn;

/// The longest a request waits on Redis for its limits before going on without them.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// Buckets paid for in one script call.
const PAY_BATCH: usize = 1000;

/// What a request is, for its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Auth,
    Upload,
    Social,
    View,
    Search,
    Media,
    Api,
}

impl Class {
    /// The class of a request, or `None` for what is never limited.
    pub fn of(method: &Method, path: &str) -> Option<Self> {
        let writes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        Some(if path.starts_with("/hls/") {
            Self::Media
        } else if !path.starts_with("/api/") || path == "/api/v1/docs" || path.starts_with("/api/v1/docs.") {
            return None;
        } else if path.starts_with("/api/v1/auth/") && !matches!(path, "/api/v1/auth/refresh" | "/api/v1/auth/logout") {
            // Sign-in (with a password or through single sign-on, which creates accounts
            // and costs a round trip to the provider), registration and the mailed links
            // (asking for them, following them). Refresh and sign-out are the rest of the
            // API: a whole office refreshing behind one address, or signing out during a
            // Redis outage, is never held up.
            Self::Auth
        } else if path.starts_with("/api/v1/uploads") {
            Self::Upload
        } else if path == "/api/v1/search" {
            Self::Search
        } else if writes && path.ends_with("/views") {
            Self::View
        } else if writes && (path.contains("/comments") || path.ends_with("/like") || path.ends_with("/follow")) {
            Self::Social
        } else {
            Self::Api
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Upload => "upload",
            Self::Social => "social",
            Self::View => "view",
            Self::Search => "search",
            Self::Media => "media",
            Self::Api => "api",
        }
    }

    fn rate(self, limits: &RateLimits) -> Rate {
        match self {
            Self::Auth => limits.auth,
            Self::Upload => limits.upload,
            Self::Social => limits.social,
            Self::View => limits.view,
            Self::Search => limits.search,
            Self::Media => limits.media,
            Self::Api => limits.api,
        }
    }
}

/// `router` with the limits in front of every route (when on), and the task that pays
/// the tokens the process owes to Redis (until `shutdown`).
pub fn apply(
    router: Router<AppState>,
    state: &AppState,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> Router<AppState> {
    if !state.config.rate_limits.enabled {
        return router;
    }
    let limiter = Arc::new(Limiter { leases: Leases::default(), decisions: Decisions::new(&state.metrics) });
    tasks.spawn(pay_owed(state.clone(), limiter.clone(), shutdown.clone()));
    router.layer(middleware::from_fn_with_state((state.clone(), limiter), limit))
}

/// Every [`leases::PAY_EVERY`], pays Redis the tokens taken without a draw, in one call.
/// When Redis does not answer, what was owed is forgiven: limits fail open for the
/// requests that owe, as they do for those that draw.
async fn pay_owed(state: AppState, limiter: Arc<Limiter>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(leases::PAY_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
        let owed = limiter.leases.owed();
        for owed in owed.chunks(PAY_BATCH) {
            match tokio::time::timeout(REDIS_TIMEOUT, script::pay(&state, owed)).await {
                Ok(Ok(answer)) => limiter.leases.paid(owed, &answer, Instant::now()),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, buckets = owed.len(), "rate limits: could not pay owed tokens")
                }
                Err(_) => tracing::warn!(buckets = owed.len(), "rate limits: paying owed tokens timed out"),
            }
        }
    }
    Ok(())
}

/// One process's limiter: its leases and what it counts.
struct Limiter {
    leases: Leases,
    decisions: Decisions,
}

/// `streambox_rate_limit_decisions_total`, per what decided and whether it allowed.
struct Decisions([Counter; 6]);

#[derive(Clone, Copy)]
enum DecidedBy {
    Process,
    Redis,
    Unreachable,
}

impl Decisions {
    fn new(metrics: &Metrics) -> Self {
        Self(std::array::from_fn(|i| {
            let by = ["process", "redis", "unreachable"][i / 2];
            let outcome = ["allowed", "refused"][i % 2];
            metrics.counter("streambox_rate_limit_decisions_total", &[("decided_by", by), ("outcome", outcome)])
        }))
    }

    fn count(&self, by: DecidedBy, allowed: bool) {
        self.0[by as usize * 2 + usize::from(!allowed)].increment(1);
    }
}

async fn limit(State((state, limiter)): State<(AppState, Arc<Limiter>)>, request: Request, next: Next) -> Response {
    let Some(class) = Class::of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let limits = &state.config.rate_limits;
    let rate = class.rate(limits);
    let prefix = format!("{}:rate:{}", state.config.queue_name, class.name());
    let mut buckets = vec![Bucket { key: format!("{prefix}:address:{}", address_of(&state, &request)), rate }];
    if let Some(account) = account_of(&state, request.headers()) {
        buckets.push(Bucket { key: format!("{prefix}:account:{account}"), rate });
    }
    if class == Class::Auth {
        buckets.push(Bucket { key: format!("{prefix}:everyone"), rate: limits.auth_everyone });
    }
    let (leases, decisions) = (&limiter.leases, &limiter.decisions);
    let headroom = match leases.take(&buckets, Instant::now()) {
        Decision::Served(headroom) => {
            decisions.count(DecidedBy::Process, true);
            headroom
        }
        Decision::Refused { headroom, wait } => {
            decisions.count(DecidedBy::Process, false);
            return refused(class, &headroom, wait);
        }
        Decision::Draw(pending) => {
            match tokio::time::timeout(REDIS_TIMEOUT, script::draw(&state, &pending.draws)).await {
                Ok(Ok(drawn)) => {
                    let headroom = leases.settle(&buckets, &pending, &drawn, Instant::now());
                    let allowed = matches!(drawn, Drawn::Granted(_));
                    decisions.count(DecidedBy::Redis, allowed);
                    if !allowed {
                        return refused(class, &headroom, Duration::from_secs(headroom.reset_secs));
                    }
                    headroom
                }
                failed => {
                    leases.release(&buckets, &pending);
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".to_owned(),
                    };
                    tracing::warn!(error = %why, "rate limits: Redis did not answer");
                    // Viewers and readers go on; signing in and registering wait for Redis.
                    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
                    let allowed = !(class == Class::Auth && writes);
                    decisions.count(DecidedBy::Unreachable, allowed);
                    if !allowed {
                        return ApiError::unavailable("signing in and registering").into_response();
                    }
                    return next.run(request).await;
                }
            }
        }
    };
    let mut response = next.run(request).await;
    add_headers(&mut response, &headroom);
    response
}

/// 429 `rate_limited`, with when to come back.
fn refused(class: Class, headroom: &Headroom, wait: Duration) -> Response {
    let seconds = u32::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u32::MAX);
    let mut refused = ApiError::too_many(
        codes::RATE_LIMITED,
        format!("too many {} requests; try again in {seconds} s", class.name()),
        seconds,
    )
    .into_response();
    add_headers(&mut refused, headroom);
    refused
}

fn add_headers(response: &mut Response, headroom: &Headroom) {
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(headroom.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(headroom.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(headroom.reset_secs));
}

/// The client's address as the view counter and throttles see it (the gateway's
/// `X-Forwarded-For` entry only when trusted), IPv6 by its /64.
fn address_of(state: &AppState, request: &Request) -> String {
    let ClientAddress(address) = ClientAddress::of(state, request.headers(), request.extensions());
    address.map_or_else(|| "unknown".to_owned(), network_of)
}

/// The signed-in account, from a valid access token (not checked against the session:
/// only its signature and expiry, which cost no database read).
fn account_of(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let token = presented_token(headers)?;
    state.tokens.verify(token).ok().map(|claims| claims.sub.to_string())
}
