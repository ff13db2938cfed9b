//! Object storage through aws-sdk-s3 against the embedded S3 endpoint (s3s-fs).

use rand::RngCore;
use streambox_base::config::S3Config;
use streambox_storage::embedded_s3;
use streambox_storage::{ObjectStore, PART_SIZE};
use tokio_util::sync::CancellationToken;

async fn store(dir: &std::path::Path, shutdown: CancellationToken) -> ObjectStore {
    let config = S3Config {
        endpoint: None,
        public_endpoint: None,
        bucket: "storage-test".into(),
        access_key: "test-access".into(),
        secret_key: streambox_base::config::Secret::new("test-secret-key"),
        region: "us-east-1".into(),
    };
    let endpoint = embedded_s3::start(dir, &config, shutdown).await.unwrap();
    let store = ObjectStore::new(&config, &endpoint);
    store.ensure_bucket().await.unwrap();
    store
}

async fn read_all(store: &ObjectStore, key: &str) -> Vec<u8> {
    let object = store.get(key).await.unwrap().expect("object exists");
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn a_large_stream_is_stored_part_by_part_and_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let store = store(dir.path(), shutdown.clone()).await;

    let mut data = vec![0u8; 2 * PART_SIZE + 12_345];
    rand::rng().fill_bytes(&mut data);
    let mut upload = store.streaming_upload("raw/big".into(), "application/octet-stream", None);
    for chunk in data.chunks(100_000) {
        upload.write(bytes::Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(upload.finish().await.unwrap(), data.len() as u64);
    assert!(read_all(&store, "raw/big").await == data, "bytes differ");
    shutdown.cancel();
}

#[tokio::test]
async fn a_download_comes_in_parallel_ranges_and_equals_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let store = store(dir.path(), shutdown.clone()).await;
    let scratch = tempfile::tempdir().unwrap();

    // Three whole 8 MiB ranges and a short fourth.
    let mut data = vec![0u8; 3 * 8 * 1024 * 1024 + 777];
    rand::rng().fill_bytes(&mut data);
    store.put_bytes("raw/large", data.clone().into(), "application/octet-stream").await.unwrap();
    let before = store.gets_issued();
    let dest = scratch.path().join("large");
    assert_eq!(store.download("raw/large", &dest).await.unwrap(), Some(data.len() as u64));
    assert_eq!(store.gets_issued() - before, 4, "one GET per 8 MiB range");
    assert!(std::fs::read(&dest).unwrap() == data, "downloaded bytes differ");

    store.put_bytes("raw/empty", bytes::Bytes::new(), "application/octet-stream").await.unwrap();
    let empty = scratch.path().join("empty");
    assert_eq!(store.download("raw/empty", &empty).await.unwrap(), Some(0));
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);

    assert_eq!(store.download("raw/absent", &scratch.path().join("absent")).await.unwrap(), None);
    assert!(!scratch.path().join("absent").exists(), "nothing is created for an absent object");
    shutdown.cancel();
}

#[tokio::test]
async fn a_small_stream_is_one_object_and_an_aborted_one_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let store = store(dir.path(), shutdown.clone()).await;

    let mut small = store.streaming_upload("raw/small".into(), "application/octet-stream", None);
    small.write(bytes::Bytes::from_static(b"hello")).await.unwrap();
    small.finish().await.unwrap();
    assert_eq!(read_all(&store, "raw/small").await, b"hello");

    let mut aborted = store.streaming_upload("raw/aborted".into(), "application/octet-stream", None);
    aborted.write(vec![7u8; PART_SIZE + 1].into()).await.unwrap();
    aborted.abort().await.unwrap();
    assert!(store.get("raw/aborted").await.unwrap().is_none());
    assert_eq!(store.list("raw/").await.unwrap(), ["raw/small"]);
    shutdown.cancel();
}

/// Parts of unfinished multipart uploads: s3s-fs keeps them as `.upload_id-*` files in its root.
fn parts_in_progress(root: &std::path::Path) -> usize {
    std::fs::read_dir(root)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".upload_id-"))
        .count()
}

#[tokio::test]
async fn an_upload_dropped_midway_aborts_its_parts() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let store = store(dir.path(), shutdown.clone()).await;

    let mut abandoned = store.streaming_upload("raw/abandoned".into(), "application/octet-stream", None);
    abandoned.write(vec![1u8; PART_SIZE + 10].into()).await.unwrap();
    // Parts are sent while the next is gathered: wait for the first to arrive.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while parts_in_progress(dir.path()) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no part was uploaded");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The request holding it is cancelled (the client disconnected): it is simply dropped.
    drop(abandoned);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while parts_in_progress(dir.path()) > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the abandoned multipart upload was not aborted");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(store.get("raw/abandoned").await.unwrap().is_none());
    shutdown.cancel();
}
