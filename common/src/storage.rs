//! Object storage through the S3 API: the one code path, whether the server is
//! MinIO, AWS or the embedded endpoint.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};

use crate::config::S3Config;
use crate::ids::VideoId;

/// S3 parts must be at least 5 MiB (but the last); 8 MiB bounds memory per upload.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Object keys, derived from ids only — never from anything a client sent.
pub mod keys {
    use super::VideoId;

    pub fn source(id: VideoId) -> String {
        format!("raw/{id}/source")
    }

    pub fn hls_prefix(id: VideoId) -> String {
        format!("hls/{id}/")
    }

    pub fn poster(id: VideoId) -> String {
        format!("thumbs/{id}/poster.jpg")
    }

    /// Every prefix holding objects of the video, for deletion.
    pub fn all_prefixes(id: VideoId) -> [String; 3] {
        [format!("raw/{id}/"), hls_prefix(id), format!("thumbs/{id}/")]
    }
}

#[derive(Clone, Debug)]
pub struct ObjectStore {
    client: Client,
    bucket: String,
    endpoint: String,
    /// GETs issued, for tests that prove requests are coalesced.
    gets: Arc<AtomicU64>,
}

/// An object being read: its body streams, it is never held whole.
pub struct StoredObject {
    pub body: ByteStream,
    pub content_length: Option<i64>,
    pub content_type: Option<String>,
    pub e_tag: Option<String>,
    pub last_modified: Option<SystemTime>,
    /// For a ranged GET: `bytes first-last/total`.
    pub content_range: Option<String>,
}

impl ObjectStore {
    pub fn new(config: &S3Config, endpoint: &str) -> Self {
        let credentials =
            Credentials::new(&config.access_key, config.secret_key.expose(), None, None, "streambox-config");
        let s3_config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(endpoint)
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        Self {
            client: Client::from_conf(s3_config),
            bucket: config.bucket.clone(),
            endpoint: endpoint.to_owned(),
            gets: Arc::default(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The S3 endpoint URL, e.g. for a separate worker process to share the embedded one.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates the bucket when it does not exist yet (embedded endpoint, fresh MinIO).
    pub async fn ensure_bucket(&self) -> anyhow::Result<()> {
        if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e.into_service_error()))
                .with_context(|| format!("creating bucket {}", self.bucket)),
        }
    }

    /// Size and validators of an object; `Ok(None)` when it does not exist.
    pub async fn head(&self, key: &str) -> anyhow::Result<Option<crate::object_response::ObjectMeta>> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(crate::object_response::ObjectMeta {
                len: out.content_length.and_then(|l| u64::try_from(l).ok()).unwrap_or(0),
                e_tag: out.e_tag,
                last_modified: out.last_modified.and_then(|d| SystemTime::try_from(d).ok()),
            })),
            Err(e) if is_not_found(&e) || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e)).with_context(|| format!("reading metadata of {key}")),
        }
    }

    /// GETs issued so far by this store and its clones.
    pub fn gets_issued(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }

    /// A URL that lets its holder GET `key` directly from storage until `ttl` passes.
    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> anyhow::Result<String> {
        let presigning = PresigningConfig::expires_in(ttl).context("presigning period")?;
        let request = self.client.get_object().bucket(&self.bucket).key(key).presigned(presigning).await?;
        Ok(request.uri().to_owned())
    }

    /// Reachability check for /readyz.
    pub async fn check(&self) -> anyhow::Result<()> {
        self.client.head_bucket().bucket(&self.bucket).send().await.context("object storage")?;
        Ok(())
    }

    pub async fn put_bytes(&self, key: &str, body: Bytes, content_type: &str) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .with_context(|| format!("writing object {key}"))?;
        Ok(())
    }

    pub async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> anyhow::Result<()> {
        let body = ByteStream::from_path(path).await.with_context(|| format!("reading {}", path.display()))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .with_context(|| format!("writing object {key}"))?;
        Ok(())
    }

    /// `Ok(None)` when the object does not exist.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<StoredObject>> {
        self.get_range(key, None).await
    }

    /// The object, or only `range` of it (`bytes=first-last`, passed to storage as is).
    pub async fn get_range(&self, key: &str, range: Option<String>) -> anyhow::Result<Option<StoredObject>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        match self.client.get_object().bucket(&self.bucket).key(key).set_range(range).send().await {
            Ok(out) => Ok(Some(StoredObject {
                body: out.body,
                content_length: out.content_length,
                content_type: out.content_type,
                e_tag: out.e_tag,
                last_modified: out.last_modified.and_then(|d| SystemTime::try_from(d).ok()),
                content_range: out.content_range,
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e)).with_context(|| format!("reading object {key}")),
        }
    }

    /// Streams an object into a local file.
    pub async fn download(&self, key: &str, dest: &Path) -> anyhow::Result<u64> {
        let object = self.get(key).await?.with_context(|| format!("object {key} does not exist"))?;
        let mut reader = object.body.into_async_read();
        let mut file = tokio::fs::File::create(dest).await.with_context(|| format!("creating {}", dest.display()))?;
        let copied = tokio::io::copy(&mut reader, &mut file).await.with_context(|| format!("downloading {key}"))?;
        file.sync_all().await?;
        Ok(copied)
    }

    /// Removes every object under `prefix`; removing nothing is not an error.
    pub async fn delete_prefix(&self, prefix: &str) -> anyhow::Result<usize> {
        let mut deleted = 0;
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.with_context(|| format!("listing {prefix}"))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    self.delete(key).await?;
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }

    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("deleting object {key}"))?;
        Ok(())
    }

    /// Keys under `prefix`, for checks and clean-up.
    pub async fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.with_context(|| format!("listing {prefix}"))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        Ok(keys)
    }

    pub fn streaming_upload(&self, key: String, content_type: &'static str) -> StreamingUpload {
        StreamingUpload {
            store: self.clone(),
            key,
            content_type,
            buffer: BytesMut::with_capacity(PART_SIZE),
            upload_id: None,
            parts: Vec::new(),
            total: 0,
        }
    }
}

fn is_not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::ServiceError(service) => matches!(service.err().code(), Some("NoSuchKey" | "NotFound")),
        _ => false,
    }
}

/// Writes an object of unknown length from a stream of chunks, holding at most
/// one part in memory: small objects become one PUT, larger ones an S3 multipart upload.
/// Dropped unfinished (the client went away and the request was cancelled), it aborts
/// its multipart upload, so no orphaned parts stay behind.
pub struct StreamingUpload {
    store: ObjectStore,
    key: String,
    content_type: &'static str,
    buffer: BytesMut,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    total: u64,
}

impl StreamingUpload {
    pub fn bytes_written(&self) -> u64 {
        self.total
    }

    pub async fn write(&mut self, chunk: &[u8]) -> anyhow::Result<()> {
        self.total += chunk.len() as u64;
        let mut rest = chunk;
        while !rest.is_empty() {
            let take = rest.len().min(PART_SIZE - self.buffer.len());
            self.buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buffer.len() == PART_SIZE {
                self.flush_part().await?;
            }
        }
        Ok(())
    }

    async fn flush_part(&mut self) -> anyhow::Result<()> {
        let client = &self.store.client;
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = client
                    .create_multipart_upload()
                    .bucket(&self.store.bucket)
                    .key(&self.key)
                    .content_type(self.content_type)
                    .send()
                    .await
                    .with_context(|| format!("starting multipart upload of {}", self.key))?;
                let id = created.upload_id.context("storage returned no upload id")?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        let part_number = self.parts.len() as i32 + 1;
        let body = self.buffer.split().freeze();
        let uploaded = client
            .upload_part()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(&upload_id)
            .part_number(part_number)
            .body(ByteStream::from(body))
            .send()
            .await
            .with_context(|| format!("uploading part {part_number} of {}", self.key))?;
        self.parts.push(CompletedPart::builder().part_number(part_number).set_e_tag(uploaded.e_tag).build());
        Ok(())
    }

    /// Makes the object visible. Returns its size.
    pub async fn finish(&mut self) -> anyhow::Result<u64> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = self.buffer.split().freeze();
            self.store.put_bytes(&self.key, body, self.content_type).await?;
            return Ok(self.total);
        };
        if !self.buffer.is_empty() {
            self.flush_part().await?;
        }
        let completed = CompletedMultipartUpload::builder().set_parts(Some(std::mem::take(&mut self.parts))).build();
        self.store
            .client
            .complete_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .send()
            .await
            .with_context(|| format!("completing upload of {}", self.key))?;
        // Complete: nothing left to abort.
        self.upload_id = None;
        Ok(self.total)
    }

    /// Drops everything written so far; nothing half-written stays in storage.
    /// (Also what dropping it unfinished does, in the background.)
    pub async fn abort(&mut self) -> anyhow::Result<()> {
        if let Some(upload_id) = self.upload_id.take() {
            self.store
                .client
                .abort_multipart_upload()
                .bucket(&self.store.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send()
                .await
                .with_context(|| format!("aborting upload of {}", self.key))?;
        }
        Ok(())
    }
}
impl Drop for StreamingUpload {
    fn drop(&mut self) {
        let Some(upload_id) = self.upload_id.clone() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (client, bucket, key) = (self.store.client.clone(), self.store.bucket.clone(), self.key.clone());
        runtime.spawn(async move {
            match client.abort_multipart_upload().bucket(&bucket).key(&key).upload_id(&upload_id).send().await {
                Ok(_) => tracing::info!(%key, "aborted the multipart upload of a cancelled request"),
                Err(e) => tracing::warn!(%key, error = %e, "could not abort an abandoned multipart upload"),
            }
        });
    }
}
