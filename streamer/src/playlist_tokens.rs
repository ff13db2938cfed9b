//! Carries a playback token into every URI of a playlist (variants and I-frame
//! variants, the audio renditions, segments and byte ranges of them, fMP4
//! initialization segments, and the keys of encrypted segments), so players (HLS.js,
//! Safari, ffmpeg) fetch them all with it without knowing about it.

use m3u8_rs::Playlist;

/// The playlist with `?token=` appended to each variant or segment URI.
pub fn with_token(playlist: &[u8], token: &str) -> anyhow::Result<Vec<u8>> {
    let append = |uri: &mut String| {
        let separator = if uri.contains('?') { '&' } else { '?' };
        uri.push_str(&format!("{separator}token={token}"));
    };
    let mut parsed =
        m3u8_rs::parse_playlist_res(playlist).map_err(|e| anyhow::anyhow!("stored playlist unreadable: {e}"))?;
    match &mut parsed {
        Playlist::MasterPlaylist(master) => {
            master.variants.iter_mut().for_each(|v| append(&mut v.uri));
            master.alternatives.iter_mut().filter_map(|a| a.uri.as_mut()).for_each(append);
        }
        Playlist::MediaPlaylist(media) => {
            for segment in &mut media.segments {
                append(&mut segment.uri);
                segment.key.as_mut().and_then(|k| k.uri.as_mut()).into_iter().for_each(append);
                if let Some(map) = segment.map.as_mut() {
                    append(&mut map.uri);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(playlist.len() * 2);
    match parsed {
        Playlist::MasterPlaylist(master) => master.write_to(&mut out)?,
        Playlist::MediaPlaylist(media) => media.write_to(&mut out)?,
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_uri_gets_the_token() {
        let master =
            b"#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Original\",URI=\"audio/index.m3u8\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=640x360,AUDIO=\"audio\"\n360p/index.m3u8\n\
            #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,RESOLUTION=640x360,VIDEO-RANGE=SDR,URI=\"360p/iframes.m3u8\"\n";
        let out = String::from_utf8(with_token(master, "abc.def.ghi").unwrap()).unwrap();
        assert!(out.contains("360p/index.m3u8?token=abc.def.ghi"), "{out}");
        assert!(out.contains("URI=\"audio/index.m3u8?token=abc.def.ghi\""), "{out}");
        assert!(out.contains("URI=\"360p/iframes.m3u8?token=abc.def.ghi\""), "{out}");
        assert!(out.contains("VIDEO-RANGE=SDR"), "{out}");

        let iframes = b"#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:2\n#EXT-X-I-FRAMES-ONLY\n\
            #EXTINF:2,\n#EXT-X-BYTERANGE:564@0\nseg_000.ts\n#EXT-X-ENDLIST\n";
        let out = String::from_utf8(with_token(iframes, "t").unwrap()).unwrap();
        assert!(out.contains("#EXT-X-BYTERANGE:564@0\n") && out.contains("\nseg_000.ts?token=t\n"), "{out}");
        assert!(out.contains("#EXT-X-I-FRAMES-ONLY"), "{out}");

        let media = b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:6.0,\nseg_000.ts\n#EXTINF:2.0,\nseg_001.ts\n#EXT-X-ENDLIST\n";
        let out = String::from_utf8(with_token(media, "t").unwrap()).unwrap();
        assert!(out.contains("seg_000.ts?token=t") && out.contains("seg_001.ts?token=t"), "{out}");
        assert!(out.contains("#EXT-X-ENDLIST") && out.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{out}");

        let encrypted = b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"../key\",IV=0x0102\n#EXTINF:6.0,\nseg_000.ts\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"../key\",IV=0x0304\n#EXTINF:2.0,\nseg_001.ts\n#EXT-X-ENDLIST\n";
        let out = String::from_utf8(with_token(encrypted, "t").unwrap()).unwrap();
        assert_eq!(out.matches("URI=\"../key?token=t\"").count(), 2, "{out}");
        assert!(out.contains("IV=0x0102") && out.contains("IV=0x0304"), "{out}");
        let fmp4 = b"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-MAP:URI=\"init_720p.mp4\"\n\
            #EXTINF:6.0,\nseg_000.m4s\n#EXTINF:2.0,\nseg_001.m4s\n#EXT-X-ENDLIST\n";
        let out = String::from_utf8(with_token(fmp4, "t").unwrap()).unwrap();
        assert!(out.contains("#EXT-X-MAP:URI=\"init_720p.mp4?token=t\""), "{out}");
        assert!(out.contains("seg_000.m4s?token=t") && out.contains("seg_001.m4s?token=t"), "{out}");
    }
}
