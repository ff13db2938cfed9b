//! Turns request path segments into object keys, accepting only the names the
//! transcoder and the caption publisher write: a rendition (`720p`, `audio`, or a
//! caption track's `subs_en`) and a file (the playlist or a segment of that kind of
//! rendition, its fMP4 initialization segment, or a rung's I-frame playlist, as named by
//! `streambox_storage::layout`).

use streambox_base::ids::VideoId;
use streambox_storage::layout;

pub struct RenditionFile {
    key: String,
    pub content_type: &'static str,
}

impl RenditionFile {
    pub fn parse(video: VideoId, rendition: &str, file: &str) -> Option<Self> {
        let content_type = if layout::is_rendition_name(rendition) {
            content_type_of(rendition, file)?
        } else if layout::is_caption_rendition_name(rendition) {
            caption_content_type_of(file)?
        } else {
            return None;
        };
        Some(Self { key: layout::keys::rendition_file(video, rendition, file), content_type })
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

fn content_type_of(rendition: &str, file: &str) -> Option<&'static str> {
    if file == layout::PLAYLIST || file == layout::IFRAME_PLAYLIST {
        return Some(PLAYLIST);
    }
    layout::media_content_type(rendition, file)
}

fn caption_content_type_of(file: &str) -> Option<&'static str> {
    if file == layout::PLAYLIST {
        return Some(PLAYLIST);
    }
    layout::is_caption_segment_name(file).then_some(VTT)
}

pub const PLAYLIST: &str = "application/vnd.apple.mpegurl";
pub const VTT: &str = "text/vtt; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transcoder_names_become_keys() {
        let id = VideoId::new();
        let ok = RenditionFile::parse(id, "720p", "seg_012.ts").unwrap();
        assert_eq!(ok.key(), format!("hls/{id}/720p/seg_012.ts"));
        assert_eq!(ok.content_type, "video/mp2t");
        assert_eq!(RenditionFile::parse(id, "1080p", "index.m3u8").unwrap().content_type, PLAYLIST);
        assert_eq!(RenditionFile::parse(id, "240p", "iframes.m3u8").unwrap().content_type, PLAYLIST);
        assert!(RenditionFile::parse(id, "audio_low", "index.m3u8").is_some(), "the low-rate audio is served");
        assert_eq!(RenditionFile::parse(id, "720p", "seg_012.m4s").unwrap().content_type, "video/mp4");
        assert_eq!(RenditionFile::parse(id, "audio", "init_audio.mp4").unwrap().content_type, "video/mp4");
        for short_side in [2, 90, 720, 4320, 7680] {
            let name = layout::rung_name(short_side);
            assert!(RenditionFile::parse(id, &name, "index.m3u8").is_some(), "every rung name is served: {name}");
        }
        assert_eq!(
            RenditionFile::parse(id, "audio", "seg_004.ts").unwrap().key(),
            format!("hls/{id}/audio/seg_004.ts")
        );
        assert_eq!(
            RenditionFile::parse(id, "subs_pt-BR", "r7_002.vtt").unwrap().key(),
            format!("hls/{id}/subs_pt-BR/r7_002.vtt")
        );
        assert_eq!(RenditionFile::parse(id, "subs_en", "r7_002.vtt").unwrap().content_type, VTT);
        assert_eq!(RenditionFile::parse(id, "subs_en", "index.m3u8").unwrap().content_type, PLAYLIST);
        for (rendition, file) in [
            ("subs_en", "seg_000.ts"),
            ("720p", "r7_002.vtt"),
            ("subs_pt-br", "index.m3u8"),
            ("subs_..", "index.m3u8"),
            ("..", "index.m3u8"),
            ("720p", "../master.m3u8"),
            ("720p", "seg_1.ts"),
            ("720p", "seg_001.ts/x"),
            ("%2e%2e", "index.m3u8"),
            ("720", "index.m3u8"),
            ("0720p", "index.m3u8"),
            ("p", "index.m3u8"),
            ("720p", "/etc/passwd"),
            ("720p", "seg_0a1.ts"),
            ("720p", "init_480p.mp4"),
            ("subs_en", "init_subs_en.mp4"),
        ] {
            assert!(RenditionFile::parse(id, rendition, file).is_none(), "{rendition}/{file}");
        }
    }
}
