//! Is this a video container? Decided from the first bytes, before anything more is
//! stored: a renamed text file or image is refused at once with 415.

/// Bytes needed to recognise every container below (MPEG-TS checks a second sync byte).
pub const NEEDED: usize = 189;

/// The container the first bytes belong to, if it is one we take.
pub fn container(head: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(4, b"ftyp") || at(4, b"moov") || at(4, b"mdat") || at(4, b"wide") || at(4, b"free") || at(4, b"skip") {
        Some("mp4/mov")
    } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("matroska/webm")
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        Some("avi")
    } else if at(0, &[0x47]) && at(188, &[0x47]) {
        Some("mpeg-ts")
    } else if at(0, &[0, 0, 1, 0xBA]) || at(0, &[0, 0, 1, 0xB3]) {
        Some("mpeg-ps")
    } else if at(0, b"FLV") {
        Some("flv")
    } else if at(0, &[0x30, 0x26, 0xB2, 0x75]) {
        Some("asf/wmv")
    } else if at(0, b"OggS") {
        Some("ogg")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_recognised_and_others_refused() {
        assert_eq!(container(b"\0\0\0\x20ftypisom\0\0\x02\0"), Some("mp4/mov"));
        assert_eq!(container(&[0x1A, 0x45, 0xDF, 0xA3, 1, 2]), Some("matroska/webm"));
        assert_eq!(container(b"RIFF\x10\0\0\0AVI LIST"), Some("avi"));
        let mut ts = vec![0u8; 400];
        ts[0] = 0x47;
        ts[188] = 0x47;
        assert_eq!(container(&ts), Some("mpeg-ts"));
        ts[188] = 0;
        assert_eq!(container(&ts), None, "one sync byte is not a transport stream");
        assert_eq!(container(b"FLV\x01\x05"), Some("flv"));
        for junk in [&b"these are my shopping notes"[..], b"\x89PNG\r\n\x1a\n", b"%PDF-1.7", b"", b"GIF89a"] {
            assert_eq!(container(junk), None, "{junk:?}");
        }
    }
}
