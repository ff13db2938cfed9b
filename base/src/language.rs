//! BCP 47 language tags, as captions are filed under: `en`, `pt-BR`, `zh-Hant`,
//! `sr-Latn-RS`. Only the common shape is taken (a language, then an optional script,
//! region and variants), each subtag in its canonical case, so one language has one
//! spelling and a tag is safe in an object key, a URL path and a playlist attribute.

use std::fmt;

use crate::text::ValidationError;

mod iso639;

/// A validated language tag in canonical case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LanguageTag(String);

/// The longest tag taken (a language, script, region and two variants fit).
pub const MAX_LEN: usize = 35;

impl LanguageTag {
    /// The tag in canonical case (`PT-br` is `pt-BR`), or what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let fail = || ValidationError {
            field: "lang",
            problem: "must be a BCP 47 language tag such as en, pt-BR or zh-Hant".into(),
        };
        if raw.is_empty() || raw.len() > MAX_LEN || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(fail());
        }
        let mut subtags = raw.split('-').peekable();
        let language = subtags.next().filter(|s| (2..=3).contains(&s.len()) && is_alpha(s)).ok_or_else(fail)?;
        let mut canonical = language.to_ascii_lowercase();
        if let Some(script) = subtags.next_if(|s| s.len() == 4 && is_alpha(s)) {
            canonical.push('-');
            canonical.push_str(&script[..1].to_ascii_uppercase());
            canonical.push_str(&script[1..].to_ascii_lowercase());
        }
        if let Some(region) = subtags.next_if(|s| (s.len() == 2 && is_alpha(s)) || (s.len() == 3 && is_digit(s))) {
            canonical.push('-');
            canonical.push_str(&region.to_ascii_uppercase());
        }
        for variant in subtags {
            let fits =
                (5..=8).contains(&variant.len()) || (variant.len() == 4 && variant.as_bytes()[0].is_ascii_digit());
            if !fits {
                return Err(fail());
            }
            canonical.push('-');
            canonical.push_str(&variant.to_ascii_lowercase());
        }
        Ok(Self(canonical))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language a container states for one of its streams: ISO 639-2 (`eng`, and the
    /// bibliographic `fre` as well as `fra`) becomes the two-letter tag BCP 47 asks for
    /// where ISO 639-1 has one (`en`, `fr`), and anything else is read as a BCP 47 tag
    /// (newer Matroska files state one). `None` for what names no language (`und`,
    /// `mul`, `mis`, `zxx`) or is no tag at all.
    pub fn from_media(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if NO_LANGUAGE.iter().any(|code| raw.eq_ignore_ascii_case(code)) {
            return None;
        }
        let lower = raw.to_ascii_lowercase();
        match iso639::CODES.binary_search_by(|(alpha3, _, _)| (*alpha3).cmp(lower.as_str())) {
            Ok(at) => Some(Self(iso639::CODES[at].1.to_owned())),
            Err(_) => Self::parse(raw).ok(),
        }
    }

    /// The English name of the tag's language (`Portuguese` for `pt-BR`), when it is one
    /// with a two-letter code.
    pub fn english_name(&self) -> Option<&'static str> {
        let primary = self.0.split('-').next()?;
        iso639::CODES.iter().find(|(_, alpha2, _)| *alpha2 == primary).map(|(_, _, name)| *name)
    }
}

/// ISO 639-2's codes for no particular language: undetermined, multiple, uncoded, none.
const NO_LANGUAGE: [&str; 4] = ["und", "mul", "mis", "zxx"];

impl fmt::Display for LanguageTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_alpha(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_digit(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_tags_are_taken_in_canonical_case() {
        for (raw, canonical) in [
            ("en", "en"),
            ("pt-BR", "pt-BR"),
            ("PT-br", "pt-BR"),
            ("zh-Hant", "zh-Hant"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("es-419", "es-419"),
            ("sl-rozaj-biske", "sl-rozaj-biske"),
            ("de-CH-1901", "de-CH-1901"),
        ] {
            assert_eq!(LanguageTag::parse(raw).unwrap().as_str(), canonical, "{raw}");
        }
    }

    #[test]
    fn stream_languages_become_the_shortest_tag_and_unknown_ones_none() {
        for (raw, tag) in
            [("eng", "en"), ("fre", "fr"), ("fra", "fr"), ("ger", "de"), ("spa", "es"), ("pt-BR", "pt-BR")]
        {
            assert_eq!(LanguageTag::from_media(raw).map(|t| t.0), Some(tag.to_owned()), "{raw}");
        }
        assert_eq!(LanguageTag::from_media("haw").map(|t| t.0), Some("haw".to_owned()), "no two-letter code");
        for raw in ["und", "UND", "mul", "zxx", "", "english", "../x"] {
            assert_eq!(LanguageTag::from_media(raw), None, "{raw}");
        }
        assert_eq!(LanguageTag::parse("pt-BR").unwrap().english_name(), Some("Portuguese"));
        assert_eq!(LanguageTag::parse("haw").unwrap().english_name(), None);
        assert!(iso639::CODES.windows(2).all(|w| w[0].0 < w[1].0), "sorted for the binary search");
    }

    #[test]
    fn junk_is_refused() {
        for raw in [
            "",
            "e",
            "english",
            "en_US",
            "en-",
            "-en",
            "en--US",
            "../x",
            "en US",
            "x-private",
            "en-U",
            "zh-Hant-TW-x",
            "é",
        ] {
            assert!(LanguageTag::parse(raw).is_err(), "{raw}");
        }
        assert!(LanguageTag::parse(&format!("en-{}", "abcdefgh-".repeat(4))).is_err(), "too long");
    }
}
