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

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use redis::Script;
use streambox_base::config::{Rate, RateLimits};
use streambox_http::auth::presented_token;
use streambox_http::client_address::{ClientAddress, network_of};
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, AppState};

/// The longest a request waits on Redis for its limits before going on without them.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

static DRAW_SCRIPT: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(DRAW));

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

/// Draws one token from every bucket (KEYS) or from none. ARGV: per key, its capacity
/// and its refill in tokens per millisecond. Answers {allowed, tokens left in the
/// tightest bucket, that bucket's index (1-based), milliseconds until a token is back
/// in every bucket (when refused) or until the tightest bucket is full (when allowed)}.
const DRAW: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local tokens, wait, tightest = {}, 0, 1
for i = 1, #KEYS do
  local capacity, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local stored = redis.call('HMGET', KEYS[i], 't', 'at')
  local t = tonumber(stored[1]) or capacity
  local at = tonumber(stored[2]) or now
  t = math.min(capacity, t + math.max(0, now - at) * rate)
  tokens[i] = t
  if t < 1 then wait = math.max(wait, math.ceil((1 - t) / rate)) end
end
if wait > 0 then
  for i = 2, #KEYS do if tokens[i] < tokens[tightest] then tightest = i end end
  return {0, 0, tightest, wait}
end
for i = 1, #KEYS do
  local capacity, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  tokens[i] = tokens[i] - 1
  redis.call('HSET', KEYS[i], 't', tostring(tokens[i]), 'at', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(capacity / rate))
  if tokens[i] < tokens[tightest] then tightest = i end
end
local capacity, rate = tonumber(ARGV[2 * tightest - 1]), tonumber(ARGV[2 * tightest])
return {1, math.floor(tokens[tightest]), tightest, math.ceil((capacity - tokens[tightest]) / rate)}
";

/// `router` with the limits in front of every route (when on).
pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    if !state.config.rate_limits.enabled {
        return router;
    }
    router.layer(middleware::from_fn_with_state(state.clone(), limit))
}

struct Bucket {
    key: String,
    rate: Rate,
}

async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
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
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let drawn = match tokio::time::timeout(REDIS_TIMEOUT, draw(&state, &buckets)).await {
        Ok(Ok(drawn)) => drawn,
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            tracing::warn!(error = %why, "rate limits: Redis did not answer");
            // Viewers and readers go on; signing in and registering wait for Redis.
            if class == Class::Auth && writes {
                return ApiError::unavailable("signing in and registering").into_response();
            }
            return next.run(request).await;
        }
    };
    let tightest = &buckets[drawn.tightest];
    let headers = |response: &mut Response| {
        let headers = response.headers_mut();
        headers.insert("ratelimit-limit", HeaderValue::from(tightest.rate.capacity));
        headers.insert("ratelimit-remaining", HeaderValue::from(drawn.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(drawn.wait_ms.div_ceil(1000)));
    };
    if !drawn.allowed {
        let seconds = u32::try_from(drawn.wait_ms.div_ceil(1000)).unwrap_or(u32::MAX);
        let mut refused = ApiError::too_many(
            codes::RATE_LIMITED,
            format!("too many {} requests; try again in {seconds} s", class.name()),
            seconds,
        )
        .into_response();
        headers(&mut refused);
        return refused;
    }
    let mut response = next.run(request).await;
    headers(&mut response);
    response
}

struct Drawn {
    allowed: bool,
    remaining: u64,
    tightest: usize,
    wait_ms: u64,
}

async fn draw(state: &AppState, buckets: &[Bucket]) -> redis::RedisResult<Drawn> {
    let mut invocation = DRAW_SCRIPT.prepare_invoke();
    for bucket in buckets {
        invocation.key(&bucket.key).arg(bucket.rate.capacity).arg(bucket.rate.per_ms());
    }
    let (allowed, remaining, tightest, wait_ms): (i64, i64, i64, i64) =
        invocation.invoke_async(&mut state.queue.redis()).await?;
    Ok(Drawn {
        allowed: allowed == 1,
        remaining: u64::try_from(remaining).unwrap_or_default(),
        tightest: usize::try_from(tightest - 1).unwrap_or_default().min(buckets.len() - 1),
        wait_ms: u64::try_from(wait_ms).unwrap_or_default(),
    })
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
