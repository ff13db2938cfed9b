//! Uploads the finished output: segments and previews first, then variant playlists,
//! the master last, so a playlist never points at an object that is not there yet.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use streambox_common::ids::VideoId;
use streambox_common::storage::{ObjectStore, keys};

use crate::master::MASTER_NAME;

const PARALLEL_UPLOADS: usize = 4;

pub async fn hls(storage: &ObjectStore, video: VideoId, out: &Path) -> anyhow::Result<()> {
    let files = output_files(out)?;
    let (master, rest): (Vec<_>, Vec<_>) = files.into_iter().partition(|(_, name)| name == MASTER_NAME);
    let (playlists, media): (Vec<_>, Vec<_>) = rest.into_iter().partition(|(_, name)| name.ends_with(".m3u8"));
    anyhow::ensure!(master.len() == 1, "the output has no master playlist");
    for batch in [media, playlists, master] {
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

/// `(path, "720p/seg_000.ts")` for every file in the output and its rung directories.
fn output_files(out: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(out).context("listing the output")? {
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
