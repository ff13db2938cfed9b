//! What the transcoder counts for `/metrics`: finished transcodes' wall time and speed,
//! failures by class, retries, and finished parts of chunked transcodes.

use chrono::{DateTime, Utc};
use streambox_base::metrics::Metrics;
use streambox_db::chunks::ChunkKind;
use streambox_db::videos::Published;

/// A video is ready: its job's wall time from the attempt's start, and its speed.
pub(crate) fn transcoded(metrics: &Metrics, started_at: Option<DateTime<Utc>>, published: &Published) {
    let Some(wall) = started_at.and_then(|at| (Utc::now() - at).to_std().ok()) else { return };
    let rungs = published.renditions.len().to_string();
    let labels = [("rungs", rungs.as_str())];
    metrics.histogram("streambox_transcode_duration_seconds", &labels).record(wall);
    if !wall.is_zero() {
        let speed = published.source.duration_s / wall.as_secs_f64();
        metrics.histogram("streambox_transcode_speed_ratio", &labels).record(speed);
    }
}

/// An attempt or a part failed; `permanent` failures are not retried.
pub(crate) fn failed(metrics: &Metrics, permanent: bool) {
    let class = if permanent { "permanent" } else { "transient" };
    metrics.counter("streambox_transcode_failures_total", &[("class", class)]).increment(1);
}

/// A transient failure will run again after its backoff.
pub(crate) fn retried(metrics: &Metrics) {
    failed(metrics, false);
    metrics.counter("streambox_transcode_retries_total", &[]).increment(1);
}

/// A part of a chunked transcode is done.
pub(crate) fn part_done(metrics: &Metrics, kind: ChunkKind) {
    let kind = match kind {
        ChunkKind::Video => "video",
        ChunkKind::Audio => "audio",
        ChunkKind::Finish => "finish",
    };
    metrics.counter("streambox_transcode_chunks_total", &[("kind", kind)]).increment(1);
}
