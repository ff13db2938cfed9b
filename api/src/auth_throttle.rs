//! Throttles on the account routes, kept in Redis. Registrations: at most
//! `STREAMBOX_REGISTRATIONS_PER_HOUR` per address (IPv6: per /64). Sign-ins: failed ones
//! slow the next attempts down: after a few failures for one account
//! from one address, each further attempt from there waits twice as long as the last
//! (up to 15 minutes); an address that fails for many accounts (credential stuffing) is
//! slowed down as a whole, but never for more than a minute at a time, so one bad actor
//! behind a shared address (an office, a carrier's NAT) cannot keep everyone else there
//! out for long. The account alone is never locked: a stranger failing from
//! elsewhere cannot keep its owner out. A success clears the account's count at that
//! address. Mail (verification links, password resets): a few per account and
//! purpose an hour, and a bounded number of requests per address. Counts live in Redis; when Redis cannot answer, sign-in is refused (503)
//! rather than left unthrottled.

use std::net::IpAddr;

use redis::Script;
use sha2::{Digest, Sha256};
use streambox_db::email_links::Purpose;
use streambox_http::client_address::network_of;
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};

/// Failures of one account from one address before attempts are slowed.
const FREE_PER_ACCOUNT: u32 = 5;
/// Failures from one address, whatever the account, before all its attempts are slowed.
const FREE_PER_ADDRESS: u32 = 50;
/// How long failures are remembered, and the longest wait of an account at an address.
const WINDOW_SECS: u32 = 900;
/// The longest wait of a whole address.
const ADDRESS_WAIT_SECS: u32 = 60;

/// Records a failure and sets the waits it earns, atomically. KEYS: account+address
/// count, address count, account+address wait, address wait. ARGV: free per account,
/// free per address, window, longest address wait. Each wait is 2^(failures − free − 1)
/// s, at most the window (an account at an address) or a minute (an address).
const FAILED: &str = r"
local window = tonumber(ARGV[3])
local function fail(count_key, wait_key, free, longest)
  local n = redis.call('INCR', count_key)
  redis.call('EXPIRE', count_key, window)
  if n > free then
    redis.call('SET', wait_key, '1', 'EX', math.min(longest, 2 ^ (n - free - 1)))
  end
end
fail(KEYS[1], KEYS[3], tonumber(ARGV[1]), window)
fail(KEYS[2], KEYS[4], tonumber(ARGV[2]), tonumber(ARGV[4]))
return 0
";

/// One sign-in's throttle: the account (by a digest of its email) at an address.
pub struct Attempt {
    pair: String,
    address: String,
}

impl Attempt {
    pub fn new(state: &AppState, email: &str, address: Option<IpAddr>) -> Self {
        let account = hex(&Sha256::digest(email.trim().to_lowercase().as_bytes())[..16]);
        let address = address.map_or_else(|| "unknown".to_owned(), network_of);
        let prefix = format!("{}:login", state.config.queue_name);
        Self { pair: format!("{prefix}:{account}:{address}"), address: format!("{prefix}:address:{address}") }
    }

    /// 429 `login_throttled` while this account at this address, or this address, must wait.
    pub async fn check(&self, state: &AppState) -> ApiResult<()> {
        let mut redis = state.queue.redis();
        let (pair, address): (i64, i64) = bounded(
            redis::pipe()
                .cmd("PTTL")
                .arg(format!("{}:wait", self.pair))
                .cmd("PTTL")
                .arg(format!("{}:wait", self.address))
                .query_async(&mut redis),
        )
        .await?;
        let wait_ms = pair.max(address);
        if wait_ms > 0 {
            let seconds = u32::try_from((wait_ms + 999) / 1000).unwrap_or(WINDOW_SECS);
            return Err(ApiError::too_many(
                codes::LOGIN_THROTTLED,
                format!("too many failed sign-ins; try again in {seconds} s"),
                seconds,
            ));
        }
        Ok(())
    }

    pub async fn failed(&self, state: &AppState) -> ApiResult<()> {
        let mut redis = state.queue.redis();
        let script = Script::new(FAILED);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(format!("{}:count", self.pair))
            .key(format!("{}:count", self.address))
            .key(format!("{}:wait", self.pair))
            .key(format!("{}:wait", self.address))
            .arg(FREE_PER_ACCOUNT)
            .arg(FREE_PER_ADDRESS)
            .arg(WINDOW_SECS)
            .arg(ADDRESS_WAIT_SECS);
        bounded(invocation.invoke_async::<i64>(&mut redis)).await?;
        Ok(())
    }

    pub async fn succeeded(&self, state: &AppState) -> ApiResult<()> {
        let mut redis = state.queue.redis();
        bounded(
            redis::cmd("DEL")
                .arg(format!("{}:count", self.pair))
                .arg(format!("{}:wait", self.pair))
                .query_async::<i64>(&mut redis),
        )
        .await?;
        Ok(())
    }
}

/// Counts a registration from `address` in its hour: 429 `registration_throttled` past
/// the limit, with `Retry-After` until the hour that began with the first one ends.
pub async fn registration(state: &AppState, address: Option<IpAddr>) -> ApiResult<()> {
    let network = address.map_or_else(|| "unknown".to_owned(), network_of);
    let key = format!("{}:register:{network}", state.config.queue_name);
    let (count, seconds) = count_in_hour(state, &key).await?;
    if count > state.config.registrations_per_hour {
        return Err(ApiError::too_many(
            codes::REGISTRATION_THROTTLED,
            format!("too many accounts were registered from this address; try again in {seconds} s"),
            seconds,
        ));
    }
    Ok(())
}

/// Mails of one kind (verification, reset) one account may be sent in an hour; more
/// requests are answered as usual and send nothing, so the answer never says whether
/// the address has an account.
const MAILS_PER_ACCOUNT_PER_HOUR: u32 = 3;
/// Requests for mail (verification again, password reset) one address (IPv6: one /64)
/// may make in an hour, whatever the accounts; more get 429 `email_throttled`.
const MAIL_REQUESTS_PER_ADDRESS_PER_HOUR: u32 = 20;

/// Counts a request for mail from `address` in its hour: 429 `email_throttled` past
/// [`MAIL_REQUESTS_PER_ADDRESS_PER_HOUR`], so nobody mails strangers by the hundred.
pub async fn mail_request(state: &AppState, address: Option<IpAddr>) -> ApiResult<()> {
    let network = address.map_or_else(|| "unknown".to_owned(), network_of);
    let key = format!("{}:mail-requests:{network}", state.config.queue_name);
    let (count, seconds) = count_in_hour(state, &key).await?;
    if count > MAIL_REQUESTS_PER_ADDRESS_PER_HOUR {
        return Err(ApiError::too_many(
            codes::EMAIL_THROTTLED,
            format!("too many mails were asked for from this address; try again in {seconds} s"),
            seconds,
        ));
    }
    Ok(())
}

/// Counts a mail of `purpose` to `email` in its hour; `false` past
/// [`MAILS_PER_ACCOUNT_PER_HOUR`], when it must not be sent.
pub async fn mail_to(state: &AppState, purpose: Purpose, email: &str) -> ApiResult<bool> {
    let kind = match purpose {
        Purpose::VerifyEmail => "verify",
        Purpose::ResetPassword => "reset",
    };
    let account = hex(&Sha256::digest(email.as_bytes())[..16]);
    let key = format!("{}:mail:{kind}:{account}", state.config.queue_name);
    let (count, _) = count_in_hour(state, &key).await?;
    Ok(count <= MAILS_PER_ACCOUNT_PER_HOUR)
}

/// Counts one more at `key` in an hour that starts with the first: the count, and the
/// seconds left of the hour.
async fn count_in_hour(state: &AppState, key: &str) -> ApiResult<(u32, u32)> {
    let mut redis = state.queue.redis();
    let script = Script::new(COUNTED);
    let mut invocation = script.prepare_invoke();
    invocation.key(key).arg(3600);
    let (count, ttl): (u32, i64) = bounded(invocation.invoke_async(&mut redis)).await?;
    Ok((count, u32::try_from(ttl.max(1)).unwrap_or(3600)))
}

/// Counts one more in a window that starts with the first; answers the count and the
/// seconds the window has left.
const COUNTED: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
return {n, redis.call('TTL', KEYS[1])}
";

/// The longest a throttle waits on Redis before refusing (503).
const REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// `call` within [`REDIS_TIMEOUT`], its Redis error or timeout as 503.
async fn bounded<T>(call: impl Future<Output = redis::RedisResult<T>>) -> ApiResult<T> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(result) => result.map_err(unavailable),
        Err(_) => Err(unavailable("timed out")),
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "account throttling: Redis did not answer");
    ApiError::unavailable("signing in and registering")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
