//! Captions the source carries become caption tracks of the video: ffmpeg turns each
//! text subtitle stream the probe took (`crate::tracks`: mov_text, SubRip, WebVTT, ASS)
//! into WebVTT, reading only the source it is given with the encode's own input
//! hardening (`probe::Input`); each file is normalised by the code owners' uploads go
//! through and stored as an `embedded` track, published like an uploaded one.
//!
//! An owner's uploaded track of the same language wins: an embedded track never
//! replaces it (`streambox_db::captions::put`), while a later upload replaces an
//! embedded one. Closed captions inside the video stream (CEA-608/708) are not taken:
//! ffmpeg extracts them only through its `movie` source filter, which opens a file by
//! name outside the input allow-list. A stream that cannot be read is left out with a
//! log line; it never fails the video.

use std::path::{Path, PathBuf};

use sqlx::PgPool;
use streambox_base::ids::VideoId;
use streambox_core::captions::publish::{self, Change};
use streambox_core::captions::webvtt;
use streambox_db::captions::CaptionSource;
use streambox_storage::ObjectStore;

use crate::ffmpeg::{self, Limits};
use crate::job;
use crate::probe::Input;
use crate::tracks::SubtitleTrack;

/// The largest WebVTT one subtitle stream may become (four times what an owner may
/// upload: a long film's dialogue fits); a larger one is left out.
const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Extracts `tracks` from `input` into `work` and stores each as `video`'s embedded
/// caption track of its language. Errors are the database's or storage's only.
pub async fn take(
    db: &PgPool,
    storage: &ObjectStore,
    video: VideoId,
    input: &Input,
    tracks: &[SubtitleTrack],
    work: &Path,
    limits: Limits,
) -> anyhow::Result<()> {
    if tracks.is_empty() {
        return Ok(());
    }
    let dir = work.join("embedded-captions");
    tokio::fs::create_dir_all(&dir).await?;
    let files: Vec<PathBuf> = (0..tracks.len()).map(|k| dir.join(format!("{k}.vtt"))).collect();
    if let Err(e) = ffmpeg::run(extract_args(input, tracks, &files), limits, |_| {}).await {
        let error = job::without_urls(&e.to_string());
        tracing::warn!(video_id = %video, %error, "the source's subtitles could not be read; no embedded captions");
        return Ok(());
    }
    for (track, file) in tracks.iter().zip(&files) {
        let Some(vtt) = normalised(video, track, file).await else { continue };
        let change =
            Change::Put { lang: &track.language, label: &track.name, source: CaptionSource::Embedded, vtt: &vtt };
        match publish::change(db, storage, video, change).await? {
            true => tracing::info!(video_id = %video, lang = %track.language, "embedded caption track taken"),
            false => tracing::info!(video_id = %video, lang = %track.language, "an uploaded caption track is kept"),
        }
    }
    Ok(())
}

/// One WebVTT output per track, from the one input ffmpeg may open; each stops growing
/// past [`MAX_BYTES`].
fn extract_args(input: &Input, tracks: &[SubtitleTrack], files: &[PathBuf]) -> Vec<String> {
    let mut args: Vec<String> = vec!["-y".into()];
    args.extend(input.args());
    for (track, file) in tracks.iter().zip(files) {
        args.extend(["-map".into(), format!("0:{}", track.stream)]);
        args.extend(["-c:s", "webvtt", "-fs", &MAX_BYTES.to_string(), "-f", "webvtt"].map(String::from));
        args.push(format!("file:{}", file.display()));
    }
    args
}

/// The extracted track as normal WebVTT, or `None` (logged) when it is too large or
/// has no cues.
async fn normalised(video: VideoId, track: &SubtitleTrack, file: &Path) -> Option<String> {
    let skip = |reason: &str| {
        tracing::info!(video_id = %video, stream = track.stream, reason, "a subtitle stream is not taken");
        None
    };
    match tokio::fs::metadata(file).await {
        Ok(meta) if meta.len() >= MAX_BYTES => return skip("larger than captions may be"),
        Ok(_) => {}
        Err(_) => return skip("ffmpeg wrote nothing for it"),
    }
    let bytes = tokio::fs::read(file).await.ok()?;
    match webvtt::parse(&bytes) {
        Ok(cues) => Some(webvtt::render(&cues)),
        Err(e) => skip(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streambox_base::language::LanguageTag;
    use streambox_storage::container::Container;

    #[test]
    fn each_track_is_read_from_the_one_hardened_input_into_its_own_file() {
        let input = Input::new(Path::new("/w/source"), Container::Mp4);
        let track =
            |stream, lang| SubtitleTrack { stream, language: LanguageTag::parse(lang).unwrap(), name: lang.into() };
        let files = [PathBuf::from("/w/c/0.vtt"), PathBuf::from("/w/c/1.vtt")];
        let args = extract_args(&input, &[track(3, "es"), track(5, "de")], &files).join(" ");
        assert_eq!(args.matches("-i ").count(), 1, "{args}");
        assert!(args.contains("-f mov -protocol_whitelist file -i file:/w/source"), "{args}");
        assert!(args.contains("-map 0:3 -c:s webvtt -fs 4194304 -f webvtt file:/w/c/0.vtt"), "{args}");
        assert!(args.ends_with("-map 0:5 -c:s webvtt -fs 4194304 -f webvtt file:/w/c/1.vtt"), "{args}");
    }
}
