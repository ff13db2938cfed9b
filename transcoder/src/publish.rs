//! Uploads the finished output: previews, the VOD and I-frame playlists (their segments are in
//! storage already, put there by `live` as ffmpeg wrote them), and the measured master
//! last, so a playlist never points at an object that is not there yet. Every segment
//! goes through [`upload`], which encrypts it when the video has a key (`crate::encryption`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use sqlx::PgPool;
use streambox_base::ids::VideoId;
use streambox_core::captions::publish as captions;
use streambox_core::segment_keys::SegmentKey;
use streambox_storage::ObjectStore;
use streambox_storage::layout::{IFRAME_PLAYLIST, MASTER, PLAYLIST, keys};

use crate::encryption;

const PARALLEL_UPLOADS: usize = 4;
/// The content type of every playlist.
pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const SEGMENT_TYPE: &str = "video/mp2t";
/// fMP4 segments and initialization segments.
const FMP4_TYPE: &str = "video/mp4";

/// Every rendition's finished playlist under `out`, published as the VOD playlist it
/// now is (ffmpeg wrote an EVENT one, complete with its ENDLIST; naming its segments' key
/// when `encrypted`), and each rung's I-frame playlist as written; not the master.
pub async fn playlists(storage: &ObjectStore, video: VideoId, out: &Path, encrypted: bool) -> anyhow::Result<()> {
    let playlists = output_files(out)?
        .into_iter()
        .filter(|(_, name)| name.ends_with(&format!("/{PLAYLIST}")) || name.ends_with(&format!("/{IFRAME_PLAYLIST}")));
    futures::stream::iter(playlists)
        .map(|(path, relative)| async move {
            let raw = std::fs::read(&path).with_context(|| format!("reading {relative}"))?;
            let rendition = relative.split('/').next().unwrap_or_default();
            let body = match relative.ends_with(IFRAME_PLAYLIST) {
                true => raw,
                false => vod_playlist(&raw, encrypted.then_some(rendition))?,
            };
            storage.put_bytes(&format!("{}{relative}", keys::hls_prefix(video)), body.into(), PLAYLIST_TYPE).await
        })
        .buffer_unordered(PARALLEL_UPLOADS)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// ffmpeg's finished EVENT playlist as a VOD playlist: the same segments, now final,
/// with their key lines when they are `encrypted_as` that rendition's.
fn vod_playlist(raw: &[u8], encrypted_as: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let mut playlist = m3u8_rs::parse_media_playlist_res(raw)
        .map_err(|e| anyhow::anyhow!("ffmpeg wrote an unreadable playlist: {e}"))?;
    anyhow::ensure!(playlist.end_list, "ffmpeg's playlist has no end");
    playlist.playlist_type = Some(m3u8_rs::MediaPlaylistType::Vod);
    if let Some(rendition) = encrypted_as {
        encryption::label(&mut playlist, rendition);
    }
    let mut bytes = Vec::new();
    playlist.write_to(&mut bytes)?;
    Ok(bytes)
}

/// The files directly in `dir` (the storyboard) beside the renditions.
pub async fn previews(storage: &ObjectStore, video: VideoId, dir: &Path) -> anyhow::Result<()> {
    upload(storage, video, output_files(dir)?, None).await
}

/// The master playlist in `out`, naming the video's caption tracks: once this is
/// stored, the video can be played.
pub async fn master(db: &PgPool, storage: &ObjectStore, video: VideoId, out: &Path) -> anyhow::Result<()> {
    let path = out.join(MASTER);
    anyhow::ensure!(path.is_file(), "the output has no master playlist");
    let body = tokio::fs::read(&path).await.context("reading the master playlist")?;
    captions::publish_master(db, storage, video, &body).await
}

/// Stores each `(path, "720p/seg_000.ts")` under the video's prefix, a few at a time;
/// with the video's `key`, each encrypted (segments only are given with one).
pub async fn upload(
    storage: &ObjectStore,
    video: VideoId,
    files: Vec<(PathBuf, String)>,
    key: Option<&SegmentKey>,
) -> anyhow::Result<()> {
    futures::stream::iter(files)
        .map(|(path, relative)| async move {
            let object = format!("{}{relative}", keys::hls_prefix(video));
            let Some(key) = key else { return storage.put_file(&object, &path, content_type(&relative)).await };
            let plain = tokio::fs::read(&path).await.with_context(|| format!("reading {relative}"))?;
            let encrypted = encryption::encrypt(key, &relative, plain)?;
            storage.put_bytes(&object, encrypted.into(), content_type(&relative)).await
        })
        .buffer_unordered(PARALLEL_UPLOADS)
        // Every upload runs to its end before an error is returned: one dropped mid-request
        // could still be written after a failed job has withdrawn the video's files.
        .collect::<Vec<anyhow::Result<()>>>()
        .await
        .into_iter()
        .collect()
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
        Some("m3u8") => PLAYLIST_TYPE,
        Some("jpg") => "image/jpeg",
        Some("vtt") => "text/vtt; charset=utf-8",
        Some("m4s" | "mp4") => FMP4_TYPE,
        _ => SEGMENT_TYPE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_event_playlist_is_published_as_vod() {
        let raw = b"#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n\
            #EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXTINF:6.000000,\nseg_000.ts\n\
            #EXTINF:2.500000,\nseg_001.ts\n#EXT-X-ENDLIST\n";
        let text = String::from_utf8(vod_playlist(raw, None).unwrap()).unwrap();
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && !text.contains("EVENT"), "{text}");
        assert!(text.contains("seg_001.ts") && text.trim_end().ends_with("#EXT-X-ENDLIST"), "{text}");
        let unfinished = &raw[..raw.len() - "#EXT-X-ENDLIST\n".len()];
        assert!(vod_playlist(unfinished, None).is_err(), "a playlist ffmpeg did not finish is never published as VOD");
        let encrypted = String::from_utf8(vod_playlist(raw, Some("720p")).unwrap()).unwrap();
        assert_eq!(encrypted.matches("#EXT-X-KEY:METHOD=AES-128").count(), 2, "{encrypted}");
    }
}
