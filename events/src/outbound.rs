//! The HTTP client deliveries go out through: redirects never followed, no proxy from
//! the environment, bounded time, and every address a name resolves to checked
//! against `streambox_core::webhook_targets` before connecting, so a name that
//! resolves inside the network (DNS rebinding included) is refused at send time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use streambox_core::webhook_targets::{self, TargetError};

/// A receiver must answer within this (the whole exchange).
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// What is read of a receiver's answer; the rest is dropped.
const BODY_LIMIT: usize = 64 * 1024;
/// What of it is kept in a failed delivery's error.
const EXCERPT: usize = 200;

/// A POST's outcome: the status when the receiver answered, how long it took, and
/// for anything but a 2xx, why it failed.
pub struct Answer {
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
}

pub struct Client {
    http: reqwest::Client,
    allow_private: bool,
}

impl Client {
    pub fn new(allow_private: bool) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            .user_agent(concat!("StreamBox-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, allow_private })
    }

    /// POSTs `body` with `headers` to `url`.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Answer {
        let started = Instant::now();
        let failed = |error: String| Answer { status: None, latency: started.elapsed(), error: Some(error) };
        let url = match webhook_targets::parse(url) {
            Ok(url) => url,
            Err(e) => return failed(format!("refused: the URL {e}")),
        };
        // Names are checked by the resolver as they are resolved; literal addresses here.
        if url.host().is_some_and(|h| !matches!(h, url::Host::Domain(_)))
            && let Err(e) = webhook_targets::check(&url, self.allow_private).await
        {
            return failed(format!("refused: {e}"));
        }
        let mut request = self.http.post(url).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return failed(describe(&e)),
        };
        let status = response.status();
        let mut excerpt = Vec::new();
        let mut read = 0;
        let drained = tokio::time::timeout(TIMEOUT.saturating_sub(started.elapsed()), async {
            while read < BODY_LIMIT {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        read += chunk.len();
                        let room = EXCERPT.saturating_sub(excerpt.len());
                        excerpt.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    }
                    _ => break,
                }
            }
        })
        .await;
        let latency = started.elapsed();
        let error = if drained.is_err() {
            Some(format!("HTTP {}: the answer did not finish within {} s", status.as_u16(), TIMEOUT.as_secs()))
        } else if status.is_success() {
            None
        } else if status.is_redirection() {
            Some(format!("HTTP {}: redirects are not followed; register the final URL", status.as_u16()))
        } else {
            let text: String = String::from_utf8_lossy(&excerpt).chars().filter(|c| !c.is_control()).collect();
            Some(format!("HTTP {}: {}", status.as_u16(), text.trim()).trim_end_matches(": ").to_owned())
        };
        Answer { status: Some(status.as_u16()), latency, error }
    }
}

/// Why a request failed, in words: a refused address, a timeout, a refused connection.
fn describe(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<TargetError>() {
            return format!("refused: {refused}");
        }
        source = e.source();
    }
    if error.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses = webhook_targets::resolve(&host, 0).await?;
            webhook_targets::allowed_addresses(&host, addresses.iter().map(SocketAddr::ip), allow_private)?;
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}
