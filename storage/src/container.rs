//! The video containers StreamBox takes, recognised from a file's first bytes.
//!
//! The upload service refuses anything else at once (415); the transcoder sniffs the
//! stored source again and tells ffprobe and ffmpeg which demuxer to use, so a file
//! that became something else after its upload (a playlist naming other files, a
//! concat script, an image pattern) is never interpreted as one.

/// Bytes needed to recognise every container below (MPEG-TS checks a second sync byte).
pub const NEEDED: usize = 189;

/// A container we take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// ISO base media (MP4, MOV, M4V, 3GP): one of its box types at byte 4.
    Mp4,
    /// Matroska or WebM: the EBML header.
    Matroska,
    /// AVI: a RIFF file of form `AVI `.
    Avi,
    /// MPEG transport stream: sync bytes 188 bytes apart.
    MpegTs,
    /// MPEG program stream, or raw MPEG video: a pack or sequence header.
    MpegPs,
    /// Flash video.
    Flv,
    /// ASF (WMV): its header object's GUID.
    Asf,
    /// Ogg: an `OggS` page.
    Ogg,
}

impl Container {
    /// The container the first bytes belong to, if it is one we take.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
        let mp4_box = [b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"];
        if mp4_box.iter().any(|magic| at(4, *magic)) {
            Some(Self::Mp4)
        } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
            Some(Self::Matroska)
        } else if at(0, b"RIFF") && at(8, b"AVI ") {
            Some(Self::Avi)
        } else if at(0, &[0x47]) && at(188, &[0x47]) {
            Some(Self::MpegTs)
        } else if at(0, &[0, 0, 1, 0xBA]) || at(0, &[0, 0, 1, 0xB3]) {
            Some(Self::MpegPs)
        } else if at(0, b"FLV") {
            Some(Self::Flv)
        } else if at(0, &[0x30, 0x26, 0xB2, 0x75]) {
            Some(Self::Asf)
        } else if at(0, b"OggS") {
            Some(Self::Ogg)
        } else {
            None
        }
    }

    /// ffmpeg's demuxer for it (`-f`), so ffmpeg never guesses the format itself.
    pub fn demuxer(self) -> &'static str {
        match self {
            Self::Mp4 => "mov",
            Self::Matroska => "matroska",
            Self::Avi => "avi",
            Self::MpegTs => "mpegts",
            Self::MpegPs => "mpeg",
            Self::Flv => "flv",
            Self::Asf => "asf",
            Self::Ogg => "ogg",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_recognised_and_others_refused() {
        let container = Container::sniff;
        assert_eq!(container(b"\0\0\0\x20ftypisom\0\0\x02\0"), Some(Container::Mp4));
        assert_eq!(container(&[0x1A, 0x45, 0xDF, 0xA3, 1, 2]), Some(Container::Matroska));
        assert_eq!(container(b"RIFF\x10\0\0\0AVI LIST"), Some(Container::Avi));
        let mut ts = vec![0u8; 400];
        ts[0] = 0x47;
        ts[188] = 0x47;
        assert_eq!(container(&ts), Some(Container::MpegTs));
        ts[188] = 0;
        assert_eq!(container(&ts), None, "one sync byte is not a transport stream");
        assert_eq!(container(b"FLV\x01\x05"), Some(Container::Flv));
        let playlist = &b"#EXTM3U\n#EXTINF:6,\nfile:///etc/passwd\n"[..];
        let concat = &b"ffconcat version 1.0\nfile /etc/passwd\n"[..];
        for junk in
            [&b"these are my shopping notes"[..], b"\x89PNG\r\n\x1a\n", b"%PDF-1.7", b"", b"GIF89a", playlist, concat]
        {
            assert_eq!(container(junk), None, "{junk:?}");
        }
    }
}
