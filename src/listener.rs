//! The HTTP listener: hyper with the timeouts a public server needs, which
//! `axum::serve` does not set. A client that sends its headers slowly, or keeps an
//! idle connection open, is disconnected; a request body that stops arriving ends
//! with an error the handler sees (and a resumable upload keeps what did arrive).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The whole request head must arrive within this; an idle keep-alive connection is
/// closed after it too (hyper starts the clock when it waits for the next head).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// A request body that sends nothing for this long fails.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Headers hyper itself parses before refusing (with an empty 431); below it, the
/// edge layer answers in JSON (see `edge::MAX_HEADERS`).
const PARSER_MAX_HEADERS: usize = 256;
/// How long shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown`, then drains open connections.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_headers(PARSER_MAX_HEADERS);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: the listener itself is fine.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            app.clone().oneshot(request.map(Body::new))
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after {DRAIN:?} of shutdown; closing them");
    }
    Ok(())
}
