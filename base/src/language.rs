//! BCP 47 language tags, as captions are filed under: `en`, `pt-BR`, `zh-Hant`,
//! `sr-Latn-RS`. Only the common shape is taken (a language, then an optional script,
//! region and variants), each subtag in its canonical case, so one language has one
//! spelling and a tag is safe in an object key, a URL path and a playlist attribute.

use std::fmt;

use crate::text::ValidationError;

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
}

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
