//! A master playlist's subtitle renditions: one `EXT-X-MEDIA` of `TYPE=SUBTITLES` per
//! caption track in the group [`GROUP`], and `SUBTITLES` naming that group on every
//! variant. Everything else in the master stays as its writer made it.

use std::collections::HashMap;

use m3u8_rs::{AlternativeMedia, AlternativeMediaType, MasterPlaylist, QuotedOrUnquoted};

/// The subtitle group's id.
pub const GROUP: &str = "subs";

/// A track as the master names it.
pub struct Track {
    /// The BCP 47 tag (`LANGUAGE`).
    pub lang: String,
    /// What players show (`NAME`).
    pub label: String,
    /// The track's playlist, relative to the master.
    pub uri: String,
}

/// Makes `tracks` the subtitle renditions of `master`, replacing any it had; with no
/// tracks, variants name no subtitle group.
pub fn set_subtitles(master: &mut MasterPlaylist, tracks: &[Track]) {
    master.alternatives.retain(|a| a.media_type != AlternativeMediaType::Subtitles);
    master.alternatives.extend(tracks.iter().map(|track| AlternativeMedia {
        media_type: AlternativeMediaType::Subtitles,
        uri: Some(track.uri.clone()),
        group_id: GROUP.into(),
        language: Some(track.lang.clone()),
        name: track.label.clone(),
        default: false,
        autoselect: true,
        // m3u8-rs leaves a false DEFAULT out; it is written for players that want it said.
        other_attributes: Some(HashMap::from([("DEFAULT".to_owned(), QuotedOrUnquoted::Unquoted("NO".into()))])),
        ..Default::default()
    }));
    let group = (!tracks.is_empty()).then(|| GROUP.to_owned());
    // I-frame streams name no renditions: only the playable variants take the group.
    for variant in master.variants.iter_mut().filter(|variant| !variant.is_i_frame) {
        variant.subtitles.clone_from(&group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &[u8] = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Original\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/index.m3u8\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=640x360,AUDIO=\"audio\"\n360p/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=2000,RESOLUTION=1280x720,AUDIO=\"audio\"\n720p/index.m3u8\n";

    fn written(master: &MasterPlaylist) -> String {
        let mut bytes = Vec::new();
        master.write_to(&mut bytes).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn tracks_are_named_and_every_variant_points_at_them_and_none_is_left_behind() {
        let mut master = m3u8_rs::parse_master_playlist_res(MASTER).unwrap();
        let track = |lang: &str, label: &str| Track {
            lang: lang.into(),
            label: label.into(),
            uri: format!("subs_{lang}/index.m3u8"),
        };
        set_subtitles(&mut master, &[track("en", "English"), track("pt-BR", "Português")]);
        set_subtitles(&mut master, &[track("en", "English"), track("pt-BR", "Português")]);
        let text = written(&master);
        assert_eq!(text.matches("TYPE=SUBTITLES").count(), 2, "{text}");
        assert!(
            text.contains(
                "TYPE=SUBTITLES,URI=\"subs_pt-BR/index.m3u8\",GROUP-ID=\"subs\",LANGUAGE=\"pt-BR\",NAME=\"Português\",AUTOSELECT=YES,DEFAULT=NO"
            ),
            "{text}"
        );
        assert_eq!(text.matches("SUBTITLES=\"subs\"").count(), 2, "{text}");
        assert!(text.contains("TYPE=AUDIO") && text.contains("720p/index.m3u8"), "{text}");

        set_subtitles(&mut master, &[]);
        let text = written(&master);
        assert!(!text.contains("SUBTITLES"), "{text}");
        assert!(text.contains("TYPE=AUDIO"), "{text}");
    }
}
