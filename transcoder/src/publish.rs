//! Uploads the finished output: segments, previews and variant playlists first, the
//! master last, so a playlist never points at an object that is not there yet.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use streambox_base::ids::VideoId;
use streambox_storage::ObjectStore;
use streambox_storage::layout::{MASTER, keys};

const PARALLEL_UPLOADS: usize = 4;

/// Every rendition under `out` (segments, then variant playlists); not the master.
pub async fn renditions(storage: &ObjectStore, video: VideoId, out: &Path) -> anyhow::Result<()> {
    let files = output_files(out)?.into_iter().filter(|(_, name)| name != MASTER);
    let (playlists, media): (Vec<_>, Vec<_>) = files.partition(|(_, name)| name.ends_with(".m3u8"));
    upload(storage, video, media).await?;
    upload(storage, video, playlists).await
}

/// The files directly in `dir` (the storyboard) beside the renditions.
pub async fn previews(storage: &ObjectStore, video: VideoId, dir: &Path) -> anyhow::Result<()> {
    upload(storage, video, output_files(dir)?).await
}

/// The master playlist in `out`: once this is stored, the video can be played.
pub async fn master(storage: &ObjectStore, video: VideoId, out: &Path) -> anyhow::Result<()> {
    let path = out.join(MASTER);
    anyhow::ensure!(path.is_file(), "the output has no master playlist");
    upload(storage, video, vec![(path, MASTER.to_owned())]).await
}

async fn upload(storage: &ObjectStore, video: VideoId, files: Vec<(PathBuf, String)>) -> anyhow::Result<()> {
    futures::stream::iter(files)
        .map(|(path, relative)| async move {
            let key = format!("{}{relative}", keys::hls_prefix(video));
            storage.put_file(&key, &path, content_type(&relative)).await
        })
        .buffer_unordered(PARALLEL_UPLOADS)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// `(path, "720p/seg_000.ts")` for every file in `dir` and its rung directories.
fn output_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).context("listing the output")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_dir() {
            files.push((entry.path(), name));
            continue;
        }
        for file in std::fs::read_dir(entry.path())? {
            let file = file?;
            files.push((file.path(), format!("{name}/{}", file.file_name().to_string_lossy())));
        }
    }
    Ok(files)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("jpg") => "image/jpeg",
        Some("vtt") => "text/vtt; charset=utf-8",
        _ => "video/mp2t",
    }
}
