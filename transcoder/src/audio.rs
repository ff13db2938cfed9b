//! The audio renditions and which rung plays which: every rung plays the shared
//! 128 kbit/s AAC rendition, except the low rungs (video under 192 kbit/s), which play
//! a 48 kbit/s one, so that one variant fits under 192 kbit/s with its sound (Apple's
//! HLS authoring spec, 9.21). ffmpeg's AAC encoder has no HE-AAC: both are AAC-LC.
//!
//! Each is an HLS audio group holding every audio track of the source (`crate::tracks`),
//! so a viewer can switch language on any rung: the default track's rendition has the
//! group's name (`audio`, `audio_low`, as for a single-track source), the others are
//! numbered (`audio_2`, `audio_low_2`, …).

use streambox_storage::layout::{self, AUDIO_RENDITION, LOW_AUDIO_RENDITION};

use crate::ladder::Rung;

/// One audio group: its id (also its default track's folder) and its AAC bit rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioRendition {
    pub name: &'static str,
    pub kbps: u32,
}

/// The audio every rung above the low ones plays.
pub const SHARED: AudioRendition = AudioRendition { name: AUDIO_RENDITION, kbps: 128 };
/// The audio of the low rungs.
pub const LOW: AudioRendition = AudioRendition { name: LOW_AUDIO_RENDITION, kbps: 48 };

/// A rung whose video target is under this plays [`LOW`]: with [`SHARED`] it could not
/// stay under 192 kbit/s.
const LOW_RUNG_BELOW_KBPS: u32 = 192;

pub const CODEC: &str = "mp4a.40.2";

/// The audio `rung` plays.
pub fn of(rung: &Rung) -> AudioRendition {
    if rung.video_kbps < LOW_RUNG_BELOW_KBPS { LOW } else { SHARED }
}

/// The audio renditions `rungs` play, each once, shared first.
pub fn renditions(rungs: &[Rung]) -> Vec<AudioRendition> {
    [SHARED, LOW].into_iter().filter(|audio| rungs.iter().any(|rung| of(rung) == *audio)).collect()
}

/// One audio rendition to encode: a track of the source in one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub group: AudioRendition,
    /// The track's position among the source's offered tracks (0: the default).
    pub track: usize,
    /// Its folder: `audio`, `audio_2`, `audio_low`, …
    pub folder: String,
}

/// Every audio rendition of `tracks` source tracks in the groups `rungs` play: group by
/// group, each group's tracks in order.
pub fn outputs(rungs: &[Rung], tracks: usize) -> Vec<Output> {
    renditions(rungs)
        .into_iter()
        .flat_map(|group| {
            (0..tracks).map(move |track| Output {
                group,
                track,
                folder: layout::audio_rendition_name(group.name, track),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ladder::{Level, Rung};

    fn rung(video_kbps: u32) -> Rung {
        Rung { name: "240p".into(), width: 426, height: 240, video_kbps, level: Level { idc: 30 } }
    }

    #[test]
    fn only_rungs_under_192_kbps_play_the_low_rate_audio() {
        assert_eq!(of(&rung(80)), LOW);
        assert_eq!(of(&rung(192)), SHARED);
        assert_eq!(renditions(&[rung(800), rung(80)]), [SHARED, LOW]);
        assert_eq!(renditions(&[rung(800), rung(400)]), [SHARED]);
        assert_eq!(renditions(&[rung(100)]), [LOW]);
    }

    #[test]
    fn every_track_has_a_rendition_in_every_group() {
        let folders: Vec<_> = outputs(&[rung(800), rung(80)], 2).into_iter().map(|o| o.folder).collect();
        assert_eq!(folders, ["audio", "audio_2", "audio_low", "audio_low_2"]);
        assert!(outputs(&[rung(800)], 0).is_empty(), "a silent source has none");
    }
}
