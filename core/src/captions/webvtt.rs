//! Caption files as uploaded (WebVTT or SRT) made into one normal WebVTT: numeric cue
//! ids, `hh:mm:ss.mmm` times, no cue settings, styles or regions; in cue text only
//! `<i>` and `<b>` stay markup, everything else is escaped and shows as written.

use std::fmt::Write;

use thiserror::Error;

/// Why a caption file was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CaptionError {
    /// Not UTF-8 text (a binary file, or another encoding).
    #[error("the file is not UTF-8 text")]
    NotText,
    /// Text, but not WebVTT or SRT cues.
    #[error("{0}")]
    Unparsable(String),
}

/// One cue: from `start_ms` to `end_ms`, its text already escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// Start, in milliseconds from the first picture.
    pub start_ms: u64,
    /// End, after the start.
    pub end_ms: u64,
    /// Lines of WebVTT cue text.
    pub text: String,
}

/// The cues of a WebVTT or SRT file, in the order given. A file with none is refused.
pub fn parse(file: &[u8]) -> Result<Vec<Cue>, CaptionError> {
    if file.contains(&0) {
        return Err(CaptionError::NotText);
    }
    let text = std::str::from_utf8(file).map_err(|_| CaptionError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).replace("\r\n", "\n").replace('\r', "\n");
    let is_webvtt = text.starts_with("WEBVTT") && text[6..].starts_with([' ', '\t', '\n']) || text == "WEBVTT";
    let mut blocks = text.split("\n\n").map(|b| b.trim_matches('\n')).filter(|b| !b.is_empty());
    if is_webvtt {
        blocks.next();
    }
    let mut cues = Vec::new();
    for block in blocks {
        if is_webvtt && ["NOTE", "STYLE", "REGION"].iter().any(|k| block.starts_with(k)) {
            continue;
        }
        let mut lines = block.lines();
        let first = lines.next().unwrap_or_default();
        let timing = if first.contains("-->") { first } else { lines.next().unwrap_or_default() };
        let (start_ms, end_ms) = timing_of(timing)
            .ok_or_else(|| CaptionError::Unparsable(format!("cue {} has no valid timing line", cues.len() + 1)))?;
        if end_ms <= start_ms {
            return Err(CaptionError::Unparsable(format!("cue {} ends before it starts", cues.len() + 1)));
        }
        let lines: Vec<String> = lines.map(|line| escaped(line, is_webvtt)).collect();
        cues.push(Cue { start_ms, end_ms, text: lines.join("\n") });
    }
    if cues.is_empty() {
        return Err(CaptionError::Unparsable("the file has no cues".into()));
    }
    Ok(cues)
}

/// The cues as one WebVTT file, numbered from 1.
pub fn render(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for (i, cue) in cues.iter().enumerate() {
        write_cue(&mut out, i + 1, cue);
    }
    out
}

/// Appends `cue` to a WebVTT body as cue number `id`.
pub fn write_cue(out: &mut String, id: usize, cue: &Cue) {
    let _ = write!(out, "\n{id}\n{} --> {}\n", timestamp(cue.start_ms), timestamp(cue.end_ms));
    if !cue.text.is_empty() {
        out.push_str(&cue.text);
        out.push('\n');
    }
}

/// `hh:mm:ss.mmm`.
pub fn timestamp(ms: u64) -> String {
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// `start --> end` (SRT's commas or WebVTT's dots; anything after the end ignored).
fn timing_of(line: &str) -> Option<(u64, u64)> {
    let (start, rest) = line.split_once("-->")?;
    let end = rest.split_whitespace().next()?;
    Some((time_of(start.trim())?, time_of(end)?))
}

/// `[hh:]mm:ss[.,]mmm` in milliseconds.
fn time_of(text: &str) -> Option<u64> {
    let (clock, millis) = text.split_once(['.', ','])?;
    let parts: Vec<&str> = clock.split(':').collect();
    let number = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u64>().ok())?
    };
    let (hours, minutes, seconds) = match parts.as_slice() {
        [h, m, s] => (number(h, 4)?, number(m, 2)?, number(s, 2)?),
        [m, s] => (0, number(m, 2)?, number(s, 2)?),
        _ => return None,
    };
    if millis.len() != 3 || minutes > 59 || seconds > 59 {
        return None;
    }
    Some(((hours * 60 + minutes) * 60 + seconds) * 1000 + number(millis, 3)?)
}

/// A line of cue text with `<i>`, `<b>` and their ends kept (in lower case) and
/// everything else escaped. WebVTT's own escapes are read first, so they are not
/// escaped twice.
fn escaped(line: &str, is_webvtt: bool) -> String {
    let line = match is_webvtt {
        true => line.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u{a0}").replace("&amp;", "&"),
        false => line.to_owned(),
    };
    let mut out = String::with_capacity(line.len());
    let mut rest = line.as_str();
    while let Some(c) = rest.chars().next() {
        let tag = ["<i>", "</i>", "<b>", "</b>"]
            .into_iter()
            .find(|tag| rest.get(..tag.len()).is_some_and(|head| head.eq_ignore_ascii_case(tag)));
        if let Some(tag) = tag {
            out.push_str(tag);
            rest = &rest[tag.len()..];
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_becomes_webvtt_with_italics_and_bold_kept_and_the_rest_escaped() {
        let srt = "\u{feff}7\r\n00:00:01,500 --> 00:00:03,000\r\n<I>Hello</I> & <font color=red>world</font>\r\n\r\n\
                   8\r\n01:02:03,004 --> 01:02:04,000\r\n<b>a</b> --> b\r\nsecond line\r\n";
        assert_eq!(
            render(&parse(srt.as_bytes()).unwrap()),
            "WEBVTT\n\n1\n00:00:01.500 --> 00:00:03.000\n<i>Hello</i> &amp; &lt;font color=red&gt;world&lt;/font&gt;\n\n\
             2\n01:02:03.004 --> 01:02:04.000\n<b>a</b> --&gt; b\nsecond line\n"
        );
    }

    #[test]
    fn webvtt_is_normalised_without_settings_notes_or_double_escapes() {
        let vtt = "WEBVTT - a title\n\nNOTE a comment\n\nSTYLE\n::cue { color: red }\n\n\
                   intro\n00:01.000 --> 00:02.000 align:start line:0\nTom &amp; Jerry <v Tom>hi\n\n\
                   00:00:02.000 --> 00:00:03.000\n<script>x</script>\n";
        assert_eq!(
            render(&parse(vtt.as_bytes()).unwrap()),
            "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nTom &amp; Jerry &lt;v Tom&gt;hi\n\n\
             2\n00:00:02.000 --> 00:00:03.000\n&lt;script&gt;x&lt;/script&gt;\n"
        );
    }

    #[test]
    fn binary_and_unparsable_files_are_refused() {
        assert_eq!(parse(b"\x00\x01\x02WEBVTT"), Err(CaptionError::NotText));
        assert_eq!(parse(&[0xff, 0xfe, 0x41]), Err(CaptionError::NotText));
        for bad in [
            "",
            "WEBVTT\n",
            "hello world",
            "1\n00:00:01,000 -> 00:00:02,000\nx\n",
            "1\n00:00:03,000 --> 00:00:02,000\nx\n",
            "1\n00:00:01,0000 --> 00:00:02,000\nx\n",
            "1\n00:61:01,000 --> 00:62:02,000\nx\n",
        ] {
            assert!(matches!(parse(bad.as_bytes()), Err(CaptionError::Unparsable(_))), "{bad:?}");
        }
    }
}
