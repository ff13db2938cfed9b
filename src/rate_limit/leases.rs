//! Tokens a process holds ahead of use, so a client making many requests does not cost a
//! Redis round trip for each. A bucket's first draw takes one token, as if there were no
//! lease at all; each lease used up before it ends doubles the next one, up to a
//! sixty-fourth of the bucket; a lease that ends unused shrinks the next back to one and
//! its tokens go back to the bucket with that draw. So a client making a request now and
//! then is counted exactly, one flooding a wide bucket costs a round trip per lease, and
//! small buckets (sign-in, tests) never lease more than one token. A process never holds
//! more than a lease of a bucket for more than [`LEASE_FOR`], so processes sharing a
//! bucket stay within a sixty-fourth of it of each other.
//!
//! A bucket Redis found empty is refused here until its token is due, without asking Redis
//! again: only time refills a bucket.
//!
//! A wide bucket (128 tokens or more: the API, uploads, media) without a lease in this
//! process is not waited on at all: the request goes on and its token is owed, paid to
//! Redis with every other bucket's by one script call every [`PAY_EVERY`] ([`Leases::owed`]),
//! which also says which buckets ran dry. A client's bucket can go that one token into
//! debt, which the bucket then refills first; a client's next request within the lease time
//! draws as above. So viewers making a request now and then never wait on Redis, and no
//! client gets more than a token past its limit per process and lease time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use streambox_base::config::Rate;

use super::script::{Draw, Drawn, Owed};

/// How long leased tokens may be used; after that they go back to the bucket.
const LEASE_FOR: Duration = Duration::from_secs(1);
/// The largest lease, as a share of the bucket's capacity, and in tokens.
const LEASE_SHARE: u32 = 64;
const LEASE_MAX: u32 = 256;
/// How often owed tokens are paid to Redis.
pub const PAY_EVERY: Duration = Duration::from_millis(50);
/// Buckets remembered at most; past this, expired ones are forgotten, and if none has
/// expired, new buckets are drawn a token at a time without a lease.
const TABLE_MAX: usize = 65_536;

pub struct Bucket {
    pub key: String,
    pub rate: Rate,
}

#[derive(Default)]
struct Held {
    /// Leased and not yet used.
    tokens: u32,
    /// The lease can be used until then; its unused tokens then go back.
    until: Option<Instant>,
    /// What the last draw asked for.
    size: u32,
    /// Whole tokens Redis had left after the last draw.
    left: u64,
    /// Redis found the bucket empty; no token before then.
    refused_until: Option<Instant>,
}

/// What the limit of a request is, as the `RateLimit-*` headers tell it: the tightest
/// bucket's capacity, the tokens left in it and the seconds until it is full.
pub struct Headroom {
    pub limit: u32,
    pub remaining: u64,
    pub reset_secs: u64,
}

pub enum Decision<'a> {
    /// Every bucket had a leased token, or owes it: served without waiting on Redis.
    Served(Headroom),
    /// A bucket is known to be empty for this long.
    Refused { headroom: Headroom, wait: Duration },
    /// Some buckets need a draw from Redis.
    Draw(Pending<'a>),
}

/// A request waiting on its draw.
pub struct Pending<'a> {
    pub draws: Vec<Draw<'a>>,
    /// The bucket of each draw.
    indexes: Vec<usize>,
    /// The buckets whose token this request took from a lease.
    reserved: Vec<usize>,
}

#[derive(Default)]
pub struct Leases {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    held: HashMap<String, Held>,
    /// Tokens taken without a draw, per bucket, not yet paid (less those given back).
    owed: HashMap<String, (Rate, i64)>,
}

impl Table {
    /// Takes a token of `bucket` now, to be paid later, with the unused tokens of its ended
    /// lease given back; the next request within the lease time draws.
    fn owe(&mut self, bucket: &Bucket, give_back: u32, now: Instant) {
        let Some(held) = entry(&mut self.held, &bucket.key, now) else { return };
        let known = if held.until.is_some() { held.left } else { u64::from(bucket.rate.capacity) };
        held.tokens -= give_back;
        held.left = known.saturating_sub(1);
        held.until = Some(now + LEASE_FOR);
        held.size = 1;
        let owed = self.owed.entry(bucket.key.clone()).or_insert((bucket.rate, 0));
        owed.1 += 1 - i64::from(give_back);
    }
}

/// How a bucket serves one request.
enum Source {
    /// A token of its lease, taken.
    Lease,
    /// Owed, to be paid later (with the ended lease's unused tokens given back).
    Owe { give_back: u32 },
    /// Drawn from Redis now.
    Draw { want: u32, give_back: u32 },
}

impl Leases {
    /// Serves the request from leases where it can, and says what to draw where not.
    pub fn take<'a>(&self, buckets: &'a [Bucket], now: Instant) -> Decision<'a> {
        let mut table = self.table.lock().expect("the lease table is never poisoned");
        for bucket in buckets {
            if let Some(until) = table.held.get(&bucket.key).and_then(|held| held.refused_until).filter(|&u| u > now) {
                let wait = until - now;
                let headroom = Headroom { limit: bucket.rate.capacity, remaining: 0, reset_secs: secs(wait) };
                return Decision::Refused { headroom, wait };
            }
        }
        let may_owe = room(&mut table.held, now);
        let sources: Vec<Source> =
            buckets.iter().map(|bucket| source(table.held.get(&bucket.key), bucket, now, may_owe)).collect();
        let must_draw = sources.iter().any(|source| matches!(source, Source::Draw { .. }));
        let (mut draws, mut indexes, mut reserved) = (Vec::new(), Vec::new(), Vec::new());
        for (index, (bucket, source)) in buckets.iter().zip(sources).enumerate() {
            let (want, give_back) = match source {
                Source::Lease => {
                    if let Some(held) = table.held.get_mut(&bucket.key) {
                        held.tokens -= 1;
                    }
                    reserved.push(index);
                    continue;
                }
                Source::Owe { give_back } if !must_draw => {
                    table.owe(bucket, give_back, now);
                    continue;
                }
                Source::Owe { give_back } => (1, give_back),
                Source::Draw { want, give_back } => (want, give_back),
            };
            if let Some(held) = table.held.get_mut(&bucket.key) {
                held.tokens -= give_back;
            }
            draws.push(Draw { key: &bucket.key, rate: bucket.rate, want, give_back });
            indexes.push(index);
        }
        if draws.is_empty() {
            return Decision::Served(headroom(&table.held, buckets));
        }
        Decision::Draw(Pending { draws, indexes, reserved })
    }

    /// Hands over every owed token, to be paid to Redis.
    pub fn owed(&self) -> Vec<Owed> {
        let mut table = self.table.lock().expect("the lease table is never poisoned");
        table.owed.drain().map(|(key, (rate, tokens))| Owed { key, rate, tokens }).collect()
    }

    /// Records what Redis answered a payment: per bucket, its whole tokens left and how
    /// long until it has a token (zero when it has one now).
    pub fn paid(&self, owed: &[Owed], answer: &[(u64, u64)], now: Instant) {
        let mut table = self.table.lock().expect("the lease table is never poisoned");
        for (owed, &(left, wait_ms)) in owed.iter().zip(answer) {
            let Some(held) = table.held.get_mut(&owed.key) else { continue };
            held.left = left;
            if wait_ms > 0 {
                held.refused_until = Some(now + Duration::from_millis(wait_ms));
            }
        }
    }

    /// Records what Redis answered a draw: the tokens granted (one of each is this
    /// request's), or the buckets it found empty (and the reserved tokens go back).
    pub fn settle(&self, buckets: &[Bucket], pending: &Pending, drawn: &Drawn, now: Instant) -> Headroom {
        let Pending { draws, indexes, reserved } = pending;
        let mut guard = self.table.lock().expect("the lease table is never poisoned");
        let table = &mut guard.held;
        match drawn {
            Drawn::Granted(granted) => {
                for ((draw, &index), &(tokens, left)) in draws.iter().zip(indexes).zip(granted) {
                    let Some(held) = entry(table, &buckets[index].key, now) else { continue };
                    held.tokens += tokens.saturating_sub(1);
                    held.until = Some(now + LEASE_FOR);
                    held.size = draw.want;
                    held.left = left;
                    held.refused_until = None;
                }
                headroom(table, buckets)
            }
            Drawn::Refused(waits) => {
                give_back(table, buckets, reserved);
                let mut refused = Headroom { limit: 0, remaining: 0, reset_secs: 0 };
                for (&index, &wait_ms) in indexes.iter().zip(waits).filter(|(_, wait)| **wait > 0) {
                    let wait = Duration::from_millis(wait_ms);
                    if let Some(held) = entry(table, &buckets[index].key, now) {
                        held.refused_until = Some(now + wait);
                        held.left = 0;
                    }
                    if secs(wait) >= refused.reset_secs {
                        refused =
                            Headroom { limit: buckets[index].rate.capacity, remaining: 0, reset_secs: secs(wait) };
                    }
                }
                refused
            }
        }
    }

    /// Puts back the tokens reserved for a request that went on without its draw.
    pub fn release(&self, buckets: &[Bucket], pending: &Pending) {
        give_back(&mut self.table.lock().expect("the lease table is never poisoned").held, buckets, &pending.reserved);
    }
}

fn give_back(table: &mut HashMap<String, Held>, buckets: &[Bucket], reserved: &[usize]) {
    for &index in reserved {
        if let Some(held) = table.get_mut(&buckets[index].key) {
            held.tokens += 1;
        }
    }
}

/// Where a bucket's token for a request comes from: a held lease, a debt (a wide bucket
/// without a lease here), or a draw (growing the lease while the last was used up in time).
fn source(held: Option<&Held>, bucket: &Bucket, now: Instant, may_owe: bool) -> Source {
    let wide = may_owe && largest_lease(bucket.rate) > 1;
    let Some(held) = held else {
        return if wide { Source::Owe { give_back: 0 } } else { Source::Draw { want: 1, give_back: 0 } };
    };
    let valid = held.until.is_some_and(|u| u > now);
    if valid && held.tokens > 0 {
        Source::Lease
    } else if valid {
        Source::Draw { want: held.size.saturating_mul(2).min(largest_lease(bucket.rate)), give_back: 0 }
    } else if wide {
        Source::Owe { give_back: held.tokens }
    } else {
        Source::Draw { want: 1, give_back: held.tokens }
    }
}

/// Whether the table has room for new buckets, after forgetting those with neither a
/// lease nor a refusal running (a bucket that cannot be remembered cannot owe).
fn room(table: &mut HashMap<String, Held>, now: Instant) -> bool {
    if table.len() >= TABLE_MAX {
        table.retain(|_, held| held.until.is_some_and(|u| u > now) || held.refused_until.is_some_and(|u| u > now));
    }
    table.len() < TABLE_MAX
}

fn largest_lease(rate: Rate) -> u32 {
    (rate.capacity / LEASE_SHARE).clamp(1, LEASE_MAX)
}

/// The bucket's entry, made room for if the table is full (or `None` when it cannot be).
fn entry<'t>(table: &'t mut HashMap<String, Held>, key: &str, now: Instant) -> Option<&'t mut Held> {
    if !table.contains_key(key) {
        if !room(table, now) {
            return None;
        }
        table.insert(key.to_owned(), Held::default());
    }
    table.get_mut(key)
}

/// The headroom of the tightest bucket: tokens left in Redis plus those leased here.
fn headroom(table: &HashMap<String, Held>, buckets: &[Bucket]) -> Headroom {
    buckets
        .iter()
        .map(|bucket| {
            let remaining = table.get(&bucket.key).map_or(0, |held| held.left + u64::from(held.tokens));
            let missing =
                f64::from(bucket.rate.capacity).min(f64::from(bucket.rate.capacity) - remaining as f64).max(0.0);
            let reset_secs = (missing / bucket.rate.per_ms() / 1000.0).ceil() as u64;
            Headroom { limit: bucket.rate.capacity, remaining, reset_secs }
        })
        .min_by_key(|headroom| headroom.remaining)
        .expect("every limited request has a bucket")
}

fn secs(wait: Duration) -> u64 {
    wait.as_millis().div_ceil(1000).try_into().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(capacity: u32) -> Vec<Bucket> {
        vec![Bucket { key: format!("bucket of {capacity}"), rate: Rate { capacity, period: Duration::from_secs(60) } }]
    }

    /// Takes for one request: the tokens wanted and given back if it must draw (and then
    /// settles the draw with `grant` of them granted and `left` in Redis), or `None` when
    /// served from the lease.
    fn request(
        leases: &Leases,
        buckets: &[Bucket],
        now: Instant,
        grant: impl Fn(u32) -> u32,
        left: u64,
    ) -> Option<(u32, u32)> {
        match leases.take(buckets, now) {
            Decision::Served(_) => None,
            Decision::Refused { .. } => panic!("refused"),
            Decision::Draw(pending) => {
                let asked = (pending.draws[0].want, pending.draws[0].give_back);
                let drawn = Drawn::Granted(vec![(grant(asked.0), left)]);
                leases.settle(buckets, &pending, &drawn, now);
                Some(asked)
            }
        }
    }

    #[test]
    fn leases_double_while_used_up_in_time_up_to_a_share_of_the_bucket() {
        let (leases, buckets, now) = (Leases::default(), bucket(64 * 3), Instant::now());
        let mut asked = Vec::new();
        for _ in 0..10 {
            if let Some((want, _)) = request(&leases, &buckets, now, |want| want, 100) {
                asked.push(want);
            }
        }
        // The first token owed, then leases of 2 (one used, one held), 3 (the largest:
        // 192 / 64), ...
        assert_eq!(asked, [2, 3, 3, 3]);
        let Decision::Served(headroom) = leases.take(&buckets, now) else { panic!("a leased token is held") };
        assert_eq!((headroom.limit, headroom.remaining), (192, 101), "Redis's tokens plus the one still held");
    }

    #[test]
    fn an_ended_lease_gives_its_tokens_back_with_the_next_token_it_owes() {
        let (leases, buckets, now) = (Leases::default(), bucket(6400), Instant::now());
        for _ in 0..4 {
            request(&leases, &buckets, now, |want| want, 6000);
        }
        // Owed, then leases of 2 and 4: the fourth request took one of the 4, three are held.
        let owed = leases.owed();
        assert_eq!((owed.len(), owed[0].tokens), (1, 1));
        let later = now + LEASE_FOR;
        assert_eq!(request(&leases, &buckets, later, |want| want, 6000), None, "owed, not drawn");
        assert_eq!(leases.owed()[0].tokens, 1 - 3, "one taken, three given back");
        // The next within the lease time draws; what Redis could grant of it is held.
        assert_eq!(request(&leases, &buckets, later, |_| 1, 0), Some((2, 0)));
        assert_eq!(request(&leases, &buckets, later, |want| want, 0), Some((4, 0)), "nothing was held");
    }

    #[test]
    fn a_wide_bucket_owes_its_token_until_redis_says_it_ran_dry_and_a_narrow_one_draws() {
        let (leases, now) = (Leases::default(), Instant::now());
        let (wide, narrow) = (bucket(6400), bucket(60));
        assert!(matches!(leases.take(&wide, now), Decision::Served(_)));
        assert!(matches!(leases.take(&narrow, now), Decision::Draw(_)), "sixty tokens are never leased");
        let owed = leases.owed();
        assert_eq!(owed.iter().map(|o| (o.key.as_str(), o.tokens)).collect::<Vec<_>>(), [("bucket of 6400", 1)]);
        assert!(leases.owed().is_empty(), "handed over once");
        leases.paid(&owed, &[(0, 2000)], now);
        let Decision::Refused { wait, headroom } = leases.take(&wide, now + Duration::from_millis(1500)) else {
            panic!("known to be empty")
        };
        assert_eq!((wait, headroom.remaining), (Duration::from_millis(500), 0));
        assert!(matches!(leases.take(&wide, now + Duration::from_millis(2500)), Decision::Served(_)), "owed again");
    }

    #[test]
    fn an_empty_bucket_is_refused_here_until_its_token_is_due_and_reserved_tokens_go_back() {
        let leases = Leases::default();
        let rate = Rate { capacity: 6400, period: Duration::from_secs(60) };
        let buckets = vec![Bucket { key: "address".into(), rate }, Bucket { key: "account".into(), rate }];
        let now = Instant::now();
        for _ in 0..4 {
            if let Decision::Draw(pending) = leases.take(&buckets, now) {
                let granted = Drawn::Granted(pending.draws.iter().map(|d| (d.want, 10)).collect());
                leases.settle(&buckets, &pending, &granted, now);
            }
        }
        // Owed, then leases of 2 and 4 in both: three tokens held in each. Empty the
        // account's lease.
        let account_only = &buckets[1..];
        for _ in 0..3 {
            assert!(matches!(leases.take(account_only, now), Decision::Served(_)));
        }
        let Decision::Draw(pending) = leases.take(&buckets, now) else { panic!("must draw") };
        assert_eq!((pending.indexes.as_slice(), pending.reserved.as_slice()), ([1].as_slice(), [0].as_slice()));
        let refused = Drawn::Refused(vec![1500]);
        let headroom = leases.settle(&buckets, &pending, &refused, now);
        assert_eq!((headroom.limit, headroom.remaining, headroom.reset_secs), (6400, 0, 2));
        for _ in 0..3 {
            assert!(matches!(leases.take(&buckets[..1], now), Decision::Served(_)), "the reserved token went back");
        }
        let Decision::Refused { wait, .. } = leases.take(&buckets, now + Duration::from_millis(1000)) else {
            panic!("known to be empty")
        };
        assert_eq!(wait, Duration::from_millis(500));
        let due = now + Duration::from_millis(1500);
        assert!(matches!(leases.take(&buckets, due), Decision::Served(_)), "its token is due: owed again");
    }
}
