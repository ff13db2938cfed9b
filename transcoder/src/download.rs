//! The downloadable MP4: one rung's segments and its audio (the source's default track,
//! whose renditions keep their group's name) remuxed, never encoded again (`-c copy`),
//! into an MP4 whose index comes before its media (`faststart`), so a browser plays it
//! while it is still downloading. Made from the
//! published renditions once a video is finished, on the one-run path from the run's
//! own output and on the chunked path from what the parts put in storage.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use streambox_base::ids::VideoId;
use streambox_core::segment_keys::SegmentKey;
use streambox_storage::ObjectStore;
use streambox_storage::layout::{self, PLAYLIST, keys};
use tokio::io::AsyncReadExt;

use crate::audio;
use crate::encryption;
use crate::error::JobError;
use crate::ffmpeg::{self, Limits};
use crate::job;
use crate::ladder::Rung;

/// The content type of the download.
pub const CONTENT_TYPE: &str = "video/mp4";
/// The local playlist naming the two renditions for ffmpeg, beside them.
const PAIR: &str = "download.m3u8";
/// Bytes read from the finished MP4 per write of its upload.
const UPLOAD_CHUNK: usize = 1024 * 1024;

/// The rung a download is made of: the largest whose short side is at most `wanted`
/// pixels, else (every rung is larger) the smallest. `rungs` are largest first.
pub fn pick(rungs: &[Rung], wanted: u32) -> &Rung {
    let short = |rung: &Rung| rung.width.min(rung.height);
    rungs.iter().find(|rung| short(rung) <= wanted).unwrap_or_else(|| &rungs[rungs.len() - 1])
}

/// Remuxes `rung` (and the audio rendition, when the video has sound) from the
/// renditions under `hls` (`{rung}/index.m3u8`, `audio/index.m3u8` and their segments)
/// and stores the MP4 under [`keys::download`]. `duration_s` is the source's (it bounds
/// the run's wall clock); `stall` the configured ffmpeg stall timeout.
pub async fn publish(
    storage: &ObjectStore,
    video: VideoId,
    hls: &Path,
    rung: &Rung,
    has_audio: bool,
    duration_s: f64,
    stall: Duration,
) -> Result<(), JobError> {
    let pair = hls.join(PAIR);
    tokio::fs::write(&pair, pair_playlist(rung, has_audio)).await.context("writing the download playlist")?;
    let mp4 = hls.join(layout::DOWNLOAD);
    let limits = Limits { stall, wall_clock: job::wall_clock_cap(duration_s) };
    ffmpeg::run(remux_args(&pair, &mp4, has_audio), limits, |_| {}).await.map_err(job::classify)?;
    upload(storage, &keys::download(video), &mp4).await?;
    tracing::info!(video_id = %video, rung = %rung.name, "download published");
    Ok(())
}

/// A master playlist of just the two renditions, the rung and the audio it plays: ffmpeg
/// then reads them as one input on the timeline they share, so the picture keeps its
/// place against the sound (two inputs would each be moved to start at zero).
fn pair_playlist(rung: &Rung, has_audio: bool) -> String {
    let mut playlist = String::from("#EXTM3U\n");
    if has_audio {
        let audio = audio::of(rung).name;
        playlist.push_str(&format!(
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{audio}\",NAME=\"{audio}\",DEFAULT=YES,AUTOSELECT=YES,URI=\"{audio}/{PLAYLIST}\"\n"
        ));
        playlist.push_str(&format!("#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"{audio}\"\n"));
    } else {
        playlist.push_str("#EXT-X-STREAM-INF:BANDWIDTH=1\n");
    }
    playlist.push_str(&format!("{}/{PLAYLIST}\n", rung.name));
    playlist
}

/// ffmpeg reading only local files (the playlists and the segments they name) and
/// copying the streams into an MP4 with its index first.
fn remux_args(pair: &Path, mp4: &Path, has_audio: bool) -> Vec<String> {
    let mut args: Vec<String> = ["-y", "-f", "hls", "-protocol_whitelist", "file", "-i"].map(String::from).to_vec();
    args.push(format!("file:{}", pair.display()));
    args.extend(["-map", "0:v:0"].map(String::from));
    if has_audio {
        // ADTS frames in MPEG-TS become the MP4's raw AAC.
        args.extend(["-map", "0:a:0", "-bsf:a", "aac_adtstoasc"].map(String::from));
    }
    args.extend(["-c", "copy", "-movflags", "+faststart", "-f", "mp4"].map(String::from));
    args.push(format!("file:{}", mp4.display()));
    args
}

/// Streams the local file into storage, one chunk in memory at a time (a long video's
/// download may be larger than one PUT takes).
async fn upload(storage: &ObjectStore, key: &str, path: &Path) -> anyhow::Result<()> {
    let mut file = tokio::fs::File::open(path).await.context("opening the download")?;
    let length = file.metadata().await?.len();
    let mut upload = storage.streaming_upload(key.to_owned(), CONTENT_TYPE, Some(length));
    let mut buffer = vec![0; UPLOAD_CHUNK];
    loop {
        let read = file.read(&mut buffer).await.context("reading the download")?;
        if read == 0 {
            break;
        }
        if let Err(e) = upload.write(buffer[..read].to_vec().into()).await {
            upload.abort().await.ok();
            return Err(e);
        }
    }
    upload.finish().await?;
    Ok(())
}

/// Copies a published rendition (its VOD playlist and every segment it names) from
/// storage into `hls/{name}/`: a chunked video's segments were written by many
/// workers. Only names the layout makes are taken from the playlist. An encrypted
/// video's segments are decrypted with its `key` on the way, and the local playlist
/// names no key: ffmpeg reads them as a clear video's.
pub async fn fetch_rendition(
    storage: &ObjectStore,
    video: VideoId,
    name: &str,
    hls: &Path,
    key: Option<&SegmentKey>,
) -> anyhow::Result<()> {
    let dir = hls.join(name);
    tokio::fs::create_dir_all(&dir).await?;
    let playlist_path = dir.join(PLAYLIST);
    storage
        .download(&keys::rendition_file(video, name, PLAYLIST), &playlist_path)
        .await?
        .with_context(|| format!("the {name} playlist is missing"))?;
    let raw = tokio::fs::read(&playlist_path).await?;
    let mut playlist = m3u8_rs::parse_media_playlist_res(&raw)
        .map_err(|e| anyhow::anyhow!("the {name} playlist is unreadable: {e}"))?;
    for segment in &playlist.segments {
        anyhow::ensure!(layout::is_segment_name(&segment.uri), "the {name} playlist names an unexpected file");
        let path = dir.join(&segment.uri);
        storage
            .download(&keys::rendition_file(video, name, &segment.uri), &path)
            .await?
            .with_context(|| format!("segment {} of {name} is missing", segment.uri))?;
        if let Some(key) = key {
            let encrypted = tokio::fs::read(&path).await?;
            let plain = encryption::decrypt(key, &format!("{name}/{}", segment.uri), encrypted)?;
            tokio::fs::write(&path, plain).await?;
        }
    }
    if key.is_some() {
        encryption::unlabel(&mut playlist);
        let mut clear = Vec::new();
        playlist.write_to(&mut clear)?;
        tokio::fs::write(&playlist_path, clear).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ladder::Level;

    fn rung(short: u32) -> Rung {
        Rung {
            name: layout::rung_name(short),
            width: short * 16 / 9,
            height: short,
            video_kbps: 1000,
            level: Level::for_stream(short * 16 / 9, short, 30.0, 1070),
        }
    }

    #[test]
    fn the_download_is_the_largest_rung_at_or_below_the_wanted_one_else_the_smallest() {
        let ladder = [rung(1080), rung(720), rung(480)];
        assert_eq!(pick(&ladder, 720).name, "720p");
        assert_eq!(pick(&ladder, 1000).name, "720p");
        assert_eq!(pick(&ladder, 4000).name, "1080p");
        assert_eq!(pick(&ladder, 360).name, "480p");
        assert_eq!(pick(&[rung(480)], 720).name, "480p");
    }

    /// A rung under 192 kbit/s plays the low-rate audio (a small source's only rung may be
    /// one): its download pairs it with that, the only audio such a video may have.
    #[test]
    fn the_download_pairs_the_rung_with_the_audio_it_plays() {
        let shared = pair_playlist(&rung(720), true);
        assert!(shared.contains("AUDIO=\"audio\"") && shared.contains("URI=\"audio/index.m3u8\""), "{shared}");
        let low = pair_playlist(&Rung { video_kbps: 80, ..rung(240) }, true);
        assert!(low.contains("AUDIO=\"audio_low\"") && low.contains("URI=\"audio_low/index.m3u8\""), "{low}");
        assert!(low.ends_with("240p/index.m3u8\n"), "{low}");
        assert!(!pair_playlist(&rung(720), false).contains("AUDIO"));
    }

    #[test]
    fn ffmpeg_reads_only_local_files_and_copies_with_the_index_first() {
        let args = remux_args(Path::new("/w/hls/download.m3u8"), Path::new("/w/hls/video.mp4"), true);
        let joined = args.join(" ");
        assert!(joined.contains("-protocol_whitelist file -i file:/w/hls/download.m3u8"), "{joined}");
        assert!(joined.contains("-c copy") && joined.contains("-movflags +faststart"), "{joined}");
        assert!(joined.contains("-bsf:a aac_adtstoasc"), "{joined}");
        let silent = remux_args(Path::new("/w/p"), Path::new("/w/o"), false).join(" ");
        assert!(!silent.contains("0:a:0"), "{silent}");
    }
}
