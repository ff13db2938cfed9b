//! Logging, filtered by `RUST_LOG` (default `info`): one JSON object per line when
//! `STREAMBOX_LOG_FORMAT=json` or, by default, when standard output is not a terminal
//! (a file, a pipe, a log collector); human-readable text otherwise. Colour codes only
//! ever go to a terminal. Each line carries the fields of its spans: a request's
//! `request_id`, method and path; a job's `job` and `video`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, with the current span's and its parents' fields.
    Json,
    /// Human-readable lines.
    Text,
}

impl LogFormat {
    /// `STREAMBOX_LOG_FORMAT` (`json` or `text`); unset, JSON unless stdout is a terminal.
    pub fn from_env() -> Self {
        match std::env::var("STREAMBOX_LOG_FORMAT").as_deref() {
            Ok("json") => Self::Json,
            Ok("text") => Self::Text,
            _ if std::io::stdout().is_terminal() => Self::Text,
            _ => Self::Json,
        }
    }
}

/// Installs the log subscriber for the process; call once at start. A later call (as
/// in tests) leaves the first subscriber in place.
pub fn init() {
    install(LogFormat::from_env(), std::io::stdout, std::io::stdout().is_terminal());
}

/// Installs a subscriber writing `format` to `writer` (colours only when `ansi`).
pub fn install<W>(format: LogFormat, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,aws=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    // A second call (tests) keeps the first subscriber. JSON lines name the module that
    // logged them (`target`), for filtering; text lines stay short.
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).with_ansi(false).try_init(),
        LogFormat::Text => builder.with_target(false).with_ansi(ansi).try_init(),
    };
}
