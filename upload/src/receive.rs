//! Appending a request body to a resumable upload, with memory bounded by one part.
//!
//! Full parts go to the S3 multipart upload of `raw/{id}/source` and are recorded; what
//! is left when the body ends — or the client goes away — is kept in the tail object,
//! so every byte received is stored before the offset says so. The last byte completes
//! the object and turns the upload into a queued video.

use axum::body::Body;
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use streambox_core::uploads::{self, Part, Upload, UploadLock};
use streambox_http::error_codes as codes;
use streambox_http::{ApiError, ApiResult, AppState};
use streambox_storage::PART_SIZE;
use streambox_storage::layout::keys;

use streambox_storage::container::{self, Container};

use crate::measure::Receiving;

/// Appends `body` at the upload's stored offset; returns the new offset. Runs to the
/// end on its own task, so a client that disconnects still has what it sent stored.
pub async fn append(state: AppState, upload: Upload, lock: UploadLock, body: Body) -> ApiResult<u64> {
    let task = tokio::spawn(async move {
        let outcome = match Appender::resume(state, upload).await {
            Ok(appender) => appender.run(body).await,
            Err(e) => Err(e),
        };
        lock.release().await;
        outcome
    });
    task.await.map_err(ApiError::internal)?
}

struct Appender {
    state: AppState,
    upload: Upload,
    parts: Vec<Part>,
    /// Bytes after the recorded parts, fewer than a part.
    buffer: BytesMut,
}

impl Appender {
    async fn resume(state: AppState, upload: Upload) -> ApiResult<Self> {
        let parts = uploads::parts(&state.db, upload.id).await?;
        let mut buffer = BytesMut::with_capacity(PART_SIZE);
        if upload.tail_bytes > 0 {
            let tail = state.storage.get(&keys::upload_tail(upload.id)).await.map_err(ApiError::storage)?;
            let tail = match tail {
                Some(object) => object.body.collect().await.map_err(ApiError::storage)?.into_bytes(),
                None => Bytes::new(),
            };
            let wanted = usize::try_from(upload.tail_bytes).unwrap_or(usize::MAX);
            if tail.len() < wanted {
                return Err(ApiError::internal(format!("the tail of upload {} is missing", upload.id)));
            }
            buffer.extend_from_slice(&tail[..wanted]);
        }
        Ok(Self { state, upload, parts, buffer })
    }

    fn parts_end(&self) -> u64 {
        self.parts.iter().map(|p| u64::try_from(p.size).unwrap_or(0)).sum()
    }

    fn received(&self) -> u64 {
        self.parts_end() + self.buffer.len() as u64
    }

    fn length(&self) -> u64 {
        u64::try_from(self.upload.length).unwrap_or(0)
    }

    async fn run(mut self, body: Body) -> ApiResult<u64> {
        let mut stream = body.into_data_stream();
        let receiving = Receiving::start(&self.state.metrics, "tus");
        let outcome = loop {
            let chunk = match stream.next().await {
                None => break Ok(()),
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    tracing::info!(upload = %self.upload.id, error = %e, "client stopped sending; keeping what arrived");
                    break Err(ApiError::bad_request(codes::INCOMPLETE_BODY, "the request body ended early"));
                }
            };
            if self.received() + chunk.len() as u64 > self.length() {
                break Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    codes::EXCEEDS_UPLOAD_LENGTH,
                    format!("the upload is {} bytes long; this request goes past its end", self.length()),
                ));
            }
            receiving.received(chunk.len());
            self.buffer.extend_from_slice(&chunk);
            self.check_content(false).await?;
            while self.buffer.len() >= PART_SIZE {
                let part = self.buffer.split_to(PART_SIZE).freeze();
                self.store_part(part).await?;
            }
        };
        if self.received() == self.length() {
            self.check_content(true).await?;
            self.assemble().await?;
            return Ok(self.length());
        }
        let stored = self.keep_tail().await?;
        outcome.map(|()| stored)
    }

    /// A file that does not start like a video is refused, and discarded, as soon as
    /// its first bytes are known.
    async fn check_content(&self, complete: bool) -> ApiResult<()> {
        let known = self.parts.is_empty() && (complete || self.buffer.len() >= container::NEEDED);
        if !known || Container::sniff(&self.buffer).is_some() {
            return Ok(());
        }
        let current = uploads::find(&self.state.db, self.upload.id).await?.unwrap_or_else(|| self.upload.clone());
        uploads::discard(&self.state, &current).await.map_err(ApiError::storage)?;
        Err(not_a_video())
    }

    async fn store_part(&mut self, bytes: Bytes) -> ApiResult<()> {
        let storage = &self.state.storage;
        let key = keys::source(self.upload.id);
        let multipart_id = match &self.upload.multipart_id {
            Some(id) => id.clone(),
            None => {
                let id = storage.start_multipart(&key, "application/octet-stream").await.map_err(ApiError::storage)?;
                uploads::set_multipart_id(&self.state.db, self.upload.id, &id).await?;
                self.upload.multipart_id = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as i32 + 1;
        let size = bytes.len() as i64;
        let e_tag = storage.upload_part(&key, &multipart_id, number, bytes).await.map_err(ApiError::storage)?;
        let part = Part { part_number: number, e_tag, size };
        uploads::record_part(&self.state.db, self.upload.id, &part).await?;
        self.parts.push(part);
        Ok(())
    }

    /// Stores the bytes short of a part; returns the stored offset.
    async fn keep_tail(&mut self) -> ApiResult<u64> {
        let tail = self.buffer.split().freeze();
        if !tail.is_empty() {
            let key = keys::upload_tail(self.upload.id);
            self.state
                .storage
                .put_bytes(&key, tail.clone(), "application/octet-stream")
                .await
                .map_err(ApiError::storage)?;
        }
        let stored = uploads::record_tail(&self.state.db, self.upload.id, tail.len() as i64).await?;
        Ok(u64::try_from(stored).unwrap_or(0))
    }

    /// The last byte is in: complete the source object and make the video.
    async fn assemble(&mut self) -> ApiResult<()> {
        if !self.buffer.is_empty() || self.parts.is_empty() {
            let last = self.buffer.split().freeze();
            self.store_part(last).await?;
        }
        let multipart_id = self.upload.multipart_id.clone().ok_or_else(|| ApiError::internal("no multipart upload"))?;
        let parts: Vec<_> = self.parts.iter().map(|p| (p.part_number, p.e_tag.clone())).collect();
        let storage = &self.state.storage;
        storage
            .complete_multipart(&keys::source(self.upload.id), &multipart_id, &parts)
            .await
            .map_err(ApiError::storage)?;
        uploads::mark_assembled(&self.state.db, self.upload.id).await?;
        self.upload.assembled = true;
        uploads::into_video(&self.state, &self.upload).await?;
        Ok(())
    }
}

pub fn not_a_video() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        codes::NOT_A_VIDEO,
        "the file is not a video container StreamBox accepts (mp4, mov, mkv, webm, avi, mpeg-ts, mpeg-ps, flv, wmv, ogg)",
    )
}

pub fn too_large(max: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, codes::TOO_LARGE, format!("uploads are limited to {max} bytes"))
}
