//! Publishing caption tracks: each track's playlist and segments, then the master
//! naming them, under the video's row lock. The transcoder writes every master through
//! [`publish_master`], and a change to the tracks ([`change`]) re-publishes the stored
//! master, so whichever comes second sees what the first did: a track uploaded while
//! the video encodes is in the master the transcoder writes, and a master written while
//! a track is uploaded is rewritten with it. Every streamer is told at commit.

use anyhow::Context;
use m3u8_rs::MasterPlaylist;
use sqlx::{PgConnection, PgPool};
use streambox_base::ids::VideoId;
use streambox_base::language::LanguageTag;
use streambox_db::captions::{self, Caption, CaptionSource};
use streambox_storage::ObjectStore;
use streambox_storage::layout::{self, PLAYLIST, keys};

use super::master::{self, Track};
use super::segments;
use super::webvtt;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const VTT_TYPE: &str = "text/vtt; charset=utf-8";
/// How much of the first video segment is read for its first timestamp.
const HEAD_BYTES: u64 = 256 * 1024;

/// A change to a video's caption tracks.
#[derive(Clone, Copy)]
pub enum Change<'a> {
    /// Write the track of a language (normalised WebVTT).
    Put {
        /// Its language.
        lang: &'a LanguageTag,
        /// The name players show.
        label: &'a str,
        /// Uploaded or embedded.
        source: CaptionSource,
        /// The normalised WebVTT.
        vtt: &'a str,
    },
    /// Remove the track of a language.
    Delete(&'a LanguageTag),
}

/// Applies `change` to `video`'s tracks and, if the video has a master yet, publishes
/// the tracks and the master naming them. False when nothing changed: no such video,
/// no such track to delete, or an embedded track where one was uploaded.
pub async fn change(db: &PgPool, storage: &ObjectStore, video: VideoId, change: Change<'_>) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    if !captions::lock_video(&mut tx, video).await? {
        return Ok(false);
    }
    let changed = match change {
        Change::Put { lang, label, source, vtt } => {
            captions::put(&mut *tx, video, lang.as_str(), label, source, vtt).await?
        }
        Change::Delete(lang) => captions::delete(&mut *tx, video, lang.as_str()).await?,
    };
    if !changed {
        return Ok(false);
    }
    let stored = match storage.get(&keys::master(video)).await? {
        Some(object) => Some(object.body.collect().await.context("reading the master")?.into_bytes().to_vec()),
        None => None,
    };
    if let Some(stored) = stored {
        publish_locked(&mut tx, storage, video, &stored).await?;
        captions::announce_change(&mut *tx, video).await?;
    }
    if let Change::Delete(lang) = change {
        storage.delete_prefix(&keys::caption_prefix(video, &layout::caption_rendition_name(lang))).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Writes `master` (as the transcoder made it) naming `video`'s caption tracks, after
/// the tracks' own files.
pub async fn publish_master(db: &PgPool, storage: &ObjectStore, video: VideoId, master: &[u8]) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    if captions::lock_video(&mut tx, video).await? {
        publish_locked(&mut tx, storage, video, master).await?;
        captions::announce_change(&mut *tx, video).await?;
    } else {
        storage.put_bytes(&keys::master(video), master.to_vec().into(), PLAYLIST_TYPE).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Publishes every track of `video`, then `master` naming them; the caller holds the
/// video's row lock in `conn`'s transaction.
async fn publish_locked(
    conn: &mut PgConnection,
    storage: &ObjectStore,
    video: VideoId,
    master: &[u8],
) -> anyhow::Result<()> {
    let mut playlist = m3u8_rs::parse_master_playlist_res(master)
        .map_err(|e| anyhow::anyhow!("the stored master is unreadable: {e}"))?;
    let stored = captions::list(&mut *conn, video).await?;
    let mut tracks = Vec::with_capacity(stored.len());
    if !stored.is_empty() {
        let first_pts = first_pts(storage, video, &playlist).await?;
        for caption in &stored {
            tracks.push(publish_track(storage, video, caption, first_pts).await?);
        }
    }
    master::set_subtitles(&mut playlist, &tracks);
    let mut body = Vec::new();
    playlist.write_to(&mut body)?;
    storage.put_bytes(&keys::master(video), body.into(), PLAYLIST_TYPE).await?;
    Ok(())
}

/// One track's segments and playlist; what an earlier revision left in its folder goes.
async fn publish_track(
    storage: &ObjectStore,
    video: VideoId,
    caption: &Caption,
    first_pts: Option<u64>,
) -> anyhow::Result<Track> {
    let lang = LanguageTag::parse(&caption.lang).context("a stored caption's language")?;
    let rendition = layout::caption_rendition_name(&lang);
    let cues = webvtt::parse(caption.vtt.as_bytes()).context("a stored caption")?;
    let made = segments::segments(&cues, first_pts);
    let name_of = |index| layout::caption_segment_name(caption.revision, index);
    let mut current = vec![keys::rendition_file(video, &rendition, PLAYLIST)];
    for segment in &made {
        let key = keys::rendition_file(video, &rendition, &name_of(segment.index));
        storage.put_bytes(&key, segment.body.clone().into_bytes().into(), VTT_TYPE).await?;
        current.push(key);
    }
    let body = segments::playlist(&cues, &made, name_of)?;
    storage.put_bytes(&current[0], body.into(), PLAYLIST_TYPE).await?;
    for stale in storage.list(&keys::caption_prefix(video, &rendition)).await? {
        if !current.contains(&stale) {
            storage.delete(&stale).await?;
        }
    }
    Ok(Track { lang: caption.lang.clone(), label: caption.label.clone(), uri: format!("{rendition}/{PLAYLIST}") })
}

/// The presentation timestamp (90 kHz) of the first picture of `master`'s first
/// variant: the MPEG-TS time caption times count from; `None` when that segment shows
/// none.
async fn first_pts(storage: &ObjectStore, video: VideoId, master: &MasterPlaylist) -> anyhow::Result<Option<u64>> {
    let variant = master.variants.first().context("the master has no variant")?;
    let rendition = variant.uri.strip_suffix(&format!("/{PLAYLIST}")).filter(|r| layout::is_rendition_name(r));
    let rendition = rendition.with_context(|| format!("the master names an unknown variant {}", variant.uri))?;
    let object =
        storage.get(&keys::rendition_file(video, rendition, PLAYLIST)).await?.context("no variant playlist")?;
    let body = object.body.collect().await.context("reading the variant playlist")?.into_bytes();
    let playlist = m3u8_rs::parse_media_playlist_res(&body)
        .map_err(|e| anyhow::anyhow!("the variant playlist is unreadable: {e}"))?;
    let first = playlist.segments.first().context("the variant has no segment")?;
    anyhow::ensure!(layout::is_segment_name(&first.uri), "the variant names an unknown segment {}", first.uri);
    let range = Some(format!("bytes=0-{}", HEAD_BYTES - 1));
    let object = storage.get_range(&keys::rendition_file(video, rendition, &first.uri), range).await?;
    let head = object.context("no first segment")?.body.collect().await.context("reading a segment")?.into_bytes();
    let pts = first_video_pts(&head);
    if pts.is_none() {
        tracing::warn!(%video, segment = %first.uri, "no video timestamp in the first segment; captions go unmapped");
    }
    Ok(pts)
}

/// The PTS of the first video PES in an MPEG-TS stream.
fn first_video_pts(ts: &[u8]) -> Option<u64> {
    for packet in ts.chunks_exact(188).take_while(|p| p[0] == 0x47) {
        let unit_start = packet[1] & 0x40 != 0;
        let payload_at = match (packet[3] >> 4) & 0b11 {
            0b01 => 4,
            0b11 => 5 + usize::from(packet[4]),
            _ => continue,
        };
        let Some(pes) = packet.get(payload_at..).filter(|p| unit_start && p.len() >= 14) else { continue };
        if pes[..3] == [0, 0, 1] && pes[3] & 0xf0 == 0xe0 && pes[7] & 0x80 != 0 {
            let pts = (u64::from(pes[9] >> 1) & 0x07) << 30
                | u64::from(pes[10]) << 22
                | u64::from(pes[11] >> 1) << 15
                | u64::from(pes[12]) << 7
                | u64::from(pes[13] >> 1);
            return Some(pts);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_video_pts_is_read_from_its_pes_header() {
        // PTS 126000 = 0x1EC30: '0010' marker, bits 32..30, then 15 bits and 15 bits with markers.
        let pts: u64 = 126_000;
        let header = [
            0,
            0,
            1,
            0xe0,
            0,
            0,
            0x80,
            0x80,
            5,
            0x21 | (((pts >> 30) & 7) as u8) << 1,
            (pts >> 22) as u8,
            (((pts >> 15) & 0x7f) as u8) << 1 | 1,
            (pts >> 7) as u8,
            ((pts & 0x7f) as u8) << 1 | 1,
        ];
        let mut audio = vec![0x47, 0x41, 0x01, 0x10, 0, 0, 1, 0xc0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1];
        audio.resize(188, 0xff);
        let mut video = vec![0x47, 0x41, 0x00, 0x10];
        video.extend_from_slice(&header);
        video.resize(188, 0xff);
        assert_eq!(first_video_pts(&[audio.clone(), video].concat()), Some(pts));
        assert_eq!(first_video_pts(&audio), None);
    }
}
