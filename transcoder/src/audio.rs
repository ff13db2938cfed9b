//! The audio renditions and which rung plays which: every rung plays the shared
//! 128 kbit/s AAC rendition, except the low rungs (video under 192 kbit/s), which play
//! a 48 kbit/s one, so that one variant fits under 192 kbit/s with its sound (Apple's
//! HLS authoring spec, 9.21). ffmpeg's AAC encoder has no HE-AAC: both are AAC-LC.

use streambox_storage::layout::{AUDIO_RENDITION, LOW_AUDIO_RENDITION};

use crate::ladder::Rung;

/// One audio rendition: its folder (also its HLS group id) and its AAC bit rate.
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
}
