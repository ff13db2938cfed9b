//! Caption tracks: uploaded as SRT or WebVTT, kept as WebVTT, served as HLS subtitle
//! renditions lined up with the picture, named in the master (fresh at once after each
//! change), refused with codes when malformed, and changed by the owner only.

use std::time::Duration;

use reqwest::header;
use serde_json::Value;
use uuid::Uuid;

use crate::support::{TestApp, eventually, make_clip};

const TRANSCODE_DEADLINE: Duration = Duration::from_secs(180);
/// A change notice is pushed at once; this only bounds a loaded machine.
const NOTICE_DEADLINE: Duration = Duration::from_secs(20);

/// An SRT file: comma milliseconds, italics, markup that must be escaped, and a cue
/// long enough that its segment is compressed.
fn srt(first_line: &str) -> String {
    format!(
        "1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>{first_line}</i> & <font color=\"red\">friends</font>\r\n\r\n\
         2\r\n00:00:02,500 --> 00:00:03,500\r\n{}\r\n",
        "A line long enough to be worth compressing. ".repeat(8)
    )
}

async fn upload_caption(
    app: &TestApp,
    token: &str,
    video: &str,
    lang: &str,
    label: &str,
    body: String,
) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/api/v1/videos/{video}/captions/{lang}")))
        .query(&[("label", label)])
        .bearer_auth(token)
        .header(header::CONTENT_TYPE, "application/x-subrip")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn delete_caption(app: &TestApp, token: &str, video: &str, lang: &str) -> reqwest::Response {
    app.http
        .delete(app.url(&format!("/api/v1/videos/{video}/captions/{lang}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn fetch(app: &TestApp, path: &str) -> reqwest::Response {
    app.http.get(app.url(path)).header(header::ACCEPT_ENCODING, "gzip").send().await.unwrap()
}

async fn text(app: &TestApp, path: &str) -> String {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// The first video timestamp of a published segment, as ffprobe reads it, in seconds.
fn start_time(url: &str) -> f64 {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=start_time", "-of", "json", url])
        .output()
        .unwrap();
    let probed: Value = serde_json::from_slice(&output.stdout).unwrap();
    probed["streams"][0]["start_time"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_srt_upload_is_served_as_webvtt_segments_lined_up_with_the_picture_and_changes_reach_the_master_at_once() {
    let app = TestApp::spawn_with(&[("STREAMBOX_LADDER", "240:400,144:200")]).await;
    let owner = app.user("creator").await;
    let clip = make_clip(app.dir.path(), "clip.mp4", 320, 240, 4, true);
    let video = app.upload_accepted(&owner.token, &clip, "Captioned").await;
    app.wait_for_status(&owner.token, &video, &["ready"], TRANSCODE_DEADLINE).await;
    // The master is cached by the streamer before any track exists.
    let master = text(&app, &format!("/hls/{video}/master.m3u8")).await;
    assert!(!master.contains("SUBTITLES"), "{master}");

    let uploaded = upload_caption(&app, &owner.token, &video, "en", "English", srt("Hello")).await;
    assert_eq!(uploaded.status(), 201);
    let uploaded: Value = uploaded.json().await.unwrap();
    assert_eq!((uploaded["lang"].as_str(), uploaded["source"].as_str()), (Some("en"), Some("uploaded")));

    // The master names the track, and every variant the group.
    let master = eventually(NOTICE_DEADLINE, "the master to name the track", || async {
        Some(text(&app, &format!("/hls/{video}/master.m3u8")).await).filter(|m| m.contains("TYPE=SUBTITLES"))
    })
    .await;
    let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).unwrap();
    let subtitles: Vec<_> = parsed.alternatives.iter().filter(|a| a.group_id == "subs").collect();
    assert_eq!(subtitles.len(), 1, "{master}");
    assert_eq!((subtitles[0].language.as_deref(), subtitles[0].name.as_str()), (Some("en"), "English"));
    assert!(subtitles[0].autoselect && !subtitles[0].default, "{master}");
    assert!(master.contains("DEFAULT=NO"), "{master}");
    let playable: Vec<_> = parsed.variants.iter().filter(|v| !v.is_i_frame).collect();
    assert_eq!(playable.len(), 2, "{master}");
    assert!(playable.iter().all(|v| v.subtitles.as_deref() == Some("subs")), "{master}");

    // The subtitle playlist and its segments: types, compression, caching.
    let uri = subtitles[0].uri.clone().unwrap();
    let playlist = fetch(&app, &format!("/hls/{video}/{uri}")).await;
    assert_eq!(playlist.status(), 200);
    assert_eq!(playlist.headers()[header::CONTENT_TYPE], "application/vnd.apple.mpegurl");
    let playlist = text(&app, &format!("/hls/{video}/{uri}")).await;
    let playlist = m3u8_rs::parse_media_playlist_res(playlist.as_bytes()).unwrap();
    assert!(playlist.end_list && !playlist.segments.is_empty());
    let rendition = uri.trim_end_matches("/index.m3u8");
    let segment_path = format!("/hls/{video}/{rendition}/{}", playlist.segments[0].uri);
    let segment = fetch(&app, &segment_path).await;
    assert_eq!(segment.status(), 200);
    assert_eq!(segment.headers()[header::CONTENT_TYPE], "text/vtt; charset=utf-8");
    assert_eq!(segment.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(segment.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    let cues = text(&app, &segment_path).await;
    assert!(
        cues.contains(
            "00:00:01.000 --> 00:00:02.500\n<i>Hello</i> &amp; &lt;font color=\"red\"&gt;friends&lt;/font&gt;"
        ),
        "{cues}"
    );

    // X-TIMESTAMP-MAP ties local 0 to the first picture's MPEG-TS time.
    let mpegts: u64 = cues
        .lines()
        .find_map(|l| l.strip_prefix("X-TIMESTAMP-MAP=MPEGTS:"))
        .and_then(|rest| rest.strip_suffix(",LOCAL:00:00:00.000"))
        .unwrap_or_else(|| panic!("no X-TIMESTAMP-MAP: {cues}"))
        .parse()
        .unwrap();
    let variant = text(&app, &format!("/hls/{video}/{}", parsed.variants[0].uri)).await;
    let first = m3u8_rs::parse_media_playlist_res(variant.as_bytes()).unwrap().segments[0].uri.clone();
    let rung = parsed.variants[0].uri.trim_end_matches("/index.m3u8").to_owned();
    let picture = start_time(&app.url(&format!("/hls/{video}/{rung}/{first}")));
    assert!((mpegts as f64 / 90_000.0 - picture).abs() < 0.001, "MPEGTS {mpegts}, first picture at {picture} s");

    // The API lists the track and gives it back as WebVTT.
    let listed = app.get_json(&format!("/api/v1/videos/{video}/captions"), &owner.token).await;
    let track = &listed["captions"][0];
    assert_eq!((track["lang"].as_str(), track["label"].as_str()), (Some("en"), Some("English")));
    assert_eq!(track["playlist_url"].as_str(), Some(format!("/hls/{video}/{uri}").as_str()));
    let whole = text(&app, &format!("/api/v1/videos/{video}/captions/en")).await;
    assert!(whole.starts_with("WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.500\n<i>Hello</i>"), "{whole}");

    // Replacing it re-publishes the master at once, with new segment names.
    let replaced = upload_caption(&app, &owner.token, &video, "en", "English (CC)", srt("Replaced")).await;
    assert_eq!(replaced.status(), 201);
    let second = upload_caption(&app, &owner.token, &video, "pt-br", "Português", srt("Olá")).await;
    assert_eq!(second.status(), 201);
    let master = eventually(NOTICE_DEADLINE, "the master to name both tracks", || async {
        Some(text(&app, &format!("/hls/{video}/master.m3u8")).await).filter(|m| m.contains("LANGUAGE=\"pt-BR\""))
    })
    .await;
    assert!(master.contains("NAME=\"English (CC)\"") && master.contains("NAME=\"Português\""), "{master}");
    let playlist = text(&app, &format!("/hls/{video}/{uri}")).await;
    let segment = m3u8_rs::parse_media_playlist_res(playlist.as_bytes()).unwrap().segments[0].uri.clone();
    assert!(text(&app, &format!("/hls/{video}/{rendition}/{segment}")).await.contains("<i>Replaced</i>"));
    assert_eq!(fetch(&app, &segment_path).await.status(), 404, "the replaced revision's segment is gone");

    // Deleting it re-publishes the master without it.
    assert_eq!(delete_caption(&app, &owner.token, &video, "en").await.status(), 204);
    let master = eventually(NOTICE_DEADLINE, "the master to drop the deleted track", || async {
        Some(text(&app, &format!("/hls/{video}/master.m3u8")).await).filter(|m| !m.contains("LANGUAGE=\"en\""))
    })
    .await;
    assert!(master.contains("LANGUAGE=\"pt-BR\""), "{master}");
    assert_eq!(fetch(&app, &format!("/hls/{video}/{uri}")).await.status(), 404);
    assert_eq!(fetch(&app, &format!("/api/v1/videos/{video}/captions/en")).await.status(), 404);

    // Deleting the video removes its tracks' objects with the rest.
    let gone =
        app.http.delete(app.url(&format!("/api/v1/videos/{video}"))).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(app.state.storage.list(&format!("hls/{video}/")).await.unwrap(), Vec::<String>::new());
}

/// A fixture video whose first segment carries a real MPEG-TS video timestamp.
async fn fixture(app: &TestApp, owner: Uuid, visibility: &str) -> Uuid {
    let video = app.ready_video(owner, visibility).await;
    let dir = app.dir.path().join(format!("fixture-{video}"));
    std::fs::create_dir_all(&dir).unwrap();
    let clip = make_clip(&dir, "clip.ts", 64, 64, 1, false);
    let segment = std::fs::read(clip).unwrap();
    app.state.storage.put_bytes(&format!("hls/{video}/480p/seg_000.ts"), segment.into(), "video/mp2t").await.unwrap();
    video
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tags_oversized_and_unparsable_files_are_refused_with_codes() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let video = app.ready_video(owner.id, "public").await.to_string();
    for (lang, label, body, expected) in [
        ("english", "x", srt("Hi"), (400, "invalid_language")),
        ("en_US", "x", srt("Hi"), (400, "invalid_language")),
        ("en-", "x", srt("Hi"), (400, "invalid_language")),
        ("en", "x", "x".repeat(1024 * 1024 + 1), (413, "too_large")),
        ("en", "x", "hello, not captions".into(), (422, "caption_unparsable")),
        ("en", "x", "1\n00:00:03,000 --> 00:00:01,000\nbackwards\n".into(), (422, "caption_unparsable")),
        ("en", "say \"hi\"", srt("Hi"), (422, "invalid_field")),
    ] {
        let response = upload_caption(&app, &owner.token, &video, lang, label, body).await;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!((status, answer["code"].as_str().unwrap()), expected, "{lang} {label}: {answer}");
    }
    let binary = app
        .http
        .post(app.url(&format!("/api/v1/videos/{video}/captions/en")))
        .bearer_auth(&owner.token)
        .body(vec![0u8, 159, 146, 150, 0, 1, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(binary.status(), 422);
    assert_eq!(binary.json::<Value>().await.unwrap()["code"], "caption_not_text");
    let listed = app.get_json(&format!("/api/v1/videos/{video}/captions"), &owner.token).await;
    assert_eq!(listed["captions"], serde_json::json!([]), "nothing refused was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_add_or_delete_captions_and_a_private_videos_need_its_token() {
    let app = TestApp::spawn().await;
    let owner = app.user("creator").await;
    let stranger = app.user("creator").await;
    let public = fixture(&app, owner.id, "public").await.to_string();
    let refused = upload_caption(&app, &stranger.token, &public, "en", "Mine", srt("Hi")).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(upload_caption(&app, &owner.token, &public, "en", "English", srt("Hi")).await.status(), 201);
    assert_eq!(delete_caption(&app, &stranger.token, &public, "en").await.status(), 403);
    let listed = app.get_json(&format!("/api/v1/videos/{public}/captions"), &stranger.token).await;
    assert_eq!(listed["captions"][0]["label"], "English", "the stranger changed nothing");

    let private = fixture(&app, owner.id, "private").await.to_string();
    assert_eq!(upload_caption(&app, &stranger.token, &private, "en", "Mine", srt("Hi")).await.status(), 404);
    assert_eq!(upload_caption(&app, &owner.token, &private, "en", "English", srt("Secret")).await.status(), 201);
    let bare = fetch(&app, &format!("/hls/{private}/subs_en/index.m3u8")).await;
    assert_eq!(bare.status(), 403);
    assert_eq!(bare.json::<Value>().await.unwrap()["code"], "playback_token_required");
    assert_eq!(fetch(&app, &format!("/api/v1/videos/{private}/captions/en")).await.status(), 404);

    let playback = app.get_json(&format!("/api/v1/videos/{private}/playback"), &owner.token).await;
    let master_url = playback["master_url"].as_str().unwrap().to_owned();
    let token = master_url.split_once("?token=").unwrap().1.to_owned();
    let master = text(&app, &master_url).await;
    assert!(master.contains(&format!("URI=\"subs_en/index.m3u8?token={token}\"")), "{master}");
    let playlist = fetch(&app, &format!("/hls/{private}/subs_en/index.m3u8?token={token}")).await;
    assert_eq!(playlist.headers()[header::CACHE_CONTROL], "private, no-store");
    let playlist = text(&app, &format!("/hls/{private}/subs_en/index.m3u8?token={token}")).await;
    let segment = m3u8_rs::parse_media_playlist_res(playlist.as_bytes()).unwrap().segments[0].uri.clone();
    assert!(segment.ends_with(&format!(".vtt?token={token}")), "{segment}");
    let cues = fetch(&app, &format!("/hls/{private}/subs_en/{segment}")).await;
    assert_eq!(cues.status(), 200);
    assert_eq!(cues.headers()[header::CACHE_CONTROL], "private, max-age=3600");
    let bare_segment = segment.split_once('?').unwrap().0;
    assert_eq!(fetch(&app, &format!("/hls/{private}/subs_en/{bare_segment}")).await.status(), 403);
}

/// Uploads a clip of `seconds`, adds a track before it is transcoded (in `chunks` video
/// chunks, 0 for one run), and checks the master the transcoder publishes names it and
/// maps it onto the picture.
async fn a_track_added_before_the_transcode_is_published_with_it(
    overrides: &[(&str, &str)],
    seconds: u32,
    chunks: i64,
) {
    let app = TestApp::spawn_with(overrides).await;
    let owner = app.user("creator").await;
    let clip = make_clip(app.dir.path(), "clip.mp4", 320, 240, seconds, true);
    let video = app.upload_accepted(&owner.token, &clip, "Captioned early").await;
    assert_eq!(upload_caption(&app, &owner.token, &video, "en", "English", srt("Early")).await.status(), 201);
    app.wait_for_status(&owner.token, &video, &["ready"], TRANSCODE_DEADLINE).await;
    let encoded_in: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transcode_chunks c JOIN transcode_jobs j ON j.id = c.job_id
         WHERE j.video_id = $1::uuid AND c.kind = 'video'",
    )
    .bind(&video)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(encoded_in, chunks, "video chunks");

    let master = text(&app, &format!("/hls/{video}/master.m3u8")).await;
    let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).unwrap();
    assert!(
        parsed.variants.iter().filter(|v| !v.is_i_frame).all(|v| v.subtitles.as_deref() == Some("subs")),
        "{master}"
    );
    let playlist = text(&app, &format!("/hls/{video}/subs_en/index.m3u8")).await;
    let segment = m3u8_rs::parse_media_playlist_res(playlist.as_bytes()).unwrap().segments[0].uri.clone();
    let cues = text(&app, &format!("/hls/{video}/subs_en/{segment}")).await;
    assert!(cues.contains("<i>Early</i>"), "{cues}");
    let mpegts: f64 = cues
        .lines()
        .find_map(|l| l.strip_prefix("X-TIMESTAMP-MAP=MPEGTS:")?.strip_suffix(",LOCAL:00:00:00.000"))
        .unwrap_or_else(|| panic!("no X-TIMESTAMP-MAP: {cues}"))
        .parse()
        .unwrap();
    let variant = text(&app, &format!("/hls/{video}/{}", parsed.variants[0].uri)).await;
    let first = m3u8_rs::parse_media_playlist_res(variant.as_bytes()).unwrap().segments[0].uri.clone();
    let rung = parsed.variants[0].uri.trim_end_matches("/index.m3u8").to_owned();
    let picture = start_time(&app.url(&format!("/hls/{video}/{rung}/{first}")));
    assert!((mpegts / 90_000.0 - picture).abs() < 0.001, "MPEGTS {mpegts}, first picture at {picture} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_track_added_while_queued_is_in_the_master_of_a_one_run_transcode() {
    a_track_added_before_the_transcode_is_published_with_it(&[("STREAMBOX_LADDER", "240:400,144:200")], 4, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_track_added_while_queued_is_in_the_master_of_a_chunked_transcode() {
    let chunked =
        [("STREAMBOX_LADDER", "240:400,144:200"), ("STREAMBOX_SEGMENT_SECONDS", "2"), ("STREAMBOX_CHUNK_SECONDS", "4")];
    a_track_added_before_the_transcode_is_published_with_it(&chunked, 9, 2).await;
}
