//! A bounded in-memory cache of hot objects (playlists, segments, posters), least
//! recently used out first, by bytes. Concurrent misses for one key share a single
//! storage fetch. Hits, misses, shared fetches and bytes held are counted for `/metrics`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use metrics::{Counter, Gauge};
use streambox_base::metrics::Metrics;
use streambox_storage::ObjectStore;

/// An object held whole in memory.
#[derive(Debug)]
pub struct CachedObject {
    pub body: Bytes,
    pub e_tag: Option<String>,
    pub last_modified: Option<SystemTime>,
}

/// The result of looking an object up.
#[derive(Clone)]
pub enum Lookup {
    Found(Arc<CachedObject>),
    Missing,
    /// Larger than the cache takes: the caller streams it from storage.
    TooLarge,
}

type Fetch = Shared<BoxFuture<'static, Result<Lookup, Arc<anyhow::Error>>>>;

pub struct ObjectCache {
    storage: ObjectStore,
    capacity: u64,
    max_object: u64,
    entries: Mutex<Entries>,
    inflight: Mutex<HashMap<String, Fetch>>,
    counted: Counted,
}

/// The cache's figures in `/metrics`.
struct Counted {
    hits: Counter,
    misses: Counter,
    coalesced: Counter,
    bytes: Gauge,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<String, (Arc<CachedObject>, u64)>,
    /// Last use -> key; the first entry is the least recently used.
    by_use: BTreeMap<u64, String>,
    clock: u64,
    bytes: u64,
}

impl Entries {
    fn touch(&mut self, key: &str) -> Option<Arc<CachedObject>> {
        self.clock += 1;
        let clock = self.clock;
        let (object, used) = self.by_key.get_mut(key)?;
        self.by_use.remove(used);
        *used = clock;
        self.by_use.insert(clock, key.to_owned());
        Some(object.clone())
    }

    fn insert(&mut self, key: String, object: Arc<CachedObject>, capacity: u64) {
        self.remove(&key);
        let size = object.body.len() as u64;
        while self.bytes + size > capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else { break };
            if let Some((evicted, _)) = self.by_key.remove(&oldest) {
                self.bytes -= evicted.body.len() as u64;
            }
        }
        self.clock += 1;
        self.bytes += size;
        self.by_use.insert(self.clock, key.clone());
        self.by_key.insert(key, (object, self.clock));
    }

    fn remove(&mut self, key: &str) {
        if let Some((object, used)) = self.by_key.remove(key) {
            self.by_use.remove(&used);
            self.bytes -= object.body.len() as u64;
        }
    }
}

impl ObjectCache {
    pub fn new(storage: ObjectStore, capacity: u64, max_object: u64, metrics: &Metrics) -> Self {
        let counted = Counted {
            hits: metrics.counter("streambox_stream_cache_hits_total", &[]),
            misses: metrics.counter("streambox_stream_cache_misses_total", &[]),
            coalesced: metrics.counter("streambox_stream_cache_coalesced_total", &[]),
            bytes: metrics.gauge("streambox_stream_cache_bytes", &[]),
        };
        Self {
            storage,
            capacity,
            max_object: max_object.min(capacity),
            entries: Mutex::default(),
            inflight: Mutex::default(),
            counted,
        }
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<Lookup> {
        if let Some(object) = self.entries.lock().expect("cache lock").touch(key) {
            self.counted.hits.increment(1);
            return Ok(Lookup::Found(object));
        }
        let fetch = {
            let mut inflight = self.inflight.lock().expect("inflight lock");
            match inflight.get(key) {
                Some(under_way) => {
                    self.counted.coalesced.increment(1);
                    under_way.clone()
                }
                None => {
                    self.counted.misses.increment(1);
                    let started = fetch(self.storage.clone(), key.to_owned(), self.max_object);
                    inflight.insert(key.to_owned(), started.clone());
                    started
                }
            }
        };
        let fetched = fetch.await;
        self.inflight.lock().expect("inflight lock").remove(key);
        let lookup = fetched.map_err(|e| anyhow::anyhow!("{e:#}"))?;
        if let Lookup::Found(object) = &lookup {
            let mut entries = self.entries.lock().expect("cache lock");
            entries.insert(key.to_owned(), object.clone(), self.capacity);
            self.counted.bytes.set(entries.bytes as f64);
        }
        Ok(lookup)
    }

    /// Drops every cached object under `prefix` (a video changed or was deleted).
    pub fn forget_prefix(&self, prefix: &str) {
        let mut entries = self.entries.lock().expect("cache lock");
        let keys: Vec<String> = entries.by_key.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        for key in keys {
            entries.remove(&key);
        }
        self.counted.bytes.set(entries.bytes as f64);
    }

    #[cfg(test)]
    fn cached_bytes(&self) -> u64 {
        self.entries.lock().unwrap().bytes
    }
}

fn fetch(storage: ObjectStore, key: String, max_object: u64) -> Fetch {
    async move {
        let Some(object) = storage.get(&key).await.map_err(Arc::new)? else { return Ok(Lookup::Missing) };
        if object.content_length.is_none_or(|len| len < 0 || len as u64 > max_object) {
            return Ok(Lookup::TooLarge);
        }
        let (e_tag, last_modified) = (object.e_tag, object.last_modified);
        let body =
            object.body.collect().await.map_err(|e| Arc::new(anyhow::anyhow!("reading {key}: {e}")))?.into_bytes();
        Ok(Lookup::Found(Arc::new(CachedObject { body, e_tag, last_modified })))
    }
    .boxed()
    .shared()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(size: usize) -> Arc<CachedObject> {
        Arc::new(CachedObject { body: Bytes::from(vec![0; size]), e_tag: None, last_modified: None })
    }

    #[test]
    fn the_least_recently_used_goes_first_and_bytes_stay_bounded() {
        let mut entries = Entries::default();
        entries.insert("a".into(), object(40), 100);
        entries.insert("b".into(), object(40), 100);
        assert!(entries.touch("a").is_some());
        entries.insert("c".into(), object(40), 100);
        assert!(entries.touch("b").is_none(), "b was least recently used");
        assert!(entries.touch("a").is_some() && entries.touch("c").is_some());
        assert_eq!(entries.bytes, 80);
        entries.insert("a".into(), object(10), 100);
        assert_eq!(entries.bytes, 50, "replacing an entry replaces its size");
    }

    #[test]
    fn a_cache_filled_exactly_to_capacity_keeps_everything() {
        let mut entries = Entries::default();
        entries.insert("a".into(), object(60), 100);
        entries.insert("b".into(), object(40), 100);
        assert!(entries.touch("a").is_some() && entries.touch("b").is_some(), "100 of 100 bytes fit");
        assert_eq!(entries.bytes, 100);
    }

    #[tokio::test]
    async fn forgetting_a_prefix_drops_its_objects() {
        let config = streambox_base::config::S3Config {
            endpoint: Some("http://127.0.0.1:9".into()),
            public_endpoint: None,
            bucket: "b".into(),
            access_key: "k".into(),
            secret_key: streambox_base::config::Secret::new("s"),
            region: "us-east-1".into(),
        };
        let cache = ObjectCache::new(ObjectStore::new(&config, "http://127.0.0.1:9"), 1000, 1000, &Metrics::new(false));
        cache.entries.lock().unwrap().insert("hls/a/1".into(), object(10), 1000);
        cache.entries.lock().unwrap().insert("hls/b/1".into(), object(10), 1000);
        cache.forget_prefix("hls/a/");
        assert_eq!(cache.cached_bytes(), 10);
    }
}
