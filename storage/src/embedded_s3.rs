//! The embedded S3 endpoint: s3s serving a local folder through s3s-fs.
//!
//! It replaces only the server. Every service still talks to it through
//! aws-sdk-s3, exactly as it would talk to MinIO.

use std::path::Path;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use streambox_base::config::S3Config;

/// Serves `root` as an S3 endpoint on a free loopback port until `shutdown`;
/// returns the endpoint URL.
pub async fn start(root: &Path, config: &S3Config, shutdown: CancellationToken) -> anyhow::Result<String> {
    tokio::fs::create_dir_all(root).await.with_context(|| format!("creating {}", root.display()))?;
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| anyhow::anyhow!("opening {}: {e:?}", root.display()))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(config.access_key.clone(), config.secret_key.expose().to_owned()));
    let service = builder.build();

    let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the embedded S3 endpoint")?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    tracing::info!(%endpoint, root = %root.display(), "embedded S3 endpoint started");

    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "embedded S3 accept failed");
                        continue;
                    }
                },
                () = shutdown.cancelled() => break,
            };
            let service = service.clone();
            tokio::spawn(async move {
                let connection = ConnectionBuilder::new(TokioExecutor::new());
                if let Err(e) = connection.serve_connection(TokioIo::new(stream), service).await {
                    tracing::debug!(error = %e, "embedded S3 connection ended");
                }
            });
        }
    });
    Ok(endpoint)
}
