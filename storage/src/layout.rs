//! The published-file contract: every object key a video's files are stored under, the
//! names of the files ffmpeg writes and the streamer serves, and the public paths players
//! fetch them at. The transcoder, the streamer, the API and the tests all take them from
//! here, so the three can never disagree on where a file is. Keys derive from ids only —
//! never from anything a client sent.

use streambox_base::config::SegmentFormat;
use streambox_base::ids::VideoId;
use streambox_base::language::LanguageTag;

/// The master playlist, at the root of a video's HLS folder.
pub const MASTER: &str = "master.m3u8";
/// Each rendition's media playlist, in the rendition's folder.
pub const PLAYLIST: &str = "index.m3u8";
/// The storyboard sprite sheet and its WebVTT thumbnails track, beside the master.
pub const SPRITE: &str = "storyboard.jpg";
/// The storyboard's WebVTT thumbnails track, pointing into [`SPRITE`].
pub const TRACK: &str = "storyboard.vtt";
/// The poster image.
pub const POSTER: &str = "poster.jpg";
/// The rendition holding the audio all video rungs share (beside them, named for their
/// short sides: [`rung_name`]).
pub const AUDIO_RENDITION: &str = "audio";
/// The downloadable MP4 of one rung, in the video's downloads folder.
pub const DOWNLOAD: &str = "video.mp4";
/// The low-rate audio rendition only the lowest rungs play, so that one variant fits
/// under 192 kbit/s with its sound.
pub const LOW_AUDIO_RENDITION: &str = "audio_low";
/// Each video rung's I-frame playlist (trick play), beside its [`PLAYLIST`].
pub const IFRAME_PLAYLIST: &str = "iframes.m3u8";
/// An encrypted video's AES-128 key, served by the streamer beside the master (from the
/// database, never stored as an object).
pub const KEY: &str = "key";
/// How a rendition's playlist names [`KEY`] in its `EXT-X-KEY` lines: relative, so the
/// token the streamer appends and any prefix the streamer is mounted under carry over.
pub const KEY_FROM_RENDITION: &str = "../key";
/// How ffmpeg names segments: `seg_000.ts`, `seg_001.ts`, …
pub const SEGMENT_PATTERN: &str = "seg_%03d.ts";
/// How ffmpeg names fragmented-MP4 segments: `seg_000.m4s`, …
pub const FMP4_SEGMENT_PATTERN: &str = "seg_%03d.m4s";
/// How ffmpeg names each rendition's fMP4 initialization segment when one run writes
/// several (`%v`: the rendition); [`init_segment_name`] is what it makes.
pub const INIT_SEGMENT_PATTERN: &str = "init_%v.mp4";

/// The segment names of `format`.
pub fn segment_pattern(format: SegmentFormat) -> &'static str {
    match format {
        SegmentFormat::Ts => SEGMENT_PATTERN,
        SegmentFormat::Fmp4 => FMP4_SEGMENT_PATTERN,
    }
}

/// The fMP4 initialization segment (`EXT-X-MAP`) of `rendition`, in its folder:
/// `init_720p.mp4`. Named for its rendition because ffmpeg names it from a pattern.
pub fn init_segment_name(rendition: &str) -> String {
    INIT_SEGMENT_PATTERN.replace("%v", rendition)
}

/// The content type of a media file of `rendition`: its segments (MPEG-TS or fMP4) and
/// its initialization segment; `None` for any other name.
pub fn media_content_type(rendition: &str, file: &str) -> Option<&'static str> {
    match file.rsplit_once('.') {
        Some((_, "ts")) if is_segment_name(file) => Some("video/mp2t"),
        Some((_, "m4s")) if is_segment_name(file) => Some("video/mp4"),
        _ if file == init_segment_name(rendition) => Some("video/mp4"),
        _ => None,
    }
}

/// The name of a ladder rung whose short side is `short_side` pixels: `720p`.
pub fn rung_name(short_side: u32) -> String {
    format!("{short_side}p")
}

/// The rendition of the source's audio track `track` (from 0, the default track first)
/// in the audio group `group` ([`AUDIO_RENDITION`] or [`LOW_AUDIO_RENDITION`]): the
/// group's own name for the first track, so a source with one track keeps the names it
/// always had, then `audio_2`, `audio_low_3`, … Never anything from the track's tags.
pub fn audio_rendition_name(group: &str, track: usize) -> String {
    match track {
        0 => group.to_owned(),
        _ => format!("{group}_{}", track + 1),
    }
}

/// Whether `name` is one [`audio_rendition_name`] can produce (a track number of at
/// most two digits).
fn is_audio_rendition_name(name: &str) -> bool {
    [LOW_AUDIO_RENDITION, AUDIO_RENDITION].into_iter().any(|group| match name.strip_prefix(group) {
        Some("") => true,
        Some(rest) => rest.strip_prefix('_').is_some_and(|number| {
            (1..=2).contains(&number.len())
                && number.bytes().all(|b| b.is_ascii_digit())
                && !number.starts_with('0')
                && number != "1"
        }),
        None => false,
    })
}

/// Whether `name` is one [`rung_name`] can produce, or an audio rendition's: the
/// transcoder names renditions with one and the streamer accepts them with the other.
pub fn is_rendition_name(name: &str) -> bool {
    if is_audio_rendition_name(name) {
        return true;
    }
    let digits = name.strip_suffix('p').unwrap_or_default();
    !digits.is_empty() && digits.len() <= 10 && !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A caption track's rendition, beside the ladder's: `subs_pt-BR`. Its playlist is
/// [`PLAYLIST`]; its segments are [`caption_segment_name`]s.
pub fn caption_rendition_name(lang: &LanguageTag) -> String {
    format!("{CAPTION_PREFIX}{lang}")
}

const CAPTION_PREFIX: &str = "subs_";

/// Whether `name` is one [`caption_rendition_name`] can produce.
pub fn is_caption_rendition_name(name: &str) -> bool {
    name.strip_prefix(CAPTION_PREFIX)
        .and_then(|lang| LanguageTag::parse(lang).ok())
        .is_some_and(|lang| lang.as_str() == &name[CAPTION_PREFIX.len()..])
}

/// Segment `index` of revision `revision` of a caption track: `r12_000.vtt`. Each
/// upload is a new revision, so a replaced track never reuses a name a cache holds.
pub fn caption_segment_name(revision: i64, index: usize) -> String {
    format!("r{revision}_{index:03}.vtt")
}

/// Whether `file` is a name [`caption_segment_name`] produces.
pub fn is_caption_segment_name(file: &str) -> bool {
    let Some((revision, number)) = file.strip_prefix('r').and_then(|rest| rest.strip_suffix(".vtt")?.split_once('_'))
    else {
        return false;
    };
    let digits = |s: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    digits(revision, 1..=18) && digits(number, 3..=6)
}

/// Whether `file` is a segment name [`SEGMENT_PATTERN`] or [`FMP4_SEGMENT_PATTERN`]
/// produces (3 to 6 digits).
pub fn is_segment_name(file: &str) -> bool {
    let rest = file.strip_prefix("seg_").unwrap_or_default();
    let number = rest.strip_suffix(".ts").or_else(|| rest.strip_suffix(".m4s")).unwrap_or_default();
    (3..=6).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit())
}

/// Object keys in the bucket.
pub mod keys {
    use super::{DOWNLOAD, MASTER, POSTER, SPRITE, TRACK, VideoId};

    /// The upload, once whole: what the transcoder reads.
    pub fn source(id: VideoId) -> String {
        format!("raw/{id}/source")
    }

    /// Where a presigned PUT lands. Completing the upload copies it to [`source`], so
    /// a PUT to the same URL afterwards reaches nothing the pipeline reads.
    pub fn presigned_incoming(id: VideoId) -> String {
        format!("raw/{id}/incoming")
    }

    /// Bytes of a resumable upload that do not fill a part yet.
    pub fn upload_tail(id: VideoId) -> String {
        format!("raw/{id}/upload-tail")
    }

    /// Everything of an upload in progress or done: [`source`], [`presigned_incoming`], [`upload_tail`].
    pub fn raw_prefix(id: VideoId) -> String {
        format!("raw/{id}/")
    }

    /// The published HLS folder: the master, storyboard and one folder per rendition.
    pub fn hls_prefix(id: VideoId) -> String {
        format!("hls/{id}/")
    }

    /// The master playlist, listing the renditions.
    pub fn master(id: VideoId) -> String {
        format!("{}{MASTER}", hls_prefix(id))
    }

    /// A file (playlist or segment) of one rendition; the caller has checked both names.
    pub fn rendition_file(id: VideoId, rendition: &str, file: &str) -> String {
        format!("{}{rendition}/{file}", hls_prefix(id))
    }

    /// The folder of one caption track's playlist and segments.
    pub fn caption_prefix(id: VideoId, rendition: &str) -> String {
        format!("{}{rendition}/", hls_prefix(id))
    }

    /// The storyboard sprite sheet.
    pub fn storyboard_sprite(id: VideoId) -> String {
        format!("{}{SPRITE}", hls_prefix(id))
    }

    /// The storyboard's WebVTT track.
    pub fn storyboard_track(id: VideoId) -> String {
        format!("{}{TRACK}", hls_prefix(id))
    }

    /// The poster image, kept outside the HLS folder.
    pub fn poster(id: VideoId) -> String {
        format!("thumbs/{id}/{POSTER}")
    }

    /// The downloads folder: the [`DOWNLOAD`] MP4, apart from what the streamer serves.
    pub fn download_prefix(id: VideoId) -> String {
        format!("downloads/{id}/")
    }

    /// The downloadable MP4, made from one rung once the video is finished.
    pub fn download(id: VideoId) -> String {
        format!("{}{DOWNLOAD}", download_prefix(id))
    }

    /// What the parts of a chunked transcode hand to its finishing step (storyboard
    /// tiles, the poster); never served.
    pub fn chunk_staging_prefix(id: VideoId) -> String {
        format!("chunks/{id}/")
    }

    /// A file under [`chunk_staging_prefix`]; `name` is the transcoder's own.
    pub fn chunk_staging(id: VideoId, name: &str) -> String {
        format!("{}{name}", chunk_staging_prefix(id))
    }

    /// Every prefix holding objects of the video, for deletion.
    pub fn all_prefixes(id: VideoId) -> [String; 5] {
        [raw_prefix(id), hls_prefix(id), format!("thumbs/{id}/"), chunk_staging_prefix(id), download_prefix(id)]
    }
}

/// The paths players fetch a video's files at, as the streamer serves them.
pub mod urls {
    use super::{KEY, MASTER, POSTER, TRACK, VideoId};

    /// The streamer's routes for them (axum path patterns).
    pub const MASTER_ROUTE: &str = "/hls/{video_id}/master.m3u8";
    /// The poster image.
    pub const POSTER_ROUTE: &str = "/hls/{video_id}/poster.jpg";
    /// The storyboard sprite sheet.
    pub const SPRITE_ROUTE: &str = "/hls/{video_id}/storyboard.jpg";
    /// The storyboard's WebVTT track.
    pub const TRACK_ROUTE: &str = "/hls/{video_id}/storyboard.vtt";
    /// A rendition's playlist or segment; the streamer checks both names before use.
    pub const RENDITION_FILE_ROUTE: &str = "/hls/{video_id}/{rendition}/{file}";
    /// An encrypted video's segment key.
    pub const KEY_ROUTE: &str = "/hls/{video_id}/key";

    /// The segment key of an encrypted video, as its rendition playlists name it.
    pub fn key(id: VideoId) -> String {
        format!("/hls/{id}/{KEY}")
    }

    /// The master playlist: what a player opens to play the video.
    pub fn master(id: VideoId) -> String {
        format!("/hls/{id}/{MASTER}")
    }

    /// The poster image.
    pub fn poster(id: VideoId) -> String {
        format!("/hls/{id}/{POSTER}")
    }

    /// The storyboard's WebVTT track, for scrubbing previews.
    pub fn storyboard_track(id: VideoId) -> String {
        format!("/hls/{id}/{TRACK}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_serve_the_paths_the_urls_name() {
        let id = VideoId::new();
        let route = |pattern: &str| pattern.replace("{video_id}", &id.to_string());
        assert_eq!(route(urls::MASTER_ROUTE), urls::master(id));
        assert_eq!(route(urls::POSTER_ROUTE), urls::poster(id));
        assert_eq!(route(urls::TRACK_ROUTE), urls::storyboard_track(id));
        assert!(route(urls::SPRITE_ROUTE).ends_with(SPRITE));
        assert_eq!(route(urls::KEY_ROUTE), urls::key(id));
        let from_rendition = format!("/hls/{id}/720p/{KEY_FROM_RENDITION}").replace("/720p/../", "/");
        assert_eq!(from_rendition, urls::key(id), "a rendition playlist's key URI reaches the route");
    }

    #[test]
    fn segment_names_are_what_the_pattern_makes() {
        assert!(is_segment_name("seg_000.ts") && is_segment_name("seg_123456.ts"));
        for bad in ["seg_1.ts", "seg_0a1.ts", "seg_001.ts/x", "seg_0000000.ts", "x_001.ts"] {
            assert!(!is_segment_name(bad), "{bad}");
        }
        assert_eq!(SEGMENT_PATTERN.replace("%03d", "007"), "seg_007.ts");
        assert!(is_segment_name(&FMP4_SEGMENT_PATTERN.replace("%03d", "007")));
        assert!(!is_segment_name("seg_007.mp4") && !is_segment_name("seg_007.m4s.ts"));
    }

    #[test]
    fn media_files_have_the_content_type_of_their_format() {
        assert_eq!(media_content_type("720p", "seg_001.ts"), Some("video/mp2t"));
        assert_eq!(media_content_type("720p", "seg_001.m4s"), Some("video/mp4"));
        assert_eq!(media_content_type("720p", &init_segment_name("720p")), Some("video/mp4"));
        assert_eq!(init_segment_name("audio_low"), "init_audio_low.mp4");
        for bad in ["init_480p.mp4", "init.mp4", "init_720p.m4s", "seg_1.m4s", "index.m3u8"] {
            assert_eq!(media_content_type("720p", bad), None, "{bad}");
        }
    }

    #[test]
    fn audio_renditions_are_named_by_group_and_position() {
        assert_eq!(audio_rendition_name(AUDIO_RENDITION, 0), "audio");
        assert_eq!(audio_rendition_name(LOW_AUDIO_RENDITION, 0), "audio_low");
        assert_eq!(audio_rendition_name(AUDIO_RENDITION, 1), "audio_2");
        assert_eq!(audio_rendition_name(LOW_AUDIO_RENDITION, 7), "audio_low_8");
        for track in 0..99 {
            for group in [AUDIO_RENDITION, LOW_AUDIO_RENDITION] {
                assert!(is_rendition_name(&audio_rendition_name(group, track)), "{group} {track}");
            }
        }
        for bad in ["audio_1", "audio_02", "audio_100", "audio_", "audio_low_", "audio_x", "audio_low_1", "audios"] {
            assert!(!is_rendition_name(bad), "{bad}");
        }
    }

    #[test]
    fn caption_names_are_what_their_makers_make() {
        let lang = LanguageTag::parse("pt-BR").unwrap();
        assert!(is_caption_rendition_name(&caption_rendition_name(&lang)));
        for bad in ["subs_", "subs_pt-br", "subs_../x", "subs_english", "pt-BR", "audio"] {
            assert!(!is_caption_rendition_name(bad), "{bad}");
        }
        assert!(is_caption_segment_name(&caption_segment_name(12, 7)));
        assert_eq!(caption_segment_name(12, 7), "r12_007.vtt");
        for bad in ["r_000.vtt", "r1_0.vtt", "r1_000.ts", "x1_000.vtt", "r1_000.vtt/x", "r-1_000.vtt"] {
            assert!(!is_caption_segment_name(bad), "{bad}");
        }
    }
}
