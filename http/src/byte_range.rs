//! `Range: bytes=…` requests (RFC 9110 §14): one range, open or suffix; anything we
//! do not serve as a range (several ranges, other units, nonsense) is answered whole.

use std::ops::RangeInclusive;

/// What to answer for a `Range` header on an object of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 with the whole object.
    Whole,
    /// 206 with these bytes.
    Partial(RangeInclusive<u64>),
    /// 416: no byte of the object is in the range.
    Unsatisfiable,
}

/// How to answer `header` (the request's `Range` value, if any) for an object of `len`
/// bytes; a range reaching past the end is clamped to the object's last byte.
pub fn answer(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return RangeAnswer::Whole };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((start, end)) = spec.split_once('-') else { return RangeAnswer::Whole };
    let (start, end) = (start.trim(), end.trim());
    let parse = decimal;
    if start.is_empty() {
        // bytes=-N: the last N bytes.
        return match parse(end) {
            None => RangeAnswer::Whole,
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if len == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Partial(len.saturating_sub(n)..=len - 1),
        };
    }
    let Some(first) = parse(start) else { return RangeAnswer::Whole };
    let last = match end {
        "" => None,
        end => match parse(end) {
            Some(last) if last >= first => Some(last),
            _ => return RangeAnswer::Whole,
        },
    };
    if first >= len {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Partial(first..=last.map_or(len - 1, |last| last.min(len - 1)))
}

/// A header's non-negative integer: ASCII digits only (`u64::from_str` also takes a
/// leading `+`, which HTTP's grammar does not).
pub fn decimal(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// `Content-Range` of a partial answer.
pub fn content_range(range: &RangeInclusive<u64>, len: u64) -> String {
    format!("bytes {}-{}/{len}", range.start(), range.end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeAnswer::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(answer(None, 100), Whole);
        assert_eq!(answer(Some("bytes=0-9"), 100), Partial(0..=9));
        assert_eq!(answer(Some("bytes=90-"), 100), Partial(90..=99));
        assert_eq!(answer(Some("bytes=90-500"), 100), Partial(90..=99), "past the end is clamped");
        assert_eq!(answer(Some("bytes=-10"), 100), Partial(90..=99));
        assert_eq!(answer(Some("bytes=-500"), 100), Partial(0..=99), "a suffix longer than the object is all of it");
        assert_eq!(answer(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(answer(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(answer(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(answer(Some("bytes=5-1"), 100), Whole, "an invalid range is ignored");
        assert_eq!(answer(Some("bytes=0-1,5-6"), 100), Whole, "several ranges are answered whole");
        assert_eq!(answer(Some("items=0-1"), 100), Whole);
        assert_eq!(answer(Some("bytes=abc"), 100), Whole);
        assert_eq!(answer(Some("bytes=+5-9"), 100), Whole, "a sign is not part of a byte position");
        assert_eq!(
            (decimal("100"), decimal("+100"), decimal(""), decimal(" 1"), decimal("-1")),
            (Some(100), None, None, None, None)
        );
        assert_eq!(content_range(&(90..=99), 100), "bytes 90-99/100");
    }
}
