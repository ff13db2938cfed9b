//! Prometheus metrics of one process. Each [`Metrics`] has a recorder of its own rather
//! than the process-wide one, so several services in one process (a test binary runs
//! many) keep their own numbers. Every metric is named and described here, once; with
//! metrics off (`STREAMBOX_METRICS=false`) every handle is a no-op.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// Latency buckets, in seconds: from a cached segment (sub-millisecond) to a slow upload.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0];
/// Transcode durations, in seconds: a short clip to a feature film.
const TRANSCODE_BUCKETS: [f64; 11] = [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0];
/// Transcode speed, in multiples of real time.
const SPEED_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0, 16.0];

/// Every metric: its name, kind, unit and what it counts.
const CATALOGUE: &[(&str, Kind, Option<Unit>, &str)] = &[
    (
        "streambox_http_requests_total",
        Kind::Counter,
        None,
        "HTTP requests answered, by route template, method and status class",
    ),
    (
        "streambox_http_request_duration_seconds",
        Kind::Histogram,
        Some(Unit::Seconds),
        "Time to answer an HTTP request (to the response head), by route template and method",
    ),
    ("streambox_jobs", Kind::Gauge, None, "Transcode jobs in each state"),
    (
        "streambox_oldest_queued_job_age_seconds",
        Kind::Gauge,
        Some(Unit::Seconds),
        "How long the oldest job waiting for a worker (queued, or retrying and due) has waited; 0 when none",
    ),
    (
        "streambox_transcode_duration_seconds",
        Kind::Histogram,
        Some(Unit::Seconds),
        "Wall time of successful transcodes, by rung count",
    ),
    (
        "streambox_transcode_speed_ratio",
        Kind::Histogram,
        None,
        "Seconds of source transcoded per second of wall time (x real time), by rung count",
    ),
    (
        "streambox_transcode_failures_total",
        Kind::Counter,
        None,
        "Failed transcode attempts and parts, by class: permanent or transient",
    ),
    (
        "streambox_transcode_retries_total",
        Kind::Counter,
        None,
        "Transcode attempts and parts scheduled to run again after a transient failure",
    ),
    (
        "streambox_transcode_chunks_total",
        Kind::Counter,
        None,
        "Parts of chunked transcodes finished, by kind (video, audio, finish)",
    ),
    (
        "streambox_upload_bytes_total",
        Kind::Counter,
        Some(Unit::Bytes),
        "Bytes of video received, by protocol (multipart, tus)",
    ),
    ("streambox_uploads_active", Kind::Gauge, None, "Request bodies of uploads being received now, by protocol"),
    ("streambox_stream_cache_hits_total", Kind::Counter, None, "Streamed objects answered from the in-memory cache"),
    ("streambox_stream_cache_misses_total", Kind::Counter, None, "Streamed objects fetched from object storage"),
    (
        "streambox_stream_cache_coalesced_total",
        Kind::Counter,
        None,
        "Cache misses that waited for a fetch already under way instead of their own",
    ),
    ("streambox_stream_cache_bytes", Kind::Gauge, Some(Unit::Bytes), "Bytes held in the streamer's cache"),
    ("streambox_stream_bytes_total", Kind::Counter, Some(Unit::Bytes), "Bytes of media bodies sent to viewers"),
    (
        "streambox_webhook_deliveries_total",
        Kind::Counter,
        None,
        "Webhook delivery attempts, by outcome (delivered, retrying, failed)",
    ),
    (
        "streambox_rate_limit_decisions_total",
        Kind::Counter,
        None,
        "Rate-limited requests, by what decided (process: this process, from its leased tokens, a token owed or a bucket known empty; redis: a draw; unreachable: Redis did not answer) and outcome (allowed, refused)",
    ),
    ("streambox_db_connections", Kind::Gauge, None, "PostgreSQL pool connections, by state (idle, in_use)"),
    (
        "streambox_dependency_up",
        Kind::Gauge,
        None,
        "1 when the dependency (postgres, redis, object_storage, transcode_worker) passed its readiness check at the last scrape",
    ),
    (
        "streambox_ready",
        Kind::Gauge,
        None,
        "1 when every readiness check passed at the last scrape (what /readyz answers 200 for)",
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The metrics of one process; clones share them.
#[derive(Clone)]
pub struct Metrics(Option<Arc<Registry>>);

struct Registry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Metrics {
    /// A fresh set of metrics, every one described; `enabled` false gives no-op handles.
    pub fn new(enabled: bool) -> Self {
        if !enabled {
            return Self(None);
        }
        let buckets = |builder: PrometheusBuilder, name: &str, values: &[f64]| {
            builder.set_buckets_for_metric(Matcher::Full(name.into()), values).expect("non-empty buckets")
        };
        let builder = buckets(PrometheusBuilder::new(), "streambox_http_request_duration_seconds", &LATENCY_BUCKETS);
        let builder = buckets(builder, "streambox_transcode_duration_seconds", &TRANSCODE_BUCKETS);
        let builder = buckets(builder, "streambox_transcode_speed_ratio", &SPEED_BUCKETS);
        let recorder = builder.build_recorder();
        for &(name, kind, unit, help) in CATALOGUE {
            let description = SharedString::const_str(help);
            match kind {
                Kind::Counter => recorder.describe_counter(name.into(), unit, description),
                Kind::Gauge => recorder.describe_gauge(name.into(), unit, description),
                Kind::Histogram => recorder.describe_histogram(name.into(), unit, description),
            }
        }
        let handle = recorder.handle();
        Self(Some(Arc::new(Registry { recorder, handle })))
    }

    /// Whether anything is recorded.
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The counter `name` with these labels.
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        match &self.0 {
            Some(registry) => registry.recorder.register_counter(&key(name, labels), &METADATA),
            None => Counter::noop(),
        }
    }

    /// The gauge `name` with these labels.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        match &self.0 {
            Some(registry) => registry.recorder.register_gauge(&key(name, labels), &METADATA),
            None => Gauge::noop(),
        }
    }

    /// The histogram `name` with these labels.
    pub fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Histogram {
        match &self.0 {
            Some(registry) => registry.recorder.register_histogram(&key(name, labels), &METADATA),
            None => Histogram::noop(),
        }
    }

    /// Everything recorded, in the Prometheus text format; `None` when metrics are off.
    pub fn render(&self) -> Option<String> {
        self.0.as_ref().map(|registry| registry.handle.render())
    }
}

/// The name of every metric StreamBox exports (histograms add `_bucket`, `_sum`, `_count`).
pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|&(name, ..)| name)
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels.iter().map(|&(k, v)| Label::new(k, v.to_owned())).collect();
    Key::from_parts(name, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_described_and_counted_per_instance() {
        let (one, two) = (Metrics::new(true), Metrics::new(true));
        one.counter("streambox_http_requests_total", &[("route", "/healthz")]).increment(2);
        one.histogram("streambox_http_request_duration_seconds", &[("route", "/healthz")]).record(0.003);
        let text = one.render().unwrap();
        assert!(text.contains("streambox_http_requests_total{route=\"/healthz\"} 2"), "{text}");
        assert!(text.contains("# HELP streambox_http_requests_total HTTP requests answered"), "{text}");
        assert!(
            text.contains("streambox_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(!two.render().unwrap().contains("streambox_http_requests_total{"), "another instance counts apart");
        let off = Metrics::new(false);
        off.counter("streambox_http_requests_total", &[]).increment(1);
        assert!(off.render().is_none());
    }
}
