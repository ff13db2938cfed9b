//! AES-128 segment encryption on the transcoder's side (the key and cipher are
//! `streambox_core::segment_keys`): segments are encrypted at the one place they go to
//! storage (`publish::upload`), so the local copies ffmpeg reads again (the download's
//! remux, the master's measurements) stay clear, and every playlist that names a segment
//! names its key and IV (`EXT-X-KEY:METHOD=AES-128,URI="../key",IV=0x…`), whichever path
//! (one run or stitched chunks) wrote it.
//!
//! I-frame playlists are left out of an encrypted video: AES-128 encrypts a segment
//! whole (CBC), so a byte range of one cannot be decrypted on its own.

use m3u8_rs::{Key, KeyMethod, MediaPlaylist};
use streambox_core::segment_keys::{self, SegmentKey};
use streambox_storage::layout::KEY_FROM_RENDITION;

/// Names the key and each segment's IV in `playlist`, `rendition`'s.
pub fn label(playlist: &mut MediaPlaylist, rendition: &str) {
    for segment in &mut playlist.segments {
        segment.key = Some(key_line(rendition, &segment.uri));
    }
}

/// `playlist` without key lines: for ffmpeg reading segments decrypted locally.
pub fn unlabel(playlist: &mut MediaPlaylist) {
    for segment in &mut playlist.segments {
        segment.key = None;
    }
}

fn key_line(rendition: &str, file: &str) -> Key {
    let iv: String = segment_keys::iv_for(rendition, file).iter().map(|b| format!("{b:02x}")).collect();
    Key {
        method: KeyMethod::AES128,
        uri: Some(KEY_FROM_RENDITION.to_owned()),
        iv: Some(format!("0x{iv}")),
        keyformat: None,
        keyformatversions: None,
    }
}

/// Segment `relative` (`720p/seg_003.ts`) encrypted as its playlist line says.
pub fn encrypt(key: &SegmentKey, relative: &str, plain: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let (rendition, file) = split(relative)?;
    key.encrypt(plain, segment_keys::iv_for(rendition, file))
}

/// What [`encrypt`] made of segment `relative`, decrypted.
pub fn decrypt(key: &SegmentKey, relative: &str, encrypted: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let (rendition, file) = split(relative)?;
    key.decrypt(encrypted, segment_keys::iv_for(rendition, file))
}

fn split(relative: &str) -> anyhow::Result<(&str, &str)> {
    relative.split_once('/').ok_or_else(|| anyhow::anyhow!("{relative} is not rendition/segment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_segment_names_the_key_route_and_its_own_iv() {
        let mut playlist = m3u8_rs::parse_media_playlist_res(
            b"#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n\
              #EXTINF:6.0,\nseg_000.ts\n#EXTINF:2.0,\nseg_001.ts\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        label(&mut playlist, "720p");
        let mut bytes = Vec::new();
        playlist.write_to(&mut bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let keys: Vec<&str> = text.lines().filter(|l| l.starts_with("#EXT-X-KEY:")).collect();
        assert_eq!(keys.len(), 2, "{text}");
        assert!(keys.iter().all(|k| k.contains("METHOD=AES-128") && k.contains("URI=\"../key\"")), "{text}");
        assert_ne!(keys[0], keys[1], "each segment has its own IV: {text}");
        let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
        let iv = parsed.segments[1].key.as_ref().and_then(|k| k.iv.clone()).unwrap();
        let hex: String = segment_keys::iv_for("720p", "seg_001.ts").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(iv, format!("0x{hex}"));

        let key = SegmentKey::generate().unwrap();
        let plain = vec![0x47; 188 * 3];
        let encrypted = encrypt(&key, "720p/seg_001.ts", plain.clone()).unwrap();
        assert_eq!(encrypted.len(), 576, "padded to whole 16-byte blocks");
        assert!(encrypted.iter().step_by(188).any(|&b| b != 0x47), "no MPEG-TS sync pattern left");
        assert_eq!(key.decrypt(encrypted.clone(), segment_keys::iv_for("720p", "seg_001.ts")).unwrap(), plain);
        assert_eq!(decrypt(&key, "720p/seg_001.ts", encrypted).unwrap(), plain);
        unlabel(&mut playlist);
        assert!(playlist.segments.iter().all(|s| s.key.is_none()));
    }
}
