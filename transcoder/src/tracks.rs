//! The source's audio and subtitle tracks, as ffprobe lists them, made into what the
//! ladder offers: at most [`MAX_AUDIO`] audio tracks (the default one first, so it keeps
//! the renditions a single-track source has always had) and [`MAX_SUBTITLES`] text
//! subtitle tracks, each with its language as a BCP 47 tag and the name players show.
//! Names come from the container's tags and reach only playlist attributes and the
//! captions table, never a path: renditions are named by position
//! (`layout::audio_rendition_name`) and caption tracks by their language tag.

use streambox_base::language::LanguageTag;

/// Audio tracks offered; a source's further tracks are left out (with a log line).
pub const MAX_AUDIO: usize = 8;
/// Subtitle tracks taken; further ones are left out (with a log line).
pub const MAX_SUBTITLES: usize = 16;
/// The longest name a player is given (the captions table takes 64 characters).
const MAX_NAME_CHARS: usize = 64;
/// The name of a single audio track the source names no language or title for: what
/// the master has always called it.
const ORIGINAL: &str = "Original";

/// Subtitle codecs ffmpeg turns into WebVTT text. Picture subtitles (DVD, PGS) and
/// closed captions inside the video stream are not among them.
const TEXT_SUBTITLES: [&str; 6] = ["mov_text", "subrip", "webvtt", "ass", "ssa", "text"];

/// What ffprobe says of one audio or subtitle stream.
#[derive(Debug, Clone, Copy)]
pub struct Probed<'a> {
    /// Its absolute index in the source.
    pub stream: u32,
    pub codec: Option<&'a str>,
    /// The `language` tag, as the container wrote it.
    pub language: Option<&'a str>,
    /// The `title` tag.
    pub title: Option<&'a str>,
    /// Marked as the default track of its kind.
    pub default: bool,
}

/// An audio track of the source, as the master names its renditions.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioTrack {
    /// Its absolute index in the source.
    pub stream: u32,
    /// `LANGUAGE`, when the source names one.
    pub language: Option<LanguageTag>,
    /// `NAME` in the shared group, unique among the tracks.
    pub name: String,
    /// `NAME` in the low-rate group.
    pub low_name: String,
}

/// A text subtitle stream of the source, taken as a caption track.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleTrack {
    /// Its absolute index in the source.
    pub stream: u32,
    /// Its language (`und` when the source names none: caption tracks are filed by language).
    pub language: LanguageTag,
    /// The name players show.
    pub name: String,
}

/// The audio tracks offered, the default one first (else the first), the others in
/// the source's order.
pub fn audio(streams: &[Probed]) -> Vec<AudioTrack> {
    let mut ordered: Vec<&Probed> = streams.iter().collect();
    if let Some(at) = ordered.iter().position(|s| s.default) {
        let default = ordered.remove(at);
        ordered.insert(0, default);
    }
    if ordered.len() > MAX_AUDIO {
        tracing::info!(
            tracks = ordered.len(),
            offered = MAX_AUDIO,
            "the source has more audio tracks than are offered"
        );
        ordered.truncate(MAX_AUDIO);
    }
    let only = ordered.len() == 1;
    let mut taken = Vec::new();
    ordered
        .iter()
        .enumerate()
        .map(|(i, probed)| {
            let language = probed.language.and_then(LanguageTag::from_media);
            let named = name(probed.title, language.as_ref());
            let (name, low_name) = match named {
                Some(name) => (unique(name, &taken), None),
                None if only => (ORIGINAL.to_owned(), Some(format!("{ORIGINAL} (low bit rate)"))),
                None => (unique(format!("Track {}", i + 1), &taken), None),
            };
            taken.push(name.clone());
            AudioTrack { stream: probed.stream, language, low_name: low_name.unwrap_or_else(|| name.clone()), name }
        })
        .collect()
}

/// The text subtitle tracks taken: the first of each language, in the source's order.
pub fn subtitles(streams: &[Probed]) -> Vec<SubtitleTrack> {
    let mut taken: Vec<SubtitleTrack> = Vec::new();
    for probed in streams {
        let codec = probed.codec.unwrap_or("unknown");
        if !TEXT_SUBTITLES.contains(&codec) {
            tracing::info!(stream = probed.stream, codec, "a subtitle stream that is not text is not taken");
            continue;
        }
        let language = probed.language.and_then(LanguageTag::from_media).unwrap_or_else(undetermined);
        if taken.iter().any(|t| t.language == language) {
            tracing::info!(stream = probed.stream, %language, "a second subtitle stream of one language is not taken");
            continue;
        }
        if taken.len() == MAX_SUBTITLES {
            tracing::info!(taken = MAX_SUBTITLES, "the source has more subtitle streams than are taken");
            break;
        }
        let name = name(probed.title, Some(&language)).unwrap_or_else(|| format!("Subtitles {}", taken.len() + 1));
        taken.push(SubtitleTrack { stream: probed.stream, language, name });
    }
    taken
}

fn undetermined() -> LanguageTag {
    LanguageTag::parse("und").expect("und is a language tag")
}

/// The title, else the language's English name, else its tag; `None` when the source
/// says neither. Control characters and `"` (which would end a playlist attribute) are
/// dropped, and the name is cut to [`MAX_NAME_CHARS`].
fn name(title: Option<&str>, language: Option<&LanguageTag>) -> Option<String> {
    let title: String = title.unwrap_or_default().chars().filter(|c| !c.is_control() && *c != '"').collect();
    let title = title.trim();
    let name = match language {
        _ if !title.is_empty() => title.to_owned(),
        Some(language) if language.as_str() != "und" => {
            language.english_name().map_or_else(|| language.to_string(), str::to_owned)
        }
        _ => return None,
    };
    Some(name.chars().take(MAX_NAME_CHARS).collect())
}

/// `name`, or with ` (2)`, ` (3)`… when a track before it has that name: `NAME` is
/// unique within an audio group.
fn unique(name: String, taken: &[String]) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        let suffix = format!(" ({n})");
        let room = MAX_NAME_CHARS - suffix.chars().count();
        candidate = name.chars().take(room).chain(suffix.chars()).collect();
        n += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(stream: u32, language: Option<&'static str>, title: Option<&'static str>) -> Probed<'static> {
        Probed { stream, codec: Some("aac"), language, title, default: false }
    }

    #[test]
    fn the_default_track_comes_first_and_each_is_named_by_title_or_language() {
        let streams = [
            stream(1, Some("eng"), None),
            Probed { default: true, ..stream(2, Some("fre"), None) },
            stream(3, Some("und"), Some("Director's \"cut\"\n")),
            stream(4, None, None),
            stream(5, Some("eng"), None),
        ];
        let tracks = audio(&streams);
        let seen: Vec<_> =
            tracks.iter().map(|t| (t.stream, t.language.as_ref().map(|l| l.as_str()), t.name.as_str())).collect();
        assert_eq!(
            seen,
            [
                (2, Some("fr"), "French"),
                (1, Some("en"), "English"),
                (3, None, "Director's cut"),
                (4, None, "Track 4"),
                (5, Some("en"), "English (2)"),
            ]
        );
        assert!(tracks.iter().all(|t| t.low_name == t.name), "one name in both groups keeps the choice across rungs");
    }

    #[test]
    fn a_single_untagged_track_keeps_its_old_names_and_at_most_eight_are_offered() {
        let single = audio(&[stream(1, None, None)]);
        assert_eq!((single[0].name.as_str(), single[0].low_name.as_str()), ("Original", "Original (low bit rate)"));
        let many: Vec<_> = (0..12).map(|i| stream(i, None, None)).collect();
        assert_eq!(audio(&many).len(), MAX_AUDIO);
    }

    #[test]
    fn only_text_subtitles_are_taken_once_per_language() {
        let sub =
            |stream, codec, language| Probed { stream, codec: Some(codec), language, title: None, default: false };
        let taken = subtitles(&[
            sub(2, "mov_text", Some("spa")),
            sub(3, "hdmv_pgs_subtitle", Some("eng")),
            sub(4, "subrip", Some("spa")),
            sub(5, "subrip", None),
            sub(6, "ass", Some("ger")),
        ]);
        let seen: Vec<_> = taken.iter().map(|t| (t.stream, t.language.as_str(), t.name.as_str())).collect();
        assert_eq!(seen, [(2, "es", "Spanish"), (5, "und", "Subtitles 2"), (6, "de", "German")]);
    }
}
