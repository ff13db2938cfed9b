//! Object storage through the S3 API: the one code path, whether the server is
//! MinIO, AWS or the embedded endpoint.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use streambox_base::config::S3Config;

/// S3 parts must be at least 5 MiB (but the last); 8 MiB bounds memory per upload.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// The largest object S3 takes in one PUT.
pub const SINGLE_PUT_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// Parts of one streaming upload sent while the next is being received: the
/// client and storage both keep moving, and memory stays at (1 + this) parts.
const PARTS_IN_FLIGHT: usize = 2;
/// Block size of writes to a local file while downloading.
const DOWNLOAD_WRITE_BYTES: usize = 1024 * 1024;
/// Ranged GETs a download is split into, and how many run at once.
const DOWNLOAD_PART_BYTES: u64 = 8 * 1024 * 1024;
const DOWNLOAD_PARALLEL: usize = 4;

/// The client of the one bucket; clones share its connections and its count of GETs.
#[derive(Clone, Debug)]
pub struct ObjectStore {
    client: Client,
    /// Signs URLs for clients, with the endpoint they can reach.
    presigner: Client,
    bucket: String,
    endpoint: String,
    /// GETs issued, for tests that prove requests are coalesced.
    gets: Arc<AtomicU64>,
}

/// What is known of a stored object without reading it: what validators and ranges need.
#[derive(Debug, Clone)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub len: u64,
    /// The entity tag as storage sends it; `None` if it sent none.
    pub e_tag: Option<String>,
    /// When the object was last written; `None` if storage did not say.
    pub last_modified: Option<SystemTime>,
}

/// An object being read: its body streams, it is never held whole.
pub struct StoredObject {
    /// The bytes, read as they arrive.
    pub body: ByteStream,
    /// Bytes in `body` (of the range, for a ranged GET), as storage reported it.
    pub content_length: Option<i64>,
    /// The media type the object was stored with.
    pub content_type: Option<String>,
    /// The entity tag as storage sends it; `None` if it sent none.
    pub e_tag: Option<String>,
    /// When the object was last written; `None` if storage did not say.
    pub last_modified: Option<SystemTime>,
    /// For a ranged GET: `bytes first-last/total`.
    pub content_range: Option<String>,
}

impl ObjectStore {
    /// A client of `config.bucket` at `endpoint`, signing presigned URLs for
    /// `config.public_endpoint` when set. Sends nothing yet: an unreachable endpoint
    /// shows on first use.
    pub fn new(config: &S3Config, endpoint: &str) -> Self {
        let client_for = |endpoint: &str| {
            let credentials =
                Credentials::new(&config.access_key, config.secret_key.expose(), None, None, "streambox-config");
            let s3_config = aws_sdk_s3::Config::builder()
                .behavior_version_latest()
                .endpoint_url(endpoint)
                .region(Region::new(config.region.clone()))
                .credentials_provider(credentials)
                .force_path_style(true)
                // Checksums only where S3 demands them: otherwise a body streamed in one
                // PUT is sent aws-chunked with a trailer, which not every S3 server takes.
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .build();
            Client::from_conf(s3_config)
        };
        Self {
            client: client_for(endpoint),
            presigner: client_for(config.public_endpoint.as_deref().unwrap_or(endpoint)),
            bucket: config.bucket.clone(),
            endpoint: endpoint.to_owned(),
            gets: Arc::default(),
        }
    }

    /// The bucket every key refers to.
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
    pub async fn head(&self, key: &str) -> anyhow::Result<Option<ObjectMeta>> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(ObjectMeta {
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
        let request = self.presigner.get_object().bucket(&self.bucket).key(key).presigned(presigning).await?;
        Ok(request.uri().to_owned())
    }

    /// Like [`Self::presigned_get`], but at the endpoint this process itself uses (not
    /// the public one browsers are given): for a child process of ours, such as ffmpeg
    /// reading a chunk of a source.
    pub async fn internal_presigned_get(&self, key: &str, ttl: Duration) -> anyhow::Result<String> {
        let presigning = PresigningConfig::expires_in(ttl).context("presigning period")?;
        let request = self.client.get_object().bucket(&self.bucket).key(key).presigned(presigning).await?;
        Ok(request.uri().to_owned())
    }

    /// Reachability check for /readyz.
    pub async fn check(&self) -> anyhow::Result<()> {
        self.client.head_bucket().bucket(&self.bucket).send().await.context("object storage")?;
        Ok(())
    }

    /// Stores `body` at `key` in one PUT, replacing any object there.
    pub async fn put_bytes(&self, key: &str, body: Bytes, content_type: &str) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .with_context(|| format!("writing object {key}"))?;
        Ok(())
    }

    /// Stores the local file at `path` under `key` in one PUT (so at most
    /// [`SINGLE_PUT_MAX`] bytes), replacing any object there.
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

    /// Streams an object into a local scratch file (not synced: it is rebuilt after a
    /// crash anyway); `Ok(None)` when the object does not exist.
    ///
    /// Large objects come as parallel ranged GETs of [`DOWNLOAD_PART_BYTES`], each
    /// written at its offset: one stream is bound by its round trips (S3 serves one
    /// connection at a fraction of its bandwidth; the embedded endpoint reads 4 KiB at a
    /// time). Every part is pinned to the first response's ETag, so an object replaced
    /// mid-download fails the download instead of mixing two versions.
    pub async fn download(&self, key: &str, dest: &Path) -> anyhow::Result<Option<u64>> {
        let Some(meta) = self.head(key).await? else { return Ok(None) };
        let file = tokio::fs::File::create(dest).await.with_context(|| format!("creating {}", dest.display()))?;
        file.set_len(meta.len).await.with_context(|| format!("sizing {}", dest.display()))?;
        let parts = (0..meta.len.div_ceil(DOWNLOAD_PART_BYTES).max(1)).map(|n| {
            let first = n * DOWNLOAD_PART_BYTES;
            (first, (first + DOWNLOAD_PART_BYTES).min(meta.len))
        });
        futures::stream::iter(parts)
            .map(|(first, end)| self.download_part(key, meta.e_tag.as_deref(), dest, first, end))
            .buffer_unordered(DOWNLOAD_PARALLEL)
            .try_collect::<Vec<()>>()
            .await
            .with_context(|| format!("downloading {key}"))?;
        Ok(Some(meta.len))
    }

    /// Bytes `first..end` of the object into the same place of `dest`.
    async fn download_part(
        &self,
        key: &str,
        e_tag: Option<&str>,
        dest: &Path,
        first: u64,
        end: u64,
    ) -> anyhow::Result<()> {
        let range = (end > first).then(|| format!("bytes={first}-{}", end - 1));
        self.gets.fetch_add(1, Ordering::Relaxed);
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range(range)
            .set_if_match(e_tag.map(str::to_owned))
            .send()
            .await
            .with_context(|| format!("reading bytes {first}..{end}"))?;
        let mut file = tokio::fs::OpenOptions::new().write(true).open(dest).await?;
        file.seek(std::io::SeekFrom::Start(first)).await?;
        // Each write to a tokio file is a trip to the blocking pool: write in large blocks.
        let mut file = tokio::io::BufWriter::with_capacity(DOWNLOAD_WRITE_BYTES, file);
        let copied = tokio::io::copy(&mut object.body.into_async_read(), &mut file).await?;
        file.flush().await?;
        anyhow::ensure!(copied == end - first, "storage sent {copied} of bytes {first}..{end}");
        Ok(())
    }

    /// Copies `from` to `to` inside the bucket (up to [`SINGLE_PUT_MAX`] bytes).
    pub async fn copy(&self, from: &str, to: &str) -> anyhow::Result<()> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{from}", self.bucket))
            .key(to)
            .send()
            .await
            .with_context(|| format!("copying object {from} to {to}"))?;
        Ok(())
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

    /// Removes the object at `key`.
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

    /// A URL that lets its holder PUT exactly `length` bytes at `key` until `ttl` passes.
    pub async fn presigned_put(&self, key: &str, length: u64, ttl: Duration) -> anyhow::Result<String> {
        let presigning = PresigningConfig::expires_in(ttl).context("presigning period")?;
        let length = i64::try_from(length).context("object length")?;
        let request = self.presigner.put_object().bucket(&self.bucket).key(key).content_length(length);
        Ok(request.presigned(presigning).await?.uri().to_owned())
    }

    /// Starts an S3 multipart upload of `key`; returns its id.
    pub async fn start_multipart(&self, key: &str, content_type: &str) -> anyhow::Result<String> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .with_context(|| format!("starting multipart upload of {key}"))?;
        created.upload_id.context("storage returned no upload id")
    }

    /// Uploads part `number` (from 1); returns its ETag.
    pub async fn upload_part(&self, key: &str, upload_id: &str, number: i32, body: Bytes) -> anyhow::Result<String> {
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            // Integrity is the part's checksum (and TLS in deployments); hashing the
            // payload for the signature as well costs a pass over every byte on both sides.
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .with_context(|| format!("uploading part {number} of {key}"))?;
        uploaded.e_tag.context("storage returned no ETag for a part")
    }

    /// Makes the object from `parts` (`(number, ETag)`, in order) visible.
    pub async fn complete_multipart(&self, key: &str, upload_id: &str, parts: &[(i32, String)]) -> anyhow::Result<()> {
        let parts = parts.iter().map(|(n, tag)| CompletedPart::builder().part_number(*n).e_tag(tag).build()).collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .with_context(|| format!("completing upload of {key}"))?;
        Ok(())
    }

    /// Drops a multipart upload and its parts; one already gone is not an error.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> anyhow::Result<()> {
        match self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(upload_id).send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("NoSuchUpload")) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e)).with_context(|| format!("aborting upload of {key}")),
        }
    }

    /// An object written from a stream of chunks. With its exact `length` known (and
    /// within one PUT's limit) the chunks stream straight into a single PUT; otherwise
    /// they are gathered into parts of a multipart upload.
    pub fn streaming_upload(&self, key: String, content_type: &'static str, length: Option<u64>) -> StreamingUpload {
        let single =
            length.filter(|&n| n > 0 && n <= SINGLE_PUT_MAX).map(|n| SinglePut::start(self, &key, content_type, n));
        StreamingUpload {
            single,
            store: self.clone(),
            key,
            content_type,
            buffer: BytesMut::with_capacity(PART_SIZE),
            upload_id: None,
            parts: Vec::new(),
            in_flight: VecDeque::new(),
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
    /// The single PUT the chunks stream into, when the length is known.
    single: Option<SinglePut>,
    store: ObjectStore,
    key: String,
    content_type: &'static str,
    buffer: BytesMut,
    upload_id: Option<String>,
    parts: Vec<(i32, String)>,
    /// Part uploads under way, oldest first.
    in_flight: VecDeque<JoinHandle<anyhow::Result<(i32, String)>>>,
    total: u64,
}

impl StreamingUpload {
    /// Bytes passed to [`Self::write`] so far.
    pub fn bytes_written(&self) -> u64 {
        self.total
    }

    /// Appends `chunk`. In a multipart upload each full part is sent in the background,
    /// and this waits only while two are already under way. Fails when storage refuses,
    /// or when the chunks of a single PUT go past the length it announced.
    pub async fn write(&mut self, chunk: Bytes) -> anyhow::Result<()> {
        self.total += chunk.len() as u64;
        if let Some(single) = &mut self.single {
            return single.write(chunk, self.total).await;
        }
        let mut rest = &chunk[..];
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

    /// Sends the buffer as the next part, first waiting for the oldest part under way
    /// when enough are.
    async fn flush_part(&mut self) -> anyhow::Result<()> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.store.start_multipart(&self.key, self.content_type).await?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        if self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.wait_oldest().await?;
        }
        let number = (self.parts.len() + self.in_flight.len()) as i32 + 1;
        let (store, key, body) = (self.store.clone(), self.key.clone(), self.buffer.split().freeze());
        self.buffer.reserve(PART_SIZE);
        self.in_flight.push_back(tokio::spawn(async move {
            let e_tag = store.upload_part(&key, &upload_id, number, body).await?;
            Ok((number, e_tag))
        }));
        Ok(())
    }

    async fn wait_oldest(&mut self) -> anyhow::Result<()> {
        if let Some(oldest) = self.in_flight.pop_front() {
            let part = oldest.await.context("a part upload panicked")??;
            self.parts.push(part);
        }
        Ok(())
    }

    /// Makes the object visible. Returns its size.
    pub async fn finish(&mut self) -> anyhow::Result<u64> {
        if let Some(single) = self.single.take() {
            single.finish(self.total).await?;
            return Ok(self.total);
        }
        let Some(upload_id) = self.upload_id.clone() else {
            let body = self.buffer.split().freeze();
            self.store.put_bytes(&self.key, body, self.content_type).await?;
            return Ok(self.total);
        };
        if !self.buffer.is_empty() {
            self.flush_part().await?;
        }
        while !self.in_flight.is_empty() {
            self.wait_oldest().await?;
        }
        self.store.complete_multipart(&self.key, &upload_id, &std::mem::take(&mut self.parts)).await?;
        // Complete: nothing left to abort.
        self.upload_id = None;
        Ok(self.total)
    }

    /// Drops everything written so far; nothing half-written stays in storage.
    /// (Also what dropping it unfinished does, in the background.)
    pub async fn abort(&mut self) -> anyhow::Result<()> {
        if let Some(single) = self.single.take() {
            single.abort().await;
        }
        // Parts still being sent finish (or fail) first, so none lands after the abort.
        while let Some(part) = self.in_flight.pop_front() {
            let _ = part.await;
        }
        if let Some(upload_id) = self.upload_id.take() {
            self.store.abort_multipart(&self.key, &upload_id).await?;
        }
        Ok(())
    }
}

impl Drop for StreamingUpload {
    fn drop(&mut self) {
        let Some(upload_id) = self.upload_id.clone() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (store, key, in_flight) = (self.store.clone(), self.key.clone(), std::mem::take(&mut self.in_flight));
        runtime.spawn(async move {
            for part in in_flight {
                let _ = part.await;
            }
            match store.abort_multipart(&key, &upload_id).await {
                Ok(_) => tracing::info!(%key, "aborted the multipart upload of a cancelled request"),
                Err(e) => tracing::warn!(%key, error = %e, "could not abort an abandoned multipart upload"),
            }
        });
    }
}

type BodyFrame = Result<http_body::Frame<Bytes>, std::io::Error>;

/// One PUT whose body is fed chunk by chunk: memory holds only the chunks in flight,
/// and storage writes the object once, as it arrives. A body that ends early or goes
/// past its length fails the PUT, so nothing is stored.
struct SinglePut {
    body: Option<futures::channel::mpsc::Sender<BodyFrame>>,
    length: u64,
    /// The PUT under way; taken when its outcome is awaited.
    request: Option<JoinHandle<anyhow::Result<()>>>,
}

impl SinglePut {
    fn start(store: &ObjectStore, key: &str, content_type: &str, length: u64) -> Self {
        let (body, chunks) = futures::channel::mpsc::channel::<BodyFrame>(8);
        let stream = ByteStream::from_body_1_x(http_body_util::StreamBody::new(chunks));
        let request = store
            .client
            .put_object()
            .bucket(&store.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(i64::try_from(length).unwrap_or(i64::MAX))
            .body(stream)
            .customize()
            .disable_payload_signing()
            .send();
        let key = key.to_owned();
        let request = tokio::spawn(async move {
            request.await.map(drop).map_err(anyhow::Error::new).with_context(|| format!("writing object {key}"))
        });
        Self { body: Some(body), length, request: Some(request) }
    }

    /// Sends `chunk`; `total` is the length written so far including it.
    async fn write(&mut self, chunk: Bytes, total: u64) -> anyhow::Result<()> {
        use futures::SinkExt;
        anyhow::ensure!(total <= self.length, "the body is longer than the {} bytes announced", self.length);
        let body = self.body.as_mut().context("the upload is finished")?;
        if body.send(Ok(http_body::Frame::data(chunk))).await.is_err() {
            // Storage stopped reading: its answer says why.
            self.body = None;
            return Err(self.outcome().await.err().unwrap_or_else(|| anyhow::anyhow!("storage stopped reading")));
        }
        Ok(())
    }

    async fn finish(mut self, total: u64) -> anyhow::Result<()> {
        anyhow::ensure!(total == self.length, "the body has {total} bytes, not the {} announced", self.length);
        self.body = None;
        self.outcome().await
    }

    async fn abort(mut self) {
        self.cancel();
        let _ = self.outcome().await;
    }

    async fn outcome(&mut self) -> anyhow::Result<()> {
        let request = self.request.take().context("the upload already failed")?;
        request.await.context("the storage request panicked")?
    }

    /// Fails the body, so storage drops what it received.
    fn cancel(&mut self) {
        if let Some(mut body) = self.body.take() {
            let _ = body.try_send(Err(std::io::Error::other("upload cancelled")));
        }
    }
}

impl Drop for SinglePut {
    fn drop(&mut self) {
        self.cancel();
    }
}
