//! One video on many workers: a long source is split into chunks any worker process
//! encodes, on a distributed S3 engine (SeaweedFS), and the result is the one-run
//! encode's — same rungs, segments, frames and keyframes, decoding cleanly, at the
//! same quality. A worker killed mid-chunk costs that chunk only.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use streambox_base::ids::{JobId, VideoId};
use streambox_db::chunks::{self, ChunkKind, NewChunk, PartOutput};

use crate::support::{Seaweed, TestApp, WorkerProcess, eventually, make_clip};

const DEADLINE: Duration = Duration::from_secs(300);
/// Two rungs at 360p keep the encodes cheap (the 240p one plays the low-rate audio); 12 s
/// chunks of 6 s segments.
const LADDER: &str = "360:800,240:80";

async fn app_on(seaweed: &Seaweed) -> TestApp {
    let bucket = format!("sb-{}", uuid::Uuid::new_v4().simple());
    let settings = seaweed.settings(&bucket);
    let mut overrides: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    overrides.extend([("STREAMBOX_RUN_WORKER", "false"), ("STREAMBOX_LADDER", LADDER)]);
    let app = TestApp::spawn_with(&overrides).await;
    let storage = &app.state.storage;
    let writable = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let attempt = async {
                storage.ensure_bucket().await?;
                storage.put_bytes("probe", "ok".into(), "text/plain").await?;
                storage.delete("probe").await
            };
            match attempt.await {
                Ok(()) => return,
                Err(e) => eprintln!("SeaweedFS not writable yet: {e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    assert!(writable.await.is_ok(), "SeaweedFS never took writes: {}", seaweed.log_tail());
    app
}

fn worker(app: &TestApp, chunk_seconds: &str) -> WorkerProcess {
    WorkerProcess::spawn(
        app,
        &[
            ("STREAMBOX_CHUNK_SECONDS", chunk_seconds),
            ("STREAMBOX_LADDER", LADDER),
            ("STREAMBOX_WORKER_HEARTBEAT_SECS", "1"),
            ("STREAMBOX_WORKER_MISSED_HEARTBEATS", "3"),
            ("STREAMBOX_RECONCILE_SECS", "2"),
        ],
    )
}

async fn ready(app: &TestApp, token: &str, id: &str) -> Value {
    eventually(DEADLINE, "the video to be ready", || async {
        let video = app.get_json(&format!("/api/v1/videos/{id}"), token).await;
        assert_ne!(video["status"], "failed", "{video}");
        (video["status"] == "ready").then_some(video)
    })
    .await
}

async fn job_detail(app: &TestApp, admin: &str, video: &str) -> Value {
    let job: (uuid::Uuid,) = sqlx::query_as("SELECT id FROM transcode_jobs WHERE video_id = $1::uuid")
        .bind(video)
        .fetch_one(app.db())
        .await
        .unwrap();
    app.get_json(&format!("/api/v1/admin/jobs/{}", job.0), admin).await
}

/// Every published object of the video, copied to `dir` as the player sees the tree.
async fn download(app: &TestApp, video: &str, dir: &Path) {
    let prefix = format!("hls/{video}/");
    for key in app.state.storage.list(&prefix).await.unwrap() {
        let path = dir.join(key.strip_prefix(&prefix).unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        app.state.storage.download(&key, &path).await.unwrap().expect("listed object");
    }
}

fn run(args: &[&str]) -> std::process::Output {
    let output = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// `(pts, is keyframe)` of every video packet of a rendition's playlist.
fn packets(playlist: &Path) -> Vec<(f64, bool)> {
    let out = run(&[
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts_time,flags",
        "-of",
        "csv=p=0",
        playlist.to_str().unwrap(),
    ]);
    let mut packets: Vec<(f64, bool)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (pts, flags) = line.split_once(',')?;
            Some((pts.parse().ok()?, flags.contains('K')))
        })
        .collect();
    packets.sort_by(|a, b| a.0.total_cmp(&b.0));
    packets
}

fn first_pts(file: &Path, stream: &str) -> f64 {
    let out = run(&[
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        stream,
        "-show_entries",
        "packet=pts_time",
        "-of",
        "csv=p=0",
        file.to_str().unwrap(),
    ]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
        .fold(f64::MAX, f64::min)
}

/// Mean PSNR (dB) of a rung against the source scaled to its size.
fn psnr(playlist: &Path, source: &Path, width: u64, height: u64) -> f64 {
    let graph = format!(
        "[0:v]setpts=PTS-STARTPTS[d];[1:v]setpts=PTS-STARTPTS,scale={width}:{height}:flags=bicubic[r];[d][r]psnr"
    );
    let out = run(&[
        "ffmpeg",
        "-hide_banner",
        "-i",
        playlist.to_str().unwrap(),
        "-i",
        source.to_str().unwrap(),
        "-lavfi",
        &graph,
        "-f",
        "null",
        "-",
    ]);
    let log = String::from_utf8_lossy(&out.stderr);
    let average = log.rsplit("average:").next().unwrap().split_whitespace().next().unwrap();
    average.parse().unwrap_or_else(|_| panic!("no PSNR in {log}"))
}

fn media(dir: &Path, rendition: &str) -> m3u8_rs::MediaPlaylist {
    let raw = std::fs::read(dir.join(rendition).join("index.m3u8")).unwrap();
    m3u8_rs::parse_media_playlist_res(&raw).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_encode_one_video_in_chunks_indistinguishable_from_one_run() {
    let seaweed = Seaweed::start().await;
    let app = app_on(&seaweed).await;
    let token = app.signed_in_user().await;
    let admin = app.user("admin").await.token;
    let clip = make_clip(app.dir.path(), "three-chunks.mp4", 640, 360, 36, true);

    let pair = [worker(&app, "12").ready().await, worker(&app, "12").ready().await];
    let chunked = app.upload_accepted(&token, &clip, "Chunked").await;
    ready(&app, &token, &chunked).await;
    // What the chunks staged for the finishing step goes once the video is ready.
    let staging = format!("chunks/{chunked}/");
    eventually(Duration::from_secs(30), "the chunks' staging to be removed", || async {
        app.state.storage.list(&staging).await.unwrap().is_empty().then_some(())
    })
    .await;
    drop(pair);
    let detail = job_detail(&app, &admin, &chunked).await;
    let parts = detail["chunks"].as_array().expect("the job lists its chunks");
    let kinds: Vec<&str> = parts.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["video", "video", "video", "audio", "finish"], "{detail}");
    assert!(parts.iter().all(|p| p["state"] == "done" && p["attempts"] == 1), "{detail}");
    let workers: BTreeSet<&str> = parts.iter().map(|p| p["worker"].as_str().unwrap()).collect();
    assert_eq!(workers.len(), 2, "the parts ran on both workers: {detail}");
    let starts: Vec<f64> = parts[..3].iter().map(|p| p["start_s"].as_f64().unwrap()).collect();
    assert_eq!(starts, [0.0, 12.0, 24.0]);

    let _single = worker(&app, "0").ready().await;
    let whole = app.upload_accepted(&token, &clip, "One run").await;
    ready(&app, &token, &whole).await;
    let whole_job = job_detail(&app, &admin, &whole).await;
    assert_eq!(whole_job["chunks"], Value::Array(vec![]), "chunking off: one run");

    let (a, b) = (app.dir.path().join("chunked"), app.dir.path().join("whole"));
    download(&app, &chunked, &a).await;
    download(&app, &whole, &b).await;
    let master = |dir: &Path| {
        let raw = std::fs::read(dir.join("master.m3u8")).unwrap();
        m3u8_rs::parse_master_playlist_res(&raw).unwrap()
    };
    let (master_a, master_b) = (master(&a), master(&b));
    let rungs = |m: &m3u8_rs::MasterPlaylist| {
        m.variants.iter().map(|v| (v.uri.clone(), v.resolution, v.codecs.clone())).collect::<Vec<_>>()
    };
    assert_eq!(rungs(&master_a), rungs(&master_b), "the same rungs");
    let groups = |m: &m3u8_rs::MasterPlaylist| {
        m.variants.iter().filter(|v| !v.is_i_frame).map(|v| v.audio.clone()).collect::<Vec<_>>()
    };
    assert_eq!(groups(&master_a), [Some("audio".into()), Some("audio_low".into())], "the 240p rung's audio");
    assert_eq!(groups(&master_a), groups(&master_b), "the same audio groups");
    assert_eq!(master_a.variants.iter().filter(|v| !v.is_i_frame).count(), 2);
    for name in ["360p", "240p", "audio", "audio_low"] {
        let (pa, pb) = (media(&a, name), media(&b, name));
        let durations = |p: &m3u8_rs::MediaPlaylist| {
            p.segments.iter().map(|s| (s.uri.clone(), (s.duration * 1000.0).round() as i64)).collect::<Vec<_>>()
        };
        assert_eq!(durations(&pa), durations(&pb), "{name}: segments and durations");
        assert!(pa.end_list && pa.segments.iter().all(|s| !s.discontinuity), "{name}");
        let decoded = run(&[
            "ffmpeg",
            "-v",
            "error",
            "-xerror",
            "-i",
            a.join(name).join("index.m3u8").to_str().unwrap(),
            "-f",
            "null",
            "-",
        ]);
        assert!(decoded.stderr.is_empty(), "{name} decodes in full: {}", String::from_utf8_lossy(&decoded.stderr));
    }
    let mut keyframes = Vec::new();
    for variant in master_a.variants.iter().filter(|v| !v.is_i_frame) {
        let (pa, pb) = (packets(&a.join(&variant.uri)), packets(&b.join(&variant.uri)));
        assert_eq!(pa.len(), 36 * 30, "{}: every frame, once", variant.uri);
        assert_eq!(pa.len(), pb.len(), "{}: the same frame count as one run", variant.uri);
        let times = |p: &[(f64, bool)]| p.iter().map(|(t, _)| (t * 1000.0).round() as i64).collect::<Vec<_>>();
        let differ = times(&pa).into_iter().zip(times(&pb)).position(|(x, y)| x != y);
        assert_eq!(differ, None, "{}: a timestamp differs from one run's (frame {differ:?})", variant.uri);
        let keys: Vec<i64> = pa.iter().filter(|(_, k)| *k).map(|(t, _)| (t * 1000.0).round() as i64).collect();
        let whole_keys: Vec<i64> = pb.iter().filter(|(_, k)| *k).map(|(t, _)| (t * 1000.0).round() as i64).collect();
        assert_eq!(keys, whole_keys, "{}: keyframes where one run puts them", variant.uri);
        keyframes.push(keys);
    }
    assert_eq!(keyframes[0], keyframes[1], "keyframes aligned across rungs");
    for rung in ["360p", "240p"] {
        let iframes = |dir: &Path| {
            let raw = std::fs::read(dir.join(rung).join("iframes.m3u8")).unwrap();
            let playlist = m3u8_rs::parse_media_playlist_res(&raw).unwrap();
            assert!(playlist.i_frames_only, "{rung}: an I-frame playlist");
            playlist.segments.iter().map(|s| (s.uri.clone(), (s.duration * 1000.0).round() as i64)).collect::<Vec<_>>()
        };
        let (ia, ib) = (iframes(&a), iframes(&b));
        assert_eq!(ia.len(), keyframes[0].len(), "{rung}: an I-frame entry per keyframe");
        assert_eq!(ia, ib, "{rung}: the I-frame playlist one run writes");
    }
    let start = keyframes[0][0];
    for boundary in [12_000, 24_000] {
        assert!(keyframes[0].contains(&(start + boundary)), "a keyframe at the chunk boundary {boundary} ms");
    }
    let video_start = first_pts(&a.join("360p/seg_000.ts"), "v:0");
    let audio_start = first_pts(&a.join("audio/seg_000.ts"), "a:0");
    assert!((video_start - audio_start).abs() <= 1.0 / 30.0 + 1e-6, "audio {audio_start} / video {video_start}");
    for variant in master_a.variants.iter().filter(|v| !v.is_i_frame) {
        let resolution = variant.resolution.unwrap();
        let (qa, qb) = (
            psnr(&a.join(&variant.uri), &clip, resolution.width, resolution.height),
            psnr(&b.join(&variant.uri), &clip, resolution.width, resolution.height),
        );
        // Never worse; at the 240p rung's 80 kbit/s each chunk's fresh rate-control
        // buffer buys it a little more (0.36 dB seen).
        assert!(qa >= qb - 0.2, "{}: PSNR {qa:.2} dB chunked, {qb:.2} dB one run", variant.uri);
    }
    assert!(a.join("storyboard.jpg").is_file() && a.join("storyboard.vtt").is_file());
    assert!(app.state.storage.head(&format!("thumbs/{chunked}/poster.jpg")).await.unwrap().is_some());
}

/// The pid a worker name carries (`transcoder-{host}-{pid}-{nonce}`).
fn pid_of(worker: &str) -> Option<u32> {
    worker.rsplit('-').nth(1)?.parse().ok()
}

/// Processes whose command line mentions `dir` (an ffmpeg writing in a worker's scratch space).
fn processes_using(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).replace('\0', " ").contains(&needle))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_chunk_costs_that_chunk_only() {
    let seaweed = Seaweed::start().await;
    let app = app_on(&seaweed).await;
    let token = app.signed_in_user().await;
    let clip = make_clip(app.dir.path(), "killed.mp4", 640, 360, 90, true);
    let mut workers: HashMap<u32, WorkerProcess> = HashMap::new();
    for _ in 0..2 {
        let process = worker(&app, "30").ready().await;
        workers.insert(process.child.id(), process);
    }
    let id = app.upload_accepted(&token, &clip, "Killed").await;
    let video = VideoId(id.parse().unwrap());
    let job: JobId = sqlx::query_scalar("SELECT id FROM transcode_jobs WHERE video_id = $1")
        .bind(video)
        .fetch_one(app.db())
        .await
        .unwrap();

    // A chunk after the first, well into its encode.
    let (seq, victim) = eventually(DEADLINE, "a chunk to be encoding", || async {
        let parts = chunks::of_job(app.db(), job).await.unwrap();
        parts.iter().find_map(|c| {
            let busy = c.kind == ChunkKind::Video && c.seq > 0 && c.progress_percent.is_some_and(|p| p > 5.0);
            let pid = pid_of(c.worker.as_deref()?)?;
            (busy && c.state == chunks::ChunkState::Running).then_some((c.seq, pid))
        })
    })
    .await;
    let mut killed = workers.remove(&victim).expect("the chunk's worker is one of ours");
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let scratch = killed.dir.path().to_owned();
    eventually(Duration::from_secs(10), "no ffmpeg outliving its worker", || async {
        processes_using(&scratch).is_empty().then_some(())
    })
    .await;

    ready(&app, &token, &id).await;
    let parts = chunks::of_job(app.db(), job).await.unwrap();
    for part in &parts {
        let expected = if part.seq == seq { 2 } else { 1 };
        assert_eq!(part.attempts, expected, "part {} ({:?}) was encoded {} times", part.seq, part.kind, part.attempts);
        assert_eq!(part.state, chunks::ChunkState::Done);
    }
    let survivor = workers.keys().next().copied().unwrap();
    assert_eq!(pid_of(parts[seq as usize].worker.as_deref().unwrap()), Some(survivor), "taken over by the survivor");
}

/// Two workers completing a job's last two chunks at the same moment: exactly one of
/// them claims the finishing step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finishing_step_is_claimed_exactly_once() {
    let app = TestApp::spawn_with(&[("STREAMBOX_RUN_WORKER", "false")]).await;
    let token = app.signed_in_user().await;
    let db = app.db();
    for round in 0..10 {
        let clip = make_clip(app.dir.path(), &format!("tiny-{round}.mp4"), 64, 64, 1, false);
        let id = app.upload_accepted(&token, &clip, "Tiny").await;
        let job: JobId =
            sqlx::query_scalar("UPDATE transcode_jobs SET state = 'running' WHERE video_id = $1::uuid RETURNING id")
                .bind(&id)
                .fetch_one(db)
                .await
                .unwrap();
        let part = |kind, first: i64| NewChunk {
            kind,
            first_frame: first,
            end_frame: None,
            start_s: 0.0,
            duration_s: 1.0,
            first_segment: 0,
        };
        chunks::create(db, job, &[part(ChunkKind::Video, 0), part(ChunkKind::Video, 30), part(ChunkKind::Finish, 0)])
            .await
            .unwrap();
        let (one, two) = (
            chunks::claim(db, "w1", Duration::from_secs(60)).await.unwrap().unwrap(),
            chunks::claim(db, "w2", Duration::from_secs(60)).await.unwrap().unwrap(),
        );
        assert!(chunks::claim(db, "w3", Duration::from_secs(60)).await.unwrap().is_none(), "finish waits for both");
        let output = PartOutput::new();
        let complete = |chunk, worker: &'static str| {
            let output = output.clone();
            async move {
                let completion = chunks::complete(db, &chunk, worker, &output).await.unwrap().unwrap();
                let claimed = completion.finish.is_some();
                completion.tx.commit().await.unwrap();
                claimed
            }
        };
        let (a, b) = tokio::join!(complete(one.chunk, "w1"), complete(two.chunk, "w2"));
        assert!(a ^ b, "round {round}: the finishing step claimed by {}", if a && b { "both" } else { "neither" });
    }
}
