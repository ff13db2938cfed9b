//! AES-128 segment encryption: what storage holds is ciphertext that decrypts with the
//! key the streamer serves, the key is nowhere in the bucket, it is served under the
//! video's access rules only, and ffmpeg decodes the whole stream through the key URL;
//! on the one-run path and on the chunked one (whose download is remuxed from the
//! stored, encrypted segments); resumable and direct uploads choose it as multipart
//! ones do. HLS.js plays one in `browser.rs`; debug logs are checked
//! for the key in `tests/log_hygiene.rs`.

use std::process::Command;
use std::time::Duration;

use aws_lc_rs::cipher::{AES_128, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use m3u8_rs::MediaPlaylist;
use serde_json::Value;

use crate::support::{TestApp, fake_video, make_clip};

const DEADLINE: Duration = Duration::from_secs(240);
const TS_PACKET: usize = 188;

/// Decrypts a whole segment as a player does: AES-128-CBC, PKCS#7, the playlist's IV.
pub fn decrypt_segment(key: &[u8], iv_hex: &str, mut data: Vec<u8>) -> Vec<u8> {
    let iv = iv_hex.strip_prefix("0x").expect("an IV in hexadecimal");
    let iv: Vec<u8> = (0..iv.len()).step_by(2).map(|i| u8::from_str_radix(&iv[i..i + 2], 16).unwrap()).collect();
    let iv: [u8; 16] = iv.try_into().expect("a 16-byte IV");
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_128, key).unwrap()).unwrap();
    let plain = key.decrypt(&mut data, DecryptionContext::Iv128(FixedLength::from(iv))).expect("it decrypts").len();
    data.truncate(plain);
    data
}

/// Whether `bytes` look like MPEG-TS: the sync byte at the start of most 188-byte packets.
pub fn is_mpeg_ts(bytes: &[u8]) -> bool {
    let packets = bytes.len() / TS_PACKET;
    let synced = (0..packets).filter(|p| bytes[p * TS_PACKET] == 0x47).count();
    packets > 0 && synced * 2 > packets
}

/// A multipart upload with `fields` beside the title and the file; the response.
async fn upload_with(app: &TestApp, token: &str, file: Vec<u8>, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().text("title", "Sealed");
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(file).file_name("clip.mp4"));
    app.http.post(app.url("/api/v1/uploads")).bearer_auth(token).multipart(form).send().await.unwrap()
}

/// Seconds of picture ffmpeg decodes from `url` (with its audio), failing on any error.
fn decoded_seconds(url: &str) -> f64 {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-nostats", "-i", url, "-map", "0:v:0", "-map", "0:a:0", "-f", "null", "-"])
        .args(["-progress", "pipe:1"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && errors.trim().is_empty(), "ffmpeg could not decode {url}: {errors}");
    let progress = String::from_utf8_lossy(&output.stdout);
    let micros = progress.lines().filter_map(|l| l.strip_prefix("out_time_us=")).next_back().expect("progress");
    micros.parse::<f64>().unwrap() / 1e6
}

/// Every object in the bucket, by key (one deleted between the listing and its read, a
/// chunk's staging cleared as the video turns ready, say, is left out).
async fn bucket(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let storage = &app.state.storage;
    let mut objects = Vec::new();
    for key in storage.list("").await.unwrap() {
        let Some(object) = storage.get(&key).await.unwrap() else { continue };
        objects.push((key, object.body.collect().await.unwrap().into_bytes().to_vec()));
    }
    objects
}

/// Checks what storage holds for `video` against its `key`: every segment is ciphertext
/// (no MPEG-TS sync pattern) and decrypts, with the IV its stored playlist names, into
/// MPEG-TS; no I-frame playlist exists; the key is in no object of the bucket. Returns
/// how many segments were checked.
async fn check_storage(app: &TestApp, video: &str, key: &[u8]) -> usize {
    let objects = bucket(app).await;
    let found = |name: &str| objects.iter().find(|(k, _)| k == name).map(|(_, body)| body.clone());
    let mut segments = 0;
    for (name, body) in &objects {
        assert!(!body.windows(key.len()).any(|w| w == key), "the key is in {name}");
        let Some(relative) = name.strip_prefix(&format!("hls/{video}/")) else { continue };
        assert!(!relative.ends_with("iframes.m3u8"), "an encrypted video has no I-frame playlist: {name}");
        let Some((rendition, file)) = relative.split_once('/') else { continue };
        if !file.ends_with(".ts") {
            continue;
        }
        assert!(!is_mpeg_ts(body), "{name} is stored in the clear");
        let playlist = found(&format!("hls/{video}/{rendition}/index.m3u8")).expect("its playlist");
        let playlist: MediaPlaylist = m3u8_rs::parse_media_playlist_res(&playlist).unwrap();
        let line = playlist.segments.iter().find(|s| s.uri == file).and_then(|s| s.key.clone()).expect("a key line");
        assert_eq!(line.uri.as_deref(), Some("../key"), "{line:?}");
        let plain = decrypt_segment(key, line.iv.as_deref().expect("an explicit IV"), body.clone());
        assert!(is_mpeg_ts(&plain) && plain[0] == 0x47, "{name} decrypts to MPEG-TS");
        segments += 1;
    }
    let master = String::from_utf8(found(&format!("hls/{video}/master.m3u8")).expect("a master")).unwrap();
    assert!(!master.contains("I-FRAME"), "{master}");
    segments
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_encrypted_video_is_ciphertext_in_storage_and_plays_with_its_token_only() {
    let app = TestApp::spawn_with(&[("STREAMBOX_LADDER", "240:400,144:200")]).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "sealed.mp4", 320, 240, 8, true);
    let fields = [("visibility", "private"), ("encryption", "on")];
    let uploaded = upload_with(&app, &token, std::fs::read(&clip).unwrap(), &fields).await;
    assert_eq!(uploaded.status(), 202);
    let id = uploaded.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["encrypted"], true, "{video}");

    // The key: refused without a token or with a bad one, served (never cached) with one.
    let key_url = app.url(&format!("/hls/{id}/key"));
    for (url, code) in
        [(key_url.clone(), "playback_token_required"), (format!("{key_url}?token=forged"), "invalid_playback_token")]
    {
        let refused = app.http.get(&url).send().await.unwrap();
        assert_eq!(refused.status(), 403, "{url}");
        assert_eq!(refused.json::<Value>().await.unwrap()["code"], code, "{url}");
    }
    let playback = app.get_json(&format!("/api/v1/videos/{id}/playback"), &token).await;
    let master_url = app.url(playback["master_url"].as_str().unwrap());
    let playback_token = master_url.split_once("?token=").unwrap().1.to_owned();
    let served = app.http.get(format!("{key_url}?token={playback_token}")).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["cache-control"], "private, no-store");
    let key = served.bytes().await.unwrap().to_vec();
    assert_eq!(key.len(), 16);

    let segments = check_storage(&app, &id, &key).await;
    assert!(segments >= 3 * 2, "the two rungs and the audio have two segments each: {segments}");
    // The served playlists carry the token to the key too.
    let rung = app.http.get(app.url(&format!("/hls/{id}/240p/index.m3u8?token={playback_token}"))).send().await;
    let rung = rung.unwrap().text().await.unwrap();
    assert!(rung.contains(&format!("URI=\"../key?token={playback_token}\"")), "{rung}");

    let seconds = decoded_seconds(&master_url);
    assert!((seconds - 8.0).abs() < 0.3, "ffmpeg decoded {seconds} s of the 8 s source");
    let bare = Command::new("ffmpeg")
        .args(["-v", "error", "-i", &master_url.replace(&format!("?token={playback_token}"), ""), "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(!bare.status.success(), "without the token nothing decodes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_video_encrypted_by_default_plays_and_downloads_whole() {
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_CHUNK_SECONDS", "12"),
        ("STREAMBOX_LADDER", "360:800,240:400"),
        ("STREAMBOX_ENCRYPTION", "on"),
    ])
    .await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "chunks.mp4", 640, 360, 30, true);
    let id = app.upload_accepted(&token, &clip, "Chunks").await;
    let video = app.wait_for_status(&token, &id, &["ready", "failed"], DEADLINE).await;
    assert_eq!(video["status"], "ready", "{video}");
    let chunks = app.video_chunks(&id).await;
    assert!(chunks >= 2, "the video was encoded in chunks: {chunks}");

    // Public: the key is anyone's, as its segments are.
    let served = app.http.get(app.url(&format!("/hls/{id}/key"))).send().await.unwrap();
    assert_eq!(served.status(), 200);
    let key = served.bytes().await.unwrap().to_vec();
    assert!(check_storage(&app, &id, &key).await >= 3 * 5, "every rung and the audio have five segments");
    let seconds = decoded_seconds(&app.url(video["master_url"].as_str().unwrap()));
    assert!((seconds - 30.0).abs() < 0.3, "ffmpeg decoded {seconds} s of the 30 s source");

    let download = app.http.get(app.url(&format!("/api/v1/videos/{id}/download"))).bearer_auth(&token).send().await;
    let download = download.unwrap();
    assert_eq!(download.status(), 200);
    let mp4 = app.dir.path().join("download.mp4");
    std::fs::write(&mp4, download.bytes().await.unwrap()).unwrap();
    assert!(!is_mpeg_ts(&std::fs::read(&mp4).unwrap()));
    let seconds = decoded_seconds(mp4.to_str().unwrap());
    assert!((seconds - 30.0).abs() < 0.3, "the download decodes {seconds} s of the 30 s source");
}

#[tokio::test]
async fn an_encryption_choice_other_than_on_or_off_is_refused_before_anything_is_kept() {
    let app = TestApp::spawn().await;
    let token = app.signed_in_user().await;
    let refused = upload_with(&app, &token, fake_video(), &[("encryption", "maybe")]).await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "invalid_field", "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("encryption"), "{body}");
    let videos: i64 = sqlx::query_scalar("SELECT count(*) FROM videos").fetch_one(app.db()).await.unwrap();
    assert_eq!(videos, 0);
    assert!(bucket(&app).await.iter().all(|(key, _)| !key.starts_with("raw/")), "no source was kept");
}

#[tokio::test]
async fn resumable_and_direct_uploads_choose_their_encryption_when_they_start() {
    let app = TestApp::spawn_with(&[("STREAMBOX_ENCRYPTION", "on")]).await;
    let token = app.signed_in_user().await;
    let file = fake_video();
    let uploads = || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM uploads").fetch_one(app.db()).await };
    // `Upload-Metadata` values are base64: "Sealed", then "maybe" or "off".
    let tus_create = |choice: &'static str| {
        app.http
            .post(app.url("/api/v1/uploads/tus"))
            .bearer_auth(&token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", file.len().to_string())
            .header("upload-metadata", format!("title U2VhbGVk,encryption {choice}"))
            .send()
    };
    let presign = |choice: Option<&str>| {
        let mut request = serde_json::json!({ "title": "Direct", "size": file.len() });
        if let Some(choice) = choice {
            request["encryption"] = choice.into();
        }
        let (app, token) = (&app, &token);
        async move { app.presign(token, &request).await }
    };

    let refused = tus_create("bWF5YmU=").await.unwrap();
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().starts_with("encryption"), "{body}");
    let refused = presign(Some("maybe")).await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("encryption"));
    assert_eq!(uploads().await.unwrap(), 0, "a refused choice keeps no upload");

    // tus, asking for none on a server that encrypts by default.
    let created = tus_create("b2Zm").await.unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let patched = app
        .http
        .patch(app.url(&location))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 204);
    let clear = location.rsplit('/').next().unwrap();

    // Direct, saying nothing: the server's default.
    let granted: Value = presign(None).await.json().await.unwrap();
    let put = app.http.put(granted["upload_url"].as_str().unwrap()).body(file.clone()).send().await.unwrap();
    put.error_for_status().unwrap();
    let completed = app.http.post(app.url(granted["complete_url"].as_str().unwrap())).bearer_auth(&token).send();
    assert_eq!(completed.await.unwrap().status(), 202);
    let sealed = granted["id"].as_str().unwrap();

    for (id, encrypted) in [(clear, false), (sealed, true)] {
        let video = app.get_json(&format!("/api/v1/videos/{id}"), &token).await;
        assert_eq!(video["encrypted"], encrypted, "{video}");
        let key: Option<Vec<u8>> = sqlx::query_scalar("SELECT segment_key FROM videos WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(app.db())
            .await
            .unwrap();
        assert_eq!(key.is_some(), encrypted, "{id}");
    }
}
