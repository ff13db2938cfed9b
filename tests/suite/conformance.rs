//! A published ladder checked against the HLS authoring rules, written out below as a
//! table (rule, where it is written, how it is checked) that the README's "Transcoding"
//! section shows too. The video is uploaded, transcoded by the real worker and fetched
//! back through the streamer as a player would; every rule is checked on what was served
//! (an encrypted video's segments decrypted with the key the streamer serves, as a
//! player does), for a source with one audio track in MPEG-TS segments, the same in
//! fragmented MP4 (`STREAMBOX_SEGMENT_FORMAT=fmp4`) and encrypted, and one with two audio
//! languages and embedded subtitles.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use m3u8_rs::{AlternativeMediaType, MasterPlaylist, MediaPlaylist, QuotedOrUnquoted, VariantStream};
use serde_json::Value;

use crate::corpus::peak_and_mean;
use crate::encryption::decrypt_segment;
use crate::support::{TestApp, make_clip_with_tracks};

/// One authoring rule: what it says, where it is written, and its check.
struct Rule {
    rule: &'static str,
    spec: &'static str,
    check: fn(&Published) -> Result<(), String>,
}

const RULES: [Rule; 8] = [
    Rule {
        rule: "No segment lasts longer than its playlist's target duration",
        spec: "RFC 8216 4.3.3.1",
        check: target_duration_honoured,
    },
    Rule {
        rule: "Every video segment starts with an IDR frame",
        spec: "RFC 8216 4.3.5.1 (EXT-X-INDEPENDENT-SEGMENTS); Apple: Video",
        check: segments_start_with_an_idr,
    },
    Rule {
        rule: "BANDWIDTH and AVERAGE-BANDWIDTH within 10% of the measured peak and mean (video + the audio the variant names)",
        spec: "RFC 8216 4.3.4.2; Apple: Bit rates (VOD)",
        check: bandwidths_are_measured,
    },
    Rule {
        rule: "Peak bit rate at most twice the average",
        spec: "Apple: Bit rates (VOD)",
        check: peak_within_twice_the_average,
    },
    Rule {
        rule: "Every variant states CODECS, RESOLUTION, FRAME-RATE and VIDEO-RANGE",
        spec: "Apple: Multivariant playlist; RFC 8216bis 4.4.6.2",
        check: variants_state_their_attributes,
    },
    Rule {
        rule: "One variant under 192 kbit/s, its audio included",
        spec: "Apple 9.21",
        check: a_variant_under_192_kbps,
    },
    Rule {
        rule: "Every variant has an I-frame playlist whose byte ranges are its keyframes, each decoding on its own \
               (an encrypted video has none: a byte range of a whole-segment AES-128 cipher does not decrypt alone)",
        spec: "RFC 8216 4.3.4.3, 4.3.3.6, 4.3.2.2, 4.3.2.4; Apple: Trick play",
        check: iframe_playlists_point_at_keyframes,
    },
    Rule {
        rule: "Playlists (over 256 bytes) are served gzip-compressed to a client that accepts it",
        spec: "Apple: Playlists (compression)",
        check: playlists_are_gzipped,
    },
];

/// What the streamer served for one video, kept on disk under `dir` by URI.
struct Published {
    /// Where the master was served: the folder every URI in it is relative to.
    base: String,
    dir: PathBuf,
    master: MasterPlaylist,
    /// Every media playlist (variants, audio, I-frame), by its URI in the master.
    media: HashMap<String, MediaPlaylist>,
    /// Every playlist (the master as `master.m3u8`) as served plain and to gzip.
    compressed: Vec<Served>,
    /// Its segments are AES-128 encrypted (those under `dir` are decrypted).
    encrypted: bool,
}

/// A playlist's plain bytes and the body served to `Accept-Encoding: gzip` with its
/// `Content-Encoding`.
struct Served {
    uri: String,
    plain: Vec<u8>,
    gzip: Vec<u8>,
    encoding: Option<String>,
}

impl Published {
    fn variants(&self) -> impl Iterator<Item = &VariantStream> {
        self.master.variants.iter().filter(|v| !v.is_i_frame)
    }

    fn path(&self, playlist_uri: &str, segment_uri: &str) -> PathBuf {
        let folder = playlist_uri.rsplit_once('/').map_or("", |(folder, _)| folder);
        self.dir.join(folder).join(segment_uri)
    }

    /// `bytes` of a segment of the playlist at `playlist_uri` as a file a decoder reads
    /// alone: behind the playlist's initialization segment (`EXT-X-MAP`) when it has one.
    fn decodable(&self, playlist_uri: &str, bytes: &[u8]) -> PathBuf {
        let init = self.media[playlist_uri].segments.iter().find_map(|s| s.map.as_ref());
        let init = init.map(|map| std::fs::read(self.path(playlist_uri, &map.uri)).unwrap()).unwrap_or_default();
        let path = self.dir.join(format!("decodable-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, [init.as_slice(), bytes].concat()).unwrap();
        path
    }

    /// A whole segment, as [`Self::decodable`] makes it.
    fn decodable_segment(&self, playlist_uri: &str, segment_uri: &str) -> PathBuf {
        self.decodable(playlist_uri, &std::fs::read(self.path(playlist_uri, segment_uri)).unwrap())
    }

    /// `(bits, seconds)` of each segment of a playlist.
    fn segment_bits(&self, uri: &str) -> Vec<(f64, f64)> {
        self.media[uri]
            .segments
            .iter()
            .map(|s| (std::fs::metadata(self.path(uri, &s.uri)).unwrap().len() as f64 * 8.0, f64::from(s.duration)))
            .collect()
    }

    /// `(peak, mean)` of a variant as a player fetches it: its video and its audio (the
    /// highest of its group's renditions, any of which a player may pick).
    fn measured(&self, variant: &VariantStream) -> (f64, f64) {
        let rates = |uri: &str| peak_and_mean(&self.segment_bits(uri), self.media[uri].target_duration as f64);
        let (video_peak, video_mean) = rates(&variant.uri);
        let (audio_peak, audio_mean) = self
            .master
            .alternatives
            .iter()
            .filter(|a| Some(&a.group_id) == variant.audio.as_ref())
            .filter_map(|a| a.uri.as_deref())
            .map(rates)
            .fold((0.0, 0.0), |(peak, mean): (f64, f64), (p, m)| (peak.max(p), mean.max(m)));
        (video_peak + audio_peak, video_mean + audio_mean)
    }
}

fn target_duration_honoured(published: &Published) -> Result<(), String> {
    for (uri, media) in &published.media {
        if let Some(long) = media.segments.iter().find(|s| f64::from(s.duration).round() as u64 > media.target_duration)
        {
            return Err(format!("{uri}: {} lasts {} s, target {}", long.uri, long.duration, media.target_duration));
        }
    }
    Ok(())
}

fn segments_start_with_an_idr(published: &Published) -> Result<(), String> {
    for variant in published.variants() {
        for segment in &published.media[&variant.uri].segments {
            let path = published.decodable_segment(&variant.uri, &segment.uri);
            match first_frame(&path).as_slice() {
                [pict_type, key] if pict_type == "I" && key == "1" => {}
                other => return Err(format!("{}/{}: first frame {other:?}", variant.uri, segment.uri)),
            }
        }
    }
    Ok(())
}

fn bandwidths_are_measured(published: &Published) -> Result<(), String> {
    for variant in published.variants() {
        let (peak, mean) = published.measured(variant);
        let average = variant.average_bandwidth.ok_or_else(|| format!("{}: no AVERAGE-BANDWIDTH", variant.uri))?;
        let within = |stated: u64, measured: f64| (stated as f64 - measured).abs() <= 0.1 * measured;
        if !within(variant.bandwidth, peak) || !within(average, mean) {
            return Err(format!(
                "{}: BANDWIDTH {} / AVERAGE-BANDWIDTH {average}, measured {peak:.0} / {mean:.0}",
                variant.uri, variant.bandwidth
            ));
        }
    }
    Ok(())
}

fn peak_within_twice_the_average(published: &Published) -> Result<(), String> {
    for variant in published.variants() {
        let (peak, mean) = published.measured(variant);
        if peak > 2.0 * mean {
            return Err(format!("{}: peak {peak:.0} over twice the mean {mean:.0}", variant.uri));
        }
    }
    Ok(())
}

fn variants_state_their_attributes(published: &Published) -> Result<(), String> {
    for variant in published.variants() {
        let range = variant.other_attributes.as_ref().and_then(|a| a.get("VIDEO-RANGE"));
        let sdr = matches!(range, Some(QuotedOrUnquoted::Unquoted(r)) if r == "SDR");
        if variant.codecs.is_none() || variant.resolution.is_none() || variant.frame_rate.is_none() || !sdr {
            return Err(format!("{}: {variant:?}", variant.uri));
        }
    }
    Ok(())
}

fn a_variant_under_192_kbps(published: &Published) -> Result<(), String> {
    let low = published.variants().find(|v| v.bandwidth < 192_000 && published.measured(v).0 < 192_000.0);
    match low {
        Some(_) => Ok(()),
        None => {
            let stated: Vec<(&str, u64)> = published.variants().map(|v| (v.uri.as_str(), v.bandwidth)).collect();
            Err(format!("no variant under 192 kbit/s: {stated:?}"))
        }
    }
}

fn iframe_playlists_point_at_keyframes(published: &Published) -> Result<(), String> {
    let iframes: Vec<&VariantStream> = published.master.variants.iter().filter(|v| v.is_i_frame).collect();
    if published.encrypted {
        return match iframes.first() {
            None => Ok(()),
            Some(iframe) => Err(format!("{}: an I-frame playlist over encrypted segments", iframe.uri)),
        };
    }
    for variant in published.variants() {
        let rung = variant.uri.split('/').next().unwrap();
        let iframe = iframes
            .iter()
            .find(|i| i.uri.split('/').next() == Some(rung) && i.resolution == variant.resolution)
            .ok_or_else(|| format!("{rung}: no EXT-X-I-FRAME-STREAM-INF"))?;
        if iframe.codecs.is_none() || iframe.bandwidth == 0 {
            return Err(format!("{}: {iframe:?}", iframe.uri));
        }
        let playlist = &published.media[&iframe.uri];
        let keyframes: usize = published.media[&variant.uri]
            .segments
            .iter()
            .map(|s| keyframe_count(&published.decodable_segment(&variant.uri, &s.uri)))
            .sum();
        if !playlist.i_frames_only || playlist.segments.len() != keyframes {
            return Err(format!("{}: {} entries for {keyframes} keyframes", iframe.uri, playlist.segments.len()));
        }
        for (n, entry) in playlist.segments.iter().enumerate() {
            let range =
                entry.byte_range.as_ref().ok_or_else(|| format!("{}: entry {n} has no byte range", iframe.uri))?;
            let bytes = std::fs::read(published.path(&iframe.uri, &entry.uri)).unwrap();
            let offset = range.offset.ok_or("a byte range without an offset")? as usize;
            let slice = bytes.get(offset..offset + range.length as usize).ok_or("a byte range past the segment")?;
            let sliced = published.decodable(&iframe.uri, slice);
            match first_frame(&sliced).as_slice() {
                [pict_type, key] if pict_type == "I" && key == "1" => {}
                other => return Err(format!("{} entry {n} ({}): first frame {other:?}", iframe.uri, entry.uri)),
            }
        }
    }
    Ok(())
}

/// Bodies this small are sent as they are (gzip would save nothing).
const WORTH_COMPRESSING: usize = 256;

fn playlists_are_gzipped(published: &Published) -> Result<(), String> {
    let large = published.compressed.iter().filter(|served| served.plain.len() > WORTH_COMPRESSING);
    if large.clone().count() < 1 + published.variants().count() {
        return Err("fewer large playlists than the master and an I-frame playlist per variant".into());
    }
    for Served { uri, plain, gzip, encoding } in large {
        if encoding.as_deref() != Some("gzip") {
            return Err(format!("{uri}: served with Content-Encoding {encoding:?}"));
        }
        if &gunzip(gzip) != plain {
            return Err(format!("{uri}: the gzip body is not the playlist"));
        }
    }
    Ok(())
}

/// `[pict_type, key_frame]` of the first video frame ffprobe decodes from `path`.
fn first_frame(path: &Path) -> Vec<String> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1"])
        .args(["-show_entries", "frame=pict_type,key_frame", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    let probed: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let frame = &probed["frames"][0];
    [&frame["pict_type"], &frame["key_frame"]].map(|v| v.to_string().trim_matches('"').to_owned()).to_vec()
}

/// Keyframes in one segment, as ffprobe finds them.
fn keyframe_count(path: &Path) -> usize {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).lines().filter(|flags| flags.starts_with('K')).count()
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .args(["-dc"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    child.wait_with_output().unwrap().stdout
}

/// 12 s of 1080p30 with sound (a tone over pink noise, so AAC spends its whole rate).
fn source(dir: &Path) -> PathBuf {
    let path = dir.join("conformance.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.2:sample_rate=48000"])
        .args(["-filter_complex", "[1:a][2:a]amix=inputs=2[a]", "-map", "0:v", "-map", "[a]", "-t", "12"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// Fetches the master, every playlist it names and every segment (and initialization
/// segment) they name through the streamer, into `dir`.
async fn fetch(app: &TestApp, master_url: &str, dir: &Path) -> Published {
    let base = master_url.rsplit_once('/').unwrap().0.to_owned();
    let get = |url: String, gzip: bool| {
        let request = app.http.get(url);
        let request = if gzip { request.header("accept-encoding", "gzip") } else { request };
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{}", response.url());
            let encoding = response.headers().get("content-encoding").map(|e| e.to_str().unwrap().to_owned());
            (response.bytes().await.unwrap().to_vec(), encoding)
        }
    };
    let (raw, _) = get(master_url.to_owned(), false).await;
    let master = m3u8_rs::parse_master_playlist_res(&raw).expect("a master playlist");
    let served = |uri: &str, plain: Vec<u8>| Served { uri: uri.to_owned(), plain, gzip: Vec::new(), encoding: None };
    let mut compressed = vec![served("master.m3u8", raw.clone())];
    let uris: Vec<String> = master
        .variants
        .iter()
        .map(|v| v.uri.clone())
        .chain(master.alternatives.iter().filter_map(|a| a.uri.clone()))
        .collect();
    let mut media = HashMap::new();
    let mut encrypted = false;
    for uri in uris {
        let (raw, _) = get(format!("{base}/{uri}"), false).await;
        let playlist = m3u8_rs::parse_media_playlist_res(&raw).unwrap_or_else(|e| panic!("{uri}: {e}"));
        let folder = uri.rsplit_once('/').unwrap().0;
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        // Each segment, after its initialization segment if it has one, with its key.
        let files = playlist
            .segments
            .iter()
            .flat_map(|s| s.map.iter().map(|m| (&m.uri, None)).chain([(&s.uri, s.key.as_ref())]));
        for (file, key) in files {
            let path = dir.join(folder).join(file);
            if !path.exists() {
                let (mut body, _) = get(format!("{base}/{folder}/{file}"), false).await;
                if let Some(key) = key.filter(|k| k.method == m3u8_rs::KeyMethod::AES128) {
                    let (secret, _) = get(format!("{base}/{folder}/{}", key.uri.as_deref().unwrap()), false).await;
                    body = decrypt_segment(&secret, key.iv.as_deref().expect("an explicit IV"), body);
                    encrypted = true;
                }
                std::fs::write(&path, body).unwrap();
            }
        }
        compressed.push(served(&uri, raw));
        media.insert(uri, playlist);
    }
    for playlist in &mut compressed {
        (playlist.gzip, playlist.encoding) = get(format!("{base}/{}", playlist.uri), true).await;
    }
    Published { base, dir: dir.to_owned(), master, media, compressed, encrypted }
}

/// Uploads `clip` to an app with 4 s segments (two 2 s GOPs: byte ranges inside
/// segments, three segments) and fetches what it publishes into `served/`.
async fn publish(app: &TestApp, clip: &Path) -> Published {
    let token = app.signed_in_user().await;
    let id = app.upload_accepted(&token, clip, "Conformance").await;
    let video: Value = app.wait_for_status(&token, &id, &["ready", "failed"], Duration::from_secs(300)).await;
    assert_eq!(video["status"], "ready", "{video}");
    let dir = app.dir.path().join("served");
    fetch(app, &app.url(video["master_url"].as_str().unwrap()), &dir).await
}

fn assert_meets_the_rules(published: &Published) {
    let broken: Vec<String> = RULES
        .iter()
        .filter_map(|rule| (rule.check)(published).err().map(|e| format!("{} ({}): {e}", rule.rule, rule.spec)))
        .collect();
    assert!(broken.is_empty(), "{} of {} rules broken:\n{}", broken.len(), RULES.len(), broken.join("\n"));
}

fn rung_names(published: &Published) -> Vec<&str> {
    published.variants().map(|v| v.uri.split('/').next().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_ladder_meets_the_authoring_rules() {
    let app = TestApp::spawn_with(&[("STREAMBOX_SEGMENT_SECONDS", "4")]).await;
    let published = publish(&app, &source(app.dir.path())).await;
    assert!(!published.encrypted, "segments are in the clear by default");
    let first = &published.media["1080p/index.m3u8"].segments[0];
    assert!(first.uri.ends_with(".ts") && first.map.is_none(), "MPEG-TS by default: {first:?}");
    assert_eq!(rung_names(&published), ["1080p", "720p", "480p", "360p", "240p"], "the default ladder");
    assert_meets_the_rules(&published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_fmp4_ladder_meets_the_authoring_rules() {
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_SEGMENT_SECONDS", "4"),
        ("STREAMBOX_SEGMENT_FORMAT", "fmp4"),
        ("STREAMBOX_CHUNK_SECONDS", "0"),
    ])
    .await;
    let published = publish(&app, &source(app.dir.path())).await;
    assert_eq!(rung_names(&published), ["1080p", "720p", "480p", "360p", "240p"], "the default ladder");
    assert_meets_the_rules(&published);
    // Every playlist, the I-frame ones too, names its rendition's initialization segment,
    // served as MP4 (the rules above decoded every segment and I-frame range with it).
    for (uri, media) in &published.media {
        let init = media.segments[0].map.as_ref().unwrap_or_else(|| panic!("{uri}: no EXT-X-MAP"));
        let rendition = uri.split('/').next().unwrap();
        assert_eq!(init.uri, format!("init_{rendition}.mp4"), "{uri}");
        assert!(media.segments.iter().all(|s| s.uri.ends_with(".m4s")), "{uri}: {:?}", media.segments);
    }
    for file in ["720p/init_720p.mp4", "720p/seg_000.m4s", "audio/init_audio.mp4"] {
        let served = app.http.get(format!("{}/{file}", published.base)).send().await.unwrap();
        assert_eq!(served.status(), 200, "{file}");
        assert_eq!(served.headers()["content-type"], "video/mp4", "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_ladder_meets_the_authoring_rules() {
    let app = TestApp::spawn_with(&[("STREAMBOX_SEGMENT_SECONDS", "4"), ("STREAMBOX_ENCRYPTION", "on")]).await;
    let published = publish(&app, &source(app.dir.path())).await;
    assert!(published.encrypted, "the segments are encrypted as configured");
    assert_eq!(rung_names(&published), ["1080p", "720p", "480p", "360p", "240p"], "the default ladder");
    assert_meets_the_rules(&published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ladder_with_two_audio_languages_and_embedded_captions_meets_the_authoring_rules() {
    let app = TestApp::spawn_with(&[("STREAMBOX_SEGMENT_SECONDS", "4")]).await;
    let clip = make_clip_with_tracks(app.dir.path(), "languages.mp4", 1280, 720, 12);
    let published = publish(&app, &clip).await;
    assert_eq!(rung_names(&published), ["720p", "480p", "360p", "240p"], "the default ladder up to 720p");
    let media = |kind: AlternativeMediaType| {
        let listed = published.master.alternatives.iter().filter(|a| a.media_type == kind);
        listed.map(|a| (a.group_id.as_str(), a.language.as_deref(), a.default)).collect::<Vec<_>>()
    };
    assert_eq!(
        media(AlternativeMediaType::Audio),
        [
            ("audio", Some("fr"), true),
            ("audio", Some("en"), false),
            ("audio_low", Some("fr"), true),
            ("audio_low", Some("en"), false)
        ],
        "both languages in both groups"
    );
    assert_eq!(media(AlternativeMediaType::Subtitles), [("subs", Some("es"), false)], "the embedded captions");
    assert_meets_the_rules(&published);
}
