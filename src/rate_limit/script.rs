//! The one Redis round trip of the limiter: an atomic script that draws tokens from every
//! bucket a request needs, or from none.

use redis::Script;
use streambox_base::config::Rate;
use streambox_http::AppState;

static DRAW_SCRIPT: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(DRAW));
static PAY_SCRIPT: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(PAY));

/// Refills every bucket (KEYS) and puts back the tokens a process gives back, then draws
/// from all of them or from none: it needs one token in each, and takes up to as many as
/// the process asked for. ARGV, per key: capacity, refill in tokens per millisecond,
/// tokens wanted, tokens given back. Answers {1, then per key: tokens granted, whole
/// tokens left} when drawn, or {0, then per key: milliseconds until a token is back (0 if
/// one is there), whole tokens left} when refused.
const DRAW: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local tokens, refused = {}, false
for i = 1, #KEYS do
  local capacity, rate, back = tonumber(ARGV[4 * i - 3]), tonumber(ARGV[4 * i - 2]), tonumber(ARGV[4 * i])
  local stored = redis.call('HMGET', KEYS[i], 't', 'at')
  local t = tonumber(stored[1]) or capacity
  local at = tonumber(stored[2]) or now
  tokens[i] = math.min(capacity, t + math.max(0, now - at) * rate + back)
  if tokens[i] < 1 then refused = true end
end
local function store(i)
  local capacity, rate = tonumber(ARGV[4 * i - 3]), tonumber(ARGV[4 * i - 2])
  redis.call('HSET', KEYS[i], 't', tostring(tokens[i]), 'at', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(capacity / rate))
end
local answer = {refused and 0 or 1}
for i = 1, #KEYS do
  local rate, want, back = tonumber(ARGV[4 * i - 2]), tonumber(ARGV[4 * i - 1]), tonumber(ARGV[4 * i])
  if refused then
    if back > 0 then store(i) end
    answer[#answer + 1] = tokens[i] < 1 and math.ceil((1 - tokens[i]) / rate) or 0
  else
    local granted = math.min(want, math.floor(tokens[i]))
    tokens[i] = tokens[i] - granted
    store(i)
    answer[#answer + 1] = granted
  end
  answer[#answer + 1] = math.floor(tokens[i])
end
return answer
";

/// Refills every bucket (KEYS) and takes what a process owes it, even into debt (a
/// bucket in debt refills that first). ARGV, per key: capacity, refill in tokens per
/// millisecond, tokens owed (negative: given back). Answers per key: whole tokens left
/// (0 in debt), milliseconds until a token is back (0 if one is there).
const PAY: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local answer = {}
for i = 1, #KEYS do
  local capacity, rate, owed = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local stored = redis.call('HMGET', KEYS[i], 't', 'at')
  local t = tonumber(stored[1]) or capacity
  local at = tonumber(stored[2]) or now
  t = math.min(capacity, math.min(capacity, t + math.max(0, now - at) * rate) - owed)
  redis.call('HSET', KEYS[i], 't', tostring(t), 'at', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil((capacity - math.min(t, 0)) / rate))
  answer[#answer + 1] = math.max(0, math.floor(t))
  answer[#answer + 1] = t < 1 and math.ceil((1 - t) / rate) or 0
end
return answer
";

/// Tokens a process owes a bucket, handed over to be paid.
pub struct Owed {
    pub key: String,
    pub rate: Rate,
    /// Tokens taken, less the unused ones of ended leases given back (may be negative).
    pub tokens: i64,
}

/// One bucket's part of a draw.
pub struct Draw<'a> {
    pub key: &'a str,
    pub rate: Rate,
    /// Tokens asked for (at least one).
    pub want: u32,
    /// Unused tokens of an ended lease, put back before drawing.
    pub give_back: u32,
}

/// Per bucket of a draw, in its order.
pub enum Drawn {
    /// Tokens granted (at least one each) and whole tokens left in each bucket.
    Granted(Vec<(u32, u64)>),
    /// Per bucket: how long until it has a token again (zero when it has one now).
    Refused(Vec<u64>),
}

pub async fn draw(state: &AppState, draws: &[Draw<'_>]) -> redis::RedisResult<Drawn> {
    let mut invocation = DRAW_SCRIPT.prepare_invoke();
    for draw in draws {
        invocation.key(draw.key).arg(draw.rate.capacity).arg(draw.rate.per_ms()).arg(draw.want).arg(draw.give_back);
    }
    let answer: Vec<i64> = invocation.invoke_async(&mut state.queue.redis()).await?;
    if answer.len() != 1 + 2 * draws.len() {
        return Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "the draw script answered out of shape",
        )));
    }
    let per_bucket = answer.get(1..).unwrap_or_default().chunks_exact(2);
    let number = |n: i64| u64::try_from(n).unwrap_or_default();
    Ok(if answer.first() == Some(&1) {
        Drawn::Granted(per_bucket.map(|pair| (u32::try_from(pair[0]).unwrap_or_default(), number(pair[1]))).collect())
    } else {
        Drawn::Refused(per_bucket.map(|pair| number(pair[0])).collect())
    })
}

/// Pays what a process owes (one call for every bucket): per bucket, whole tokens left and
/// milliseconds until it has a token.
pub async fn pay(state: &AppState, owed: &[Owed]) -> redis::RedisResult<Vec<(u64, u64)>> {
    let mut invocation = PAY_SCRIPT.prepare_invoke();
    for owed in owed {
        invocation.key(&owed.key).arg(owed.rate.capacity).arg(owed.rate.per_ms()).arg(owed.tokens);
    }
    let answer: Vec<i64> = invocation.invoke_async(&mut state.queue.redis()).await?;
    if answer.len() != 2 * owed.len() {
        return Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "the pay script answered out of shape",
        )));
    }
    let number = |n: i64| u64::try_from(n).unwrap_or_default();
    Ok(answer.chunks_exact(2).map(|pair| (number(pair[0]), number(pair[1]))).collect())
}
