//! What the upload service counts for `/metrics`: bytes received and bodies being received.

use streambox_base::metrics::Metrics;

/// One upload body being received, counted in `streambox_uploads_active` until dropped.
pub(crate) struct Receiving {
    metrics: Metrics,
    protocol: &'static str,
}

impl Receiving {
    /// `protocol`: `multipart` or `tus`.
    pub(crate) fn start(metrics: &Metrics, protocol: &'static str) -> Self {
        metrics.gauge("streambox_uploads_active", &[("protocol", protocol)]).increment(1);
        Self { metrics: metrics.clone(), protocol }
    }

    /// `bytes` more of the file arrived.
    pub(crate) fn received(&self, bytes: usize) {
        self.metrics.counter("streambox_upload_bytes_total", &[("protocol", self.protocol)]).increment(bytes as u64);
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.metrics.gauge("streambox_uploads_active", &[("protocol", self.protocol)]).decrement(1);
    }
}
