//! Uploads the finished ladder: segments first, then variant playlists, the master
//! last, so a playlist never points at a segment that is not there yet.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use streambox_common::ids::VideoId;
use streambox_common::storage::{ObjectStore, keys};

use crate::master::MASTER_NAME;

const PARALLEL_UPLOADS: usize = 4;

pub async fn hls(storage: &ObjectStore, video: VideoId, out: &Path) -> anyhow::Result<()> {
    let files = rendition_files(out)?;
    let (playlists, segments): (Vec<_>, Vec<_>) = files.into_iter().partition(|(_, name)| name.ends_with(".m3u8"));
    for batch in [segments, playlists, vec![(out.join(MASTER_NAME), MASTER_NAME.to_owned())]] {
        futures::stream::iter(batch)
            .map(|(path, relative)| async move {
                let key = format!("{}{relative}", keys::hls_prefix(video));
                storage.put_file(&key, &path, content_type(&relative)).await
            })
            .buffer_unordered(PARALLEL_UPLOADS)
            .try_collect::<Vec<()>>()
            .await?;
    }
    Ok(())
}

/// `(path, "720p/seg_000.ts")` for every file in every rung directory.
fn rendition_files(out: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for rung in std::fs::read_dir(out).context("listing the ladder output")? {
        let rung = rung?;
        if !rung.file_type()?.is_dir() {
            continue;
        }
        let rung_name = rung.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(rung.path())? {
            let file = file?;
            let name = file.file_name().to_string_lossy().into_owned();
            files.push((file.path(), format!("{rung_name}/{name}")));
        }
    }
    Ok(files)
}

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".m3u8") { "application/vnd.apple.mpegurl" } else { "video/mp2t" }
}
