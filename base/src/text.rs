//! The one rule for text people type and others read (titles, descriptions, names,
//! bios, comments): trimmed, bounded in characters, and free of what renders as
//! nothing or reorders what is around it — control characters, bidirectional
//! overrides and isolates, zero-width and other invisible characters, byte-order
//! marks — so `Admin` and `Admin\u{200b}` can never both exist, and no title can
//! display its end first. Zero-width (non-)joiners stay allowed between two non-ASCII
//! characters, where emoji sequences and scripts such as Persian need them.

use std::fmt;

use schemars::{Schema, json_schema};

/// A field failed validation: which one, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The field as the client names it (`title`, `email`); the API's 422 names it too.
    pub field: &'static str,
    /// What is wrong, phrased to follow the field's name (`must be at most 200 characters`).
    pub problem: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ValidationError {}

/// Gives a validated text type (with a `RULE`) its rule's JSON Schema.
#[macro_export]
macro_rules! text_schema {
    ($name:ident) => {
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                Self::RULE.schema()
            }
        }
    };
}

/// How one field's text is bounded.
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    /// The field as the client names it, reported in [`ValidationError::field`].
    pub field: &'static str,
    /// Fewest characters after trimming; 0 makes the field optional (empty allowed).
    pub min_chars: usize,
    /// Most characters after trimming (characters, not bytes).
    pub max_chars: usize,
    /// Line breaks and tabs allowed.
    pub multiline: bool,
}

impl TextRule {
    /// The rule as JSON Schema, for the API document. Lengths count characters after
    /// trimming; the characters refused are described, not patterned.
    pub fn schema(&self) -> Schema {
        let lines = if self.multiline { "line breaks and tabs allowed" } else { "one line" };
        json_schema!({
            "type": "string",
            "minLength": self.min_chars,
            "maxLength": self.max_chars,
            "description": format!("Trimmed; {lines}; no control, bidirectional-override or invisible characters"),
        })
    }

    /// The trimmed text, if it keeps the rule.
    pub fn check(&self, raw: &str) -> Result<String, ValidationError> {
        let fail = |problem: String| ValidationError { field: self.field, problem };
        let text = raw.trim();
        let chars: Vec<char> = text.chars().collect();
        if chars.is_empty() && self.min_chars > 0 {
            return Err(fail("is required".into()));
        }
        if chars.len() < self.min_chars {
            return Err(fail(format!("must be at least {} characters", self.min_chars)));
        }
        if chars.len() > self.max_chars {
            return Err(fail(format!("must be at most {} characters", self.max_chars)));
        }
        for (i, &c) in chars.iter().enumerate() {
            let joins = || {
                let visible_non_ascii = |c: Option<&char>| c.is_some_and(|c| !c.is_ascii() && !c.is_whitespace());
                visible_non_ascii(i.checked_sub(1).and_then(|before| chars.get(before)))
                    && visible_non_ascii(chars.get(i + 1))
            };
            let problem = match c {
                '\n' | '\r' | '\t' if self.multiline => None,
                c if c.is_control() => Some("must not contain control characters"),
                '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {
                    Some("must not contain bidirectional text controls")
                }
                '\u{200C}' | '\u{200D}' if joins() => None,
                '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{2064}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}' => Some("must not contain invisible characters"),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(fail(format!("{problem} (U+{:04X} at character {})", u32::from(c), i + 1)));
            }
        }
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: TextRule = TextRule { field: "name", min_chars: 1, max_chars: 10, multiline: false };
    const PARAGRAPH: TextRule = TextRule { field: "body", min_chars: 0, max_chars: 100, multiline: true };

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(LINE.check("  Ana  ").unwrap(), "Ana");
        assert_eq!(LINE.check("   ").unwrap_err().problem, "is required");
        assert!(LINE.check(&"x".repeat(11)).is_err());
        assert_eq!(LINE.check(&"é".repeat(10)).unwrap().chars().count(), 10, "characters, not bytes");
        assert_eq!(PARAGRAPH.check("").unwrap(), "");
        assert!(PARAGRAPH.check("one\ntwo\tthree").is_ok());
        assert!(LINE.check("one\ntwo").is_err(), "a line has no breaks");
        assert!(PARAGRAPH.check("bell\u{7}").is_err());
    }

    #[test]
    fn invisible_and_reordering_characters_are_refused() {
        for sneaky in [
            "Admin\u{200b}",
            "\u{feff}Admin",
            "Ad\u{2060}min",
            "Ad\u{ad}min",
            "ev\u{202e}gpj",
            "x\u{2066}y\u{2069}",
            "a\u{200f}b",
            "Admin\u{200d}",
            "A\u{200c}dmin",
        ] {
            let refused = LINE.check(sneaky).unwrap_err();
            assert_eq!(refused.field, "name");
            assert!(refused.problem.contains("U+"), "{sneaky:?}: {}", refused.problem);
        }
    }

    #[test]
    fn joiners_inside_emoji_and_scripts_are_kept() {
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(LINE.check(family).unwrap(), family);
        let persian = "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}";
        assert_eq!(LINE.check(persian).unwrap(), persian);
        assert!(LINE.check("Caf\u{e9} \u{2615}\u{fe0f}").is_ok(), "variation selectors are visible text");
    }
}
