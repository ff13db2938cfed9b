//! Alternate audio and embedded captions: a source with two audio languages and a text
//! subtitle stream is offered with both languages in every audio group (`LANGUAGE`,
//! `NAME`, the source's default track the one `DEFAULT=YES`), each rendition playing its
//! own track, and its subtitles as an embedded caption track — in one run and in chunks.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{ENGLISH_TONE_HZ, FRENCH_TONE_HZ, TestApp, make_clip_with_tracks, tone_of};

const DEADLINE: Duration = Duration::from_secs(240);

async fn text(app: &TestApp, path: &str) -> String {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// Uploads `clip_name` (see `make_clip_with_tracks`) of `seconds`, transcoded in
/// `chunks` video chunks (0: one run), and checks its audio groups `groups`, each
/// rendition's tone, and its Spanish caption track.
async fn two_languages_and_subtitles_are_offered(
    overrides: &[(&str, &str)],
    clip_name: &str,
    seconds: u32,
    chunks: i64,
    groups: &[&str],
) {
    let app = TestApp::spawn_with(overrides).await;
    let owner = app.user("creator").await;
    let clip = make_clip_with_tracks(app.dir.path(), clip_name, 320, 240, seconds);
    let video = app.upload_accepted(&owner.token, &clip, "Two languages").await;
    let done = app.wait_for_status(&owner.token, &video, &["ready", "failed"], DEADLINE).await;
    assert_eq!(done["status"], "ready", "{done}");
    let encoded_in: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transcode_chunks c JOIN transcode_jobs j ON j.id = c.job_id
         WHERE j.video_id = $1::uuid AND c.kind = 'video'",
    )
    .bind(&video)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(encoded_in, chunks, "video chunks");

    let master_text = text(&app, &format!("/hls/{video}/master.m3u8")).await;
    let master = m3u8_rs::parse_master_playlist_res(master_text.as_bytes()).unwrap();
    let mut audio: BTreeMap<&str, Vec<&m3u8_rs::AlternativeMedia>> = BTreeMap::new();
    for media in master.alternatives.iter().filter(|a| a.media_type == m3u8_rs::AlternativeMediaType::Audio) {
        audio.entry(media.group_id.as_str()).or_default().push(media);
    }
    assert_eq!(audio.keys().copied().collect::<Vec<_>>(), groups, "{master_text}");
    let mut tones = Vec::new();
    for (group, media) in &audio {
        let listed: Vec<_> = media.iter().map(|m| (m.language.as_deref(), m.name.as_str(), m.default)).collect();
        assert_eq!(
            listed,
            [(Some("fr"), "French", true), (Some("en"), "English", false)],
            "{group}: the default track first and the only default: {master_text}"
        );
        for m in media {
            let uri = m.uri.as_deref().unwrap();
            let tone = tone_of(&app.url(&format!("/hls/{video}/{uri}")));
            let wanted = if m.language.as_deref() == Some("fr") { FRENCH_TONE_HZ } else { ENGLISH_TONE_HZ };
            if (tone - wanted).abs() > 0.05 * wanted {
                tones.push(format!("{group} {uri}: {tone:.0} Hz, not {wanted} Hz"));
            }
        }
    }
    assert!(tones.is_empty(), "renditions playing the wrong track:\n{}", tones.join("\n"));
    let playable: Vec<_> = master.variants.iter().filter(|v| !v.is_i_frame).collect();
    assert!(playable.iter().all(|v| v.audio.as_deref().is_some_and(|g| groups.contains(&g))), "{master_text}");

    // The subtitle stream is an embedded caption track, listed, served and in the master.
    let listed = app.get_json(&format!("/api/v1/videos/{video}/captions"), &owner.token).await;
    let track = &listed["captions"][0];
    assert_eq!(
        (track["lang"].as_str(), track["label"].as_str(), track["source"].as_str()),
        (Some("es"), Some("Spanish"), Some("embedded")),
        "{listed}"
    );
    let whole = text(&app, &format!("/api/v1/videos/{video}/captions/es")).await;
    // Matroska's timeline starts with the AAC priming (21 ms): cues keep their place against
    // the picture, which starts as much later.
    assert!(
        whole.contains("\n00:00:01.0") && whole.contains(" --> 00:00:04.0") && whole.contains("\nHola\n"),
        "{whole}"
    );
    assert!(whole.contains("\nAdiós\n"), "{whole}");
    let subtitles: Vec<_> =
        master.alternatives.iter().filter(|a| a.media_type == m3u8_rs::AlternativeMediaType::Subtitles).collect();
    assert_eq!(subtitles.len(), 1, "{master_text}");
    assert_eq!((subtitles[0].language.as_deref(), subtitles[0].name.as_str()), (Some("es"), "Spanish"));
    let playlist = text(&app, &format!("/hls/{video}/{}", subtitles[0].uri.as_deref().unwrap())).await;
    let segment = m3u8_rs::parse_media_playlist_res(playlist.as_bytes()).unwrap().segments[0].uri.clone();
    let cues = text(&app, &format!("/hls/{video}/subs_es/{segment}")).await;
    assert!(cues.contains("Hola"), "{cues}");

    // The download plays the default track.
    let download = app
        .http
        .get(app.url(&format!("/api/v1/videos/{video}/download")))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let mp4 = app.dir.path().join("download.mp4");
    std::fs::write(&mp4, download.bytes().await.unwrap()).unwrap();
    let tone = tone_of(&mp4.display().to_string());
    assert!((tone - FRENCH_TONE_HZ).abs() < 0.05 * FRENCH_TONE_HZ, "the download plays {tone:.0} Hz");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mp4_with_two_languages_and_mov_text_is_offered_in_both_groups_with_its_captions() {
    let overrides = [("STREAMBOX_LADDER", "240:400,144:80")];
    two_languages_and_subtitles_are_offered(&overrides, "languages.mp4", 6, 0, &["audio", "audio_low"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_matroska_source_with_two_languages_and_subrip_is_offered_the_same() {
    let chunked =
        [("STREAMBOX_LADDER", "240:400,144:200"), ("STREAMBOX_SEGMENT_SECONDS", "2"), ("STREAMBOX_CHUNK_SECONDS", "4")];
    two_languages_and_subtitles_are_offered(&chunked, "languages.mkv", 9, 2, &["audio"]).await;
}
