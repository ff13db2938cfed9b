//! A chunked video's playlists from what its parts recorded: growing (EVENT) ones as
//! consecutive chunks finish, and at the end the VOD and I-frame playlists, the master
//! measured over each whole rung, the poster and the storyboard — the files one run
//! would publish. An encrypted video's playlists name each segment's key and IV, which
//! depend on the segment's name only, so stitching never changes them.

use std::path::Path;

use anyhow::Context;
use m3u8_rs::{MediaPlaylist, MediaPlaylistType, MediaSegment};
use sqlx::PgPool;
use streambox_base::ids::VideoId;
use streambox_core::App;
use streambox_core::captions::publish as captions;
use streambox_db::chunks::{Chunk, ChunkKind, ChunkState, PartOutput, RenditionOutput};
use streambox_db::videos::Rendition;
use streambox_storage::ObjectStore;
use streambox_storage::layout::{IFRAME_PLAYLIST, PLAYLIST, POSTER, keys};

use crate::audio;
use crate::encryption;
use crate::ladder::Rung;
use crate::master;
use crate::publish::{self, PLAYLIST_TYPE};
use crate::rates::SegmentSizes;
use crate::tracks::AudioTrack;
use crate::{iframes, storyboard};

/// Under [`keys::chunk_staging_prefix`]: the storyboard tiles, by tile number.
pub const TILES: &str = "tiles/";

/// The ladder the parts encode, as publishing needs it.
#[derive(Clone, Copy)]
pub struct Ladder<'a> {
    pub rungs: &'a [Rung],
    /// The source's audio tracks (none for a silent video).
    pub tracks: &'a [AudioTrack],
    pub frame_rate: f64,
    /// The video's segments are encrypted: its playlists name the key, and it has no
    /// I-frame playlists.
    pub encrypted: bool,
}

/// What the done parts of a video add up to.
pub struct Parts<'a> {
    chunks: &'a [Chunk],
}

impl<'a> Parts<'a> {
    pub fn new(chunks: &'a [Chunk]) -> Self {
        Self { chunks }
    }

    fn outputs(&self, kind: ChunkKind) -> impl Iterator<Item = (&'a Chunk, Option<&'a PartOutput>)> {
        self.chunks.iter().filter(move |c| c.kind == kind).map(|c| {
            let output = (c.state == ChunkState::Done).then_some(c.output.as_ref()).flatten().map(|o| &o.0);
            (c, output)
        })
    }

    /// The outputs of the video chunks done one after another from the first.
    fn done_from_start(&self) -> Vec<&'a PartOutput> {
        self.outputs(ChunkKind::Video).map_while(|(_, output)| output).collect()
    }

    fn all_video_done(&self) -> bool {
        self.outputs(ChunkKind::Video).all(|(_, output)| output.is_some())
    }

    /// `None`: the video is silent; `Some(None)`: its audio is not done yet.
    fn audio(&self) -> Option<Option<&'a PartOutput>> {
        self.outputs(ChunkKind::Audio).next().map(|(_, output)| output)
    }
}

/// Each audio rendition of `tracks` that `rungs` play, with its record in the audio
/// part's `output`.
fn audio_records<'a>(
    output: &'a PartOutput,
    rungs: &[Rung],
    tracks: &[AudioTrack],
) -> anyhow::Result<Vec<(audio::Output, &'a RenditionOutput)>> {
    audio::outputs(rungs, tracks.len())
        .into_iter()
        .map(|a| {
            let record = output.get(&a.folder).with_context(|| format!("the audio part recorded no {}", a.folder))?;
            Ok((a, record))
        })
        .collect()
}

/// A rendition's records from consecutive parts as one playlist, naming the key of
/// segments `encrypted_as` that rendition's.
fn playlist(
    records: &[&RenditionOutput],
    playlist_type: MediaPlaylistType,
    encrypted_as: Option<&str>,
) -> anyhow::Result<Vec<u8>> {
    let mut playlist = MediaPlaylist {
        version: Some(6),
        target_duration: records.iter().map(|r| r.target_duration).max().unwrap_or(1),
        media_sequence: 0,
        segments: records
            .iter()
            .flat_map(|r| &r.segments)
            .map(|s| MediaSegment { uri: s.name.clone(), duration: s.seconds as f32, ..Default::default() })
            .collect(),
        end_list: playlist_type == MediaPlaylistType::Vod,
        playlist_type: Some(playlist_type),
        independent_segments: true,
        ..Default::default()
    };
    if let Some(rendition) = encrypted_as {
        encryption::label(&mut playlist, rendition);
    }
    let mut bytes = Vec::new();
    playlist.write_to(&mut bytes)?;
    Ok(bytes)
}

fn rendition<'a>(outputs: &[&'a PartOutput], name: &str) -> anyhow::Result<Vec<&'a RenditionOutput>> {
    outputs.iter().map(|o| o.get(name).with_context(|| format!("a chunk recorded no {name} rendition"))).collect()
}

/// Publishes the growing playlists the done parts make: each rung's, over the chunks
/// done from the first on, the audio's once it is done, and the provisional master once
/// both exist. Returns true when this call published the master. The caller holds the
/// job's row lock, so publishing for two parts never interleaves.
pub async fn publish_progress(
    db: &PgPool,
    storage: &ObjectStore,
    video: VideoId,
    parts: &Parts<'_>,
    ladder: Ladder<'_>,
) -> anyhow::Result<bool> {
    let Ladder { rungs, tracks, frame_rate, encrypted } = ladder;
    let done = parts.done_from_start();
    // The first chunk publishes itself as it encodes; nothing here may replace that
    // with less.
    if !done.is_empty() {
        for rung in rungs {
            let encrypted_as = encrypted.then_some(rung.name.as_str());
            let body = playlist(&rendition(&done, &rung.name)?, MediaPlaylistType::Event, encrypted_as)?;
            storage.put_bytes(&keys::rendition_file(video, &rung.name, PLAYLIST), body.into(), PLAYLIST_TYPE).await?;
        }
    }
    let audio = parts.audio();
    if let Some(Some(output)) = audio {
        for (rendition, record) in audio_records(output, rungs, tracks)? {
            let body = playlist(&[record], MediaPlaylistType::Event, encrypted.then_some(rendition.folder.as_str()))?;
            storage
                .put_bytes(&keys::rendition_file(video, &rendition.folder, PLAYLIST), body.into(), PLAYLIST_TYPE)
                .await?;
        }
    }
    let sound_ready = !matches!(audio, Some(None));
    if done.is_empty() || !sound_ready || storage.head(&keys::master(video)).await?.is_some() {
        return Ok(false);
    }
    let codecs = first_codecs(done[0], rungs)?;
    let tracks = if audio.is_some() { tracks } else { &[] };
    let body = master::provisional(rungs, &codecs, frame_rate, tracks)?;
    captions::publish_master(db, storage, video, &body).await?;
    Ok(true)
}

/// Each rung's codec string, as the first chunk read it from its first segment.
fn first_codecs(first: &PartOutput, rungs: &[Rung]) -> anyhow::Result<Vec<String>> {
    rungs
        .iter()
        .map(|rung| {
            first.get(&rung.name).and_then(|r| r.codec.clone()).with_context(|| format!("no codec for {}", rung.name))
        })
        .collect()
}

fn sizes(records: &[&RenditionOutput]) -> SegmentSizes {
    SegmentSizes {
        segments: records.iter().flat_map(|r| &r.segments).map(|s| (s.bytes, s.seconds)).collect(),
        target_duration: records.iter().map(|r| r.target_duration).max().unwrap_or(1),
    }
}

/// The finished video: every rendition's VOD playlist, the storyboard laid out from
/// the chunks' tiles, the poster, and the master measured over whole rungs, last.
/// `work` is scratch space. Returns the renditions.
pub async fn finish(
    app: &App,
    video: VideoId,
    chunks: &[Chunk],
    ladder: Ladder<'_>,
    duration_s: f64,
    work: &Path,
) -> anyhow::Result<Vec<Rendition>> {
    let Ladder { rungs, tracks, frame_rate, encrypted } = ladder;
    let storage = &app.storage;
    let parts = Parts::new(chunks);
    anyhow::ensure!(parts.all_video_done(), "a chunk is not done");
    let outputs: Vec<&PartOutput> = parts.done_from_start();
    let audio = match parts.audio() {
        Some(Some(output)) => audio_records(output, rungs, tracks)?,
        Some(None) => anyhow::bail!("the audio is not done"),
        None => Vec::new(),
    };
    let (mut rung_sizes, mut iframe_sizes) = (Vec::with_capacity(rungs.len()), Vec::with_capacity(rungs.len()));
    for rung in rungs {
        let records = rendition(&outputs, &rung.name)?;
        let body = playlist(&records, MediaPlaylistType::Vod, encrypted.then_some(rung.name.as_str()))?;
        storage.put_bytes(&keys::rendition_file(video, &rung.name, PLAYLIST), body.into(), PLAYLIST_TYPE).await?;
        rung_sizes.push(sizes(&records));
        if encrypted {
            continue;
        }
        let keyframes: Vec<_> =
            records.iter().flat_map(|r| &r.segments).map(|s| (s.name.clone(), s.keyframes.clone())).collect();
        let (body, sizes) = iframes::playlist(&keyframes, None)?;
        storage
            .put_bytes(&keys::rendition_file(video, &rung.name, IFRAME_PLAYLIST), body.into(), PLAYLIST_TYPE)
            .await?;
        iframe_sizes.push(sizes);
    }
    for (rendition, record) in &audio {
        let body = playlist(&[record], MediaPlaylistType::Vod, encrypted.then_some(rendition.folder.as_str()))?;
        storage
            .put_bytes(&keys::rendition_file(video, &rendition.folder, PLAYLIST), body.into(), PLAYLIST_TYPE)
            .await?;
    }

    let top = &rungs[0];
    let (tiles, previews) = (work.join("tiles"), work.join("previews"));
    tokio::fs::create_dir_all(&tiles).await?;
    tokio::fs::create_dir_all(&previews).await?;
    // By name, not by listing: a listing may lag behind the chunks' last writes.
    for tile in 0..storyboard::tile_count(duration_s, top.width, top.height) {
        let name = storyboard::tile_name(tile);
        if storage.download(&staged_tile(video, tile), &tiles.join(&name)).await?.is_none() {
            anyhow::bail!("storyboard tile {tile} is missing from the chunks' staging");
        }
    }
    storyboard::assemble(duration_s, top.width, top.height, &tiles, &previews).await?;
    storyboard::write_track(duration_s, top.width, top.height, &previews)?;
    publish::previews(storage, video, &previews).await?;
    storage.copy(&keys::chunk_staging(video, POSTER), &keys::poster(video)).await.context("the poster")?;

    let codecs = first_codecs(outputs[0], rungs)?;
    let audio_sizes: Vec<_> = audio.iter().map(|(rendition, record)| (rendition.clone(), sizes(&[record]))).collect();
    let tracks: &[AudioTrack] = if audio.is_empty() { &[] } else { tracks };
    let iframe_sizes = (!encrypted).then_some(iframe_sizes.as_slice());
    let (body, renditions) =
        master::measured(rungs, &rung_sizes, iframe_sizes, &codecs, &audio_sizes, tracks, frame_rate)?;
    captions::publish_master(&app.db, storage, video, &body).await?;
    Ok(renditions)
}

/// Removes what the chunks staged: every tile by name, the poster, and whatever a
/// listing still shows.
pub async fn remove_staging(storage: &ObjectStore, video: VideoId, duration_s: f64, top: &Rung) -> anyhow::Result<()> {
    for tile in 0..storyboard::tile_count(duration_s, top.width, top.height) {
        storage.delete(&staged_tile(video, tile)).await?;
    }
    storage.delete(&keys::chunk_staging(video, POSTER)).await?;
    storage.delete_prefix(&keys::chunk_staging_prefix(video)).await?;
    Ok(())
}

/// Where tile `tile` of the storyboard is staged for the finishing step.
pub fn staged_tile(video: VideoId, tile: u32) -> String {
    keys::chunk_staging(video, &format!("{TILES}{}", storyboard::tile_name(tile)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use streambox_db::chunks::SegmentRecord;

    fn record(names: &[&str]) -> RenditionOutput {
        RenditionOutput {
            segments: names
                .iter()
                .map(|n| SegmentRecord { name: (*n).into(), seconds: 6.0, bytes: 1000, keyframes: Vec::new() })
                .collect(),
            target_duration: 6,
            codec: Some("avc1.64001f".into()),
        }
    }

    #[test]
    fn consecutive_records_make_one_playlist_without_discontinuities() {
        let (a, b) = (record(&["seg_000.ts", "seg_001.ts"]), record(&["seg_002.ts"]));
        let vod = String::from_utf8(playlist(&[&a, &b], MediaPlaylistType::Vod, None).unwrap()).unwrap();
        let parsed = m3u8_rs::parse_media_playlist_res(vod.as_bytes()).unwrap();
        assert_eq!(
            parsed.segments.iter().map(|s| s.uri.as_str()).collect::<Vec<_>>(),
            ["seg_000.ts", "seg_001.ts", "seg_002.ts"]
        );
        assert!(parsed.end_list && !vod.contains("DISCONTINUITY"), "{vod}");
        assert_eq!(parsed.target_duration, 6);
        let event = String::from_utf8(playlist(&[&a], MediaPlaylistType::Event, None).unwrap()).unwrap();
        assert!(event.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && !event.contains("ENDLIST"), "{event}");
        let encrypted = String::from_utf8(playlist(&[&a, &b], MediaPlaylistType::Vod, Some("360p")).unwrap()).unwrap();
        let ivs: Vec<&str> = encrypted.lines().filter(|l| l.starts_with("#EXT-X-KEY:METHOD=AES-128")).collect();
        assert_eq!(ivs.len(), 3, "every stitched segment names the key: {encrypted}");
    }
}
