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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use streambox_base::config::Rate;

use super::script::{Draw, Drawn};

/// How long leased tokens may be used; after that they go back to the bucket.
const LEASE_FOR: Duration = Duration::from_secs(1);
/// The largest lease, as a share of the bucket's capacity, and in tokens.
const LEASE_SHARE: u32 = 64;
const LEASE_MAX: u32 = 256;
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
    /// Every bucket had a leased token: served without Redis.
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
    table: Mutex<HashMap<String, Held>>,
}

impl Leases {
    /// Serves the request from leases where it can, and says what to draw where not.
    pub fn take<'a>(&self, buckets: &'a [Bucket], now: Instant) -> Decision<'a> {
        let mut table = self.table.lock().expect("the lease table is never poisoned");
        for bucket in buckets {
            if let Some(until) = table.get(&bucket.key).and_then(|held| held.refused_until).filter(|&u| u > now) {
                let wait = until - now;
                let headroom = Headroom { limit: bucket.rate.capacity, remaining: 0, reset_secs: secs(wait) };
                return Decision::Refused { headroom, wait };
            }
        }
        let (mut draws, mut indexes, mut reserved) = (Vec::new(), Vec::new(), Vec::new());
        for (index, bucket) in buckets.iter().enumerate() {
            let held = table.get_mut(&bucket.key);
            match held {
                Some(held) if held.tokens > 0 && held.until.is_some_and(|u| u > now) => {
                    held.tokens -= 1;
                    reserved.push(index);
                }
                held => {
                    let (want, give_back) = held.map_or((1, 0), |held| {
                        let ended = held.until.is_none_or(|u| u <= now);
                        let give_back = if ended { std::mem::take(&mut held.tokens) } else { 0 };
                        let largest = (bucket.rate.capacity / LEASE_SHARE).clamp(1, LEASE_MAX);
                        (if ended { 1 } else { held.size.saturating_mul(2).min(largest) }, give_back)
                    });
                    draws.push(Draw { key: &bucket.key, rate: bucket.rate, want, give_back });
                    indexes.push(index);
                }
            }
        }
        if draws.is_empty() {
            return Decision::Served(headroom(&table, buckets));
        }
        Decision::Draw(Pending { draws, indexes, reserved })
    }

    /// Records what Redis answered a draw: the tokens granted (one of each is this
    /// request's), or the buckets it found empty (and the reserved tokens go back).
    pub fn settle(&self, buckets: &[Bucket], pending: &Pending, drawn: &Drawn, now: Instant) -> Headroom {
        let Pending { draws, indexes, reserved } = pending;
        let mut table = self.table.lock().expect("the lease table is never poisoned");
        match drawn {
            Drawn::Granted(granted) => {
                for ((draw, &index), &(tokens, left)) in draws.iter().zip(indexes).zip(granted) {
                    let Some(held) = entry(&mut table, &buckets[index].key, now) else { continue };
                    held.tokens += tokens.saturating_sub(1);
                    held.until = Some(now + LEASE_FOR);
                    held.size = draw.want;
                    held.left = left;
                    held.refused_until = None;
                }
                headroom(&table, buckets)
            }
            Drawn::Refused(waits) => {
                give_back(&mut table, buckets, reserved);
                let mut refused = Headroom { limit: 0, remaining: 0, reset_secs: 0 };
                for (&index, &wait_ms) in indexes.iter().zip(waits).filter(|(_, wait)| **wait > 0) {
                    let wait = Duration::from_millis(wait_ms);
                    if let Some(held) = entry(&mut table, &buckets[index].key, now) {
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
        give_back(&mut self.table.lock().expect("the lease table is never poisoned"), buckets, &pending.reserved);
    }
}

fn give_back(table: &mut HashMap<String, Held>, buckets: &[Bucket], reserved: &[usize]) {
    for &index in reserved {
        if let Some(held) = table.get_mut(&buckets[index].key) {
            held.tokens += 1;
        }
    }
}

/// The bucket's entry, made room for if the table is full (or `None` when it cannot be).
fn entry<'t>(table: &'t mut HashMap<String, Held>, key: &str, now: Instant) -> Option<&'t mut Held> {
    if !table.contains_key(key) {
        if table.len() >= TABLE_MAX {
            table.retain(|_, held| held.until.is_some_and(|u| u > now) || held.refused_until.is_some_and(|u| u > now));
        }
        if table.len() >= TABLE_MAX {
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
        vec![Bucket { key: "a".into(), rate: Rate { capacity, period: Duration::from_secs(60) } }]
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
        // 1 (used at once), 2 (one used, one held), 3 (the largest: 192 / 64), ...
        assert_eq!(asked, [1, 2, 3, 3, 3]);
        let Decision::Served(headroom) = leases.take(&buckets, now) else { panic!("a leased token is held") };
        assert_eq!((headroom.limit, headroom.remaining), (192, 101), "Redis's tokens plus the one still held");
    }

    #[test]
    fn an_ended_lease_gives_its_tokens_back_and_the_next_is_one_token() {
        let (leases, buckets, now) = (Leases::default(), bucket(6400), Instant::now());
        for _ in 0..4 {
            request(&leases, &buckets, now, |want| want, 6000);
        }
        // Leases of 1, 2 and 4: the fourth request took one of the 4, three are held.
        let later = now + LEASE_FOR;
        assert_eq!(request(&leases, &buckets, later, |want| want, 6000), Some((1, 3)));
        // A bucket Redis could grant only part of a lease from: what it gave is held.
        assert_eq!(request(&leases, &buckets, later, |_| 1, 0), Some((2, 0)));
        assert_eq!(request(&leases, &buckets, later, |want| want, 0), Some((4, 0)), "nothing was held");
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
        // Leases of 1, 2, 4 in both: three tokens held in each. Empty the account's lease.
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
        assert!(matches!(leases.take(&buckets, now + Duration::from_millis(1500)), Decision::Draw(_)));
    }
}
