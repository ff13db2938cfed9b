//! Publishing while ffmpeg encodes, so a video plays within seconds of its upload:
//! every segment ffmpeg lists goes to storage before any playlist that names it; each
//! rendition's playlist is published as an EVENT playlist (no ENDLIST) that grows
//! with its segments; once every rendition has a segment, a provisional master
//! (`master::provisional`) makes the video playable. When the run ends, the job
//! replaces these with the VOD playlists and the measured master.
//!
//! In fragmented MP4 a rendition's initialization segment goes to storage with its first
//! segments, before the playlist naming it; and each rung's segments are cut so that its
//! keyframes are fragments of their own (`fmp4::isolate_keyframes`) before anything
//! reads them, so the I-frame playlist can address them.
//!
//! What an earlier attempt published is never shrunk or rewritten, so a viewer
//! watching through a retry or a takeover loses nothing: a segment already in storage
//! is kept (the same encode of the same source puts the same timestamps in it), and a
//! rendition's playlist is published again only once it names more segments.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use m3u8_rs::{MediaPlaylist, MediaPlaylistType};
use sqlx::PgPool;
use streambox_base::ids::VideoId;
use streambox_core::captions::publish as captions;
use streambox_core::segment_keys::SegmentKey;
use streambox_storage::ObjectStore;
use streambox_storage::layout::{PLAYLIST, keys};

use crate::audio;
use crate::encryption;
use crate::fmp4;
use crate::ladder::Rung;
use crate::master;
use crate::publish::{self, PLAYLIST_TYPE};
use crate::tracks::AudioTrack;

/// Where the video's sound comes from, for the live publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sound {
    /// The video is silent.
    None,
    /// A run beside this one encodes it into the same folder: its renditions are
    /// published like the rungs.
    Beside,
    /// Another part encodes it (a chunked video): the master waits until its playlists
    /// are in storage.
    Elsewhere,
}

/// Publishes one run's output as it appears under `out` (one folder per rendition).
pub struct LivePublisher<'a> {
    db: &'a PgPool,
    storage: &'a ObjectStore,
    video: VideoId,
    out: PathBuf,
    rungs: &'a [Rung],
    frame_rate: f64,
    sound: Sound,
    /// The source's audio tracks (none when `sound` is [`Sound::None`]).
    tracks: &'a [AudioTrack],
    /// The video's segment key: its segments are stored encrypted and its playlists name it.
    key: Option<&'a SegmentKey>,
    /// The rungs' names, and the audio renditions' when this run encodes them.
    renditions: Vec<String>,
    /// Per rendition: how many segments its published playlist names (all of them in
    /// storage, in playlist order).
    published: HashMap<String, usize>,
    /// Per rung: how many of its local fMP4 segments have had their keyframes cut apart.
    cut: HashMap<String, usize>,
    /// The initialization segments this run has put in storage.
    inits: HashSet<String>,
    master_published: bool,
}

impl<'a> LivePublisher<'a> {
    /// Starts from what earlier attempts at this video published. `tracks` are the
    /// source's audio tracks (ignored when `sound` is [`Sound::None`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn resume(
        db: &'a PgPool,
        storage: &'a ObjectStore,
        video: VideoId,
        out: &Path,
        rungs: &'a [Rung],
        frame_rate: f64,
        sound: Sound,
        tracks: &'a [AudioTrack],
        key: Option<&'a SegmentKey>,
    ) -> anyhow::Result<Self> {
        let tracks: &[AudioTrack] = if sound == Sound::None { &[] } else { tracks };
        let mut renditions: Vec<String> = rungs.iter().map(|r| r.name.clone()).collect();
        if sound == Sound::Beside {
            renditions.extend(audio::outputs(rungs, tracks.len()).into_iter().map(|a| a.folder));
        }
        let mut publisher = Self {
            db,
            storage,
            video,
            out: out.to_owned(),
            rungs,
            frame_rate,
            sound,
            tracks,
            key,
            renditions,
            published: HashMap::new(),
            cut: HashMap::new(),
            inits: HashSet::new(),
            master_published: storage.head(&keys::master(video)).await?.is_some(),
        };
        for name in publisher.renditions.clone() {
            let published = match storage.get(&keys::rendition_file(video, &name, PLAYLIST)).await? {
                Some(object) => {
                    let body = object.body.collect().await.context("reading a published playlist")?.into_bytes();
                    m3u8_rs::parse_media_playlist_res(&body).map_or(0, |p| p.segments.len())
                }
                None => 0,
            };
            publisher.published.insert(name, published);
        }
        Ok(publisher)
    }

    /// The video being published.
    pub fn video(&self) -> VideoId {
        self.video
    }

    /// Publishes what ffmpeg has finished since the last call: segments, then the
    /// playlists naming them, then (the first time every rendition has a segment) the
    /// provisional master. Returns true when this call published the master.
    pub async fn publish_new(&mut self) -> anyhow::Result<bool> {
        let mut playlists = Vec::new();
        let mut uploads = Vec::new();
        let mut inits = Vec::new();
        for name in self.renditions.clone() {
            let Some(mut local) = self.local_playlist(&name) else { continue };
            self.cut_keyframes(&name, &local)?;
            if self.key.is_some() {
                encryption::label(&mut local, &name);
            }
            let published = self.published[&name];
            let init = local.segments.first().and_then(|s| s.map.as_ref()).map(|m| m.uri.clone());
            if let Some(init) = init.filter(|_| local.segments.len() > published) {
                let relative = format!("{name}/{init}");
                if !self.inits.contains(&relative) {
                    uploads.push((self.out.join(&name).join(&init), relative.clone()));
                    inits.push(relative);
                }
            }
            for segment in local.segments.iter().skip(published) {
                uploads.push((self.out.join(&name).join(&segment.uri), format!("{name}/{}", segment.uri)));
            }
            let count = local.segments.len();
            if count > published {
                playlists.push((name, event_playlist(local, count)?, count));
            }
        }
        publish::upload(self.storage, self.video, uploads, self.key).await?;
        self.inits.extend(inits);
        for (name, body, count) in playlists {
            let key = keys::rendition_file(self.video, &name, PLAYLIST);
            self.storage.put_bytes(&key, body.into(), PLAYLIST_TYPE).await?;
            self.published.insert(name, count);
        }
        if self.master_published || self.renditions.iter().any(|name| self.published[name] == 0) {
            return Ok(false);
        }
        if self.sound == Sound::Elsewhere {
            for rendition in audio::outputs(self.rungs, self.tracks.len()) {
                if self.storage.head(&keys::rendition_file(self.video, &rendition.folder, PLAYLIST)).await?.is_none() {
                    return Ok(false);
                }
            }
        }
        let codecs = self
            .rungs
            .iter()
            .map(|rung| {
                let local =
                    self.local_playlist(&rung.name).ok_or_else(|| anyhow::anyhow!("{} has no playlist", rung.name))?;
                let first = local.segments.first().ok_or_else(|| anyhow::anyhow!("{} has no segment", rung.name))?;
                master::video_codec_of(&self.out.join(&rung.name), first)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let body = master::provisional(self.rungs, &codecs, self.frame_rate, self.tracks)?;
        captions::publish_master(self.db, self.storage, self.video, &body).await?;
        self.master_published = true;
        Ok(true)
    }

    /// Cuts the keyframes apart in the rung `rendition`'s fMP4 segments ffmpeg finished
    /// since the last call (`local` is its playlist); audio and MPEG-TS are left as they are.
    fn cut_keyframes(&mut self, rendition: &str, local: &MediaPlaylist) -> anyhow::Result<()> {
        let Some(init) = local.segments.first().and_then(|s| s.map.as_ref()) else { return Ok(()) };
        if !self.rungs.iter().any(|rung| rung.name == rendition) {
            return Ok(());
        }
        let dir = self.out.join(rendition);
        let track = fmp4::Track::of_init(&std::fs::read(dir.join(&init.uri)).context("reading an init segment")?)?;
        let done = self.cut.entry(rendition.to_owned()).or_default();
        for segment in local.segments.iter().skip(*done) {
            let path = dir.join(&segment.uri);
            let bytes = std::fs::read(&path).with_context(|| format!("reading {rendition}/{}", segment.uri))?;
            let cut =
                fmp4::isolate_keyframes(&bytes, &track).with_context(|| format!("{rendition}/{}", segment.uri))?;
            std::fs::write(&path, cut).with_context(|| format!("writing {rendition}/{}", segment.uri))?;
            *done += 1;
        }
        Ok(())
    }

    /// The playlist ffmpeg keeps for `rendition`, if it has written one yet (ffmpeg
    /// replaces it whole, so what is read is never half of one).
    fn local_playlist(&self, rendition: &str) -> Option<MediaPlaylist> {
        let raw = std::fs::read(self.out.join(rendition).join(PLAYLIST)).ok()?;
        m3u8_rs::parse_media_playlist_res(&raw).ok()
    }
}

/// The first `count` segments of ffmpeg's playlist as an EVENT playlist: players
/// reload it, and it only ever grows.
pub(crate) fn event_playlist(local: MediaPlaylist, count: usize) -> anyhow::Result<Vec<u8>> {
    let playlist = MediaPlaylist {
        segments: local.segments.into_iter().take(count).collect(),
        playlist_type: Some(MediaPlaylistType::Event),
        end_list: false,
        ..local
    };
    let mut bytes = Vec::new();
    playlist.write_to(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_playlist_names_only_finished_segments_and_has_no_end() {
        let local = m3u8_rs::parse_media_playlist_res(
            b"#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n\
              #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n\
              #EXTINF:2.000000,\nseg_000.ts\n#EXTINF:2.000000,\nseg_001.ts\n#EXTINF:2.000000,\nseg_002.ts\n",
        )
        .unwrap();
        let text = String::from_utf8(event_playlist(local, 2).unwrap()).unwrap();
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{text}");
        assert!(text.contains("#EXT-X-TARGETDURATION:2"), "{text}");
        assert!(text.contains("seg_001.ts") && !text.contains("seg_002.ts"), "{text}");
        assert!(!text.contains("ENDLIST"), "{text}");
    }
}
