//! The web app walked as its users would, in headless Chromium (Debian's, driven by
//! playwright-core from tests/browser/walkthrough.mjs) against real parts: a creator
//! uploads and watches the encode finish live, plays, likes and comments; a viewer
//! follows and resumes from history; an operator retries a dead job; the API
//! documentation renders; signing out leaves nothing behind. Screenshots of the main
//! pages at 375 and 1440 px go to `$CARGO_TARGET_TMPDIR/screenshots`.

use std::time::Duration;

use serde_json::Value;

use crate::support::{TestApp, eventually, make_clip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_a_viewer_and_an_operator_use_the_web_app() {
    // Progress is written with each heartbeat: one a second shows it rise on a short clip.
    // The default rate limits apply: using the app never meets them.
    let app = TestApp::spawn_with(&[
        ("STREAMBOX_LADDER", "360:800,240:400"),
        ("STREAMBOX_WORKER_HEARTBEAT_SECS", "1"),
        ("STREAMBOX_RATE_LIMITS", "true"),
    ])
    .await;
    let admin = app.user("admin").await;
    let dead_job = app.dead_job(admin.id).await;
    let clip = make_clip(app.dir.path(), "walkthrough.mp4", 640, 360, 40, true);
    let small_clip = make_clip(app.dir.path(), "resumable.mp4", 320, 180, 2, true);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");

    let args = [
        app.base.clone(),
        clip.display().to_string(),
        small_clip.display().to_string(),
        admin.email.clone(),
        admin.password.clone(),
        dead_job.to_string(),
        shots.display().to_string(),
    ];
    let report = crate::support::browser::run_script("walkthrough.mjs", &args).await;
    assert_eq!(report["errors"], serde_json::json!([]), "page or console errors, or overflow: {report}");

    // The encode, watched live: the percent rose and the status reached ready, in one document.
    let percents: Vec<f64> = report["percents"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    assert!(percents.len() >= 2 && percents.windows(2).all(|w| w[0] < w[1]), "the percent rose: {percents:?}");
    assert_eq!(report["finalStatus"], "ready");
    assert_eq!(report["sameDocument"], true, "no reload");
    assert_eq!(report["liveMode"], "push", "pushed, not polled");

    assert_eq!(report["resumableVisibility"], "private", "the tus upload kept its visibility: {report}");
    assert!(report["qualities"].as_array().unwrap().len() >= 3, "Auto and two rungs: {report}");
    assert_eq!(report["spriteStatus"], 200, "the storyboard sprite behind the thumbnail loads");
    assert!(report["likeLabel"].as_str().unwrap().contains('1'), "{report}");
    assert_eq!(report["foundWhileUnlisted"], 0, "an unlisted video is not in search");
    assert_eq!(report["foundWhenPublic"], true);
    assert!(report["resumeText"].as_str().unwrap().starts_with("Resume from 0:0"), "{report}");
    assert!(report["resumedAt"].as_f64().unwrap() >= 2.0, "playback resumed where it stopped: {report}");
    assert!(report["deadCount"].as_str().unwrap().parse::<i64>().unwrap() >= 1, "{report}");
    assert_eq!(report["rendered"], report["operations"], "the docs page renders every operation");
    assert_eq!(report["backticksLeft"], false, "no raw markdown in the docs page");
    let after = &report["afterSignOut"];
    assert_eq!(after["nameShown"], false, "{after}");
    assert_eq!(after["player"], false, "{after}");
    assert_eq!(after["studioLink"], false, "{after}");
    assert_eq!(after["filledInputs"], 0, "{after}");
    assert!(!after["cookies"].as_array().unwrap().iter().any(|c| c.as_str().unwrap().starts_with("sb_")), "{after}");

    // The operator's retry ran the dead job again: its broken source failed a second time.
    eventually(Duration::from_secs(120), "the retried job's second failure", || async {
        let errors: i32 = sqlx::query_scalar("SELECT jsonb_array_length(errors) FROM transcode_jobs WHERE id = $1")
            .bind(dead_job)
            .fetch_one(app.db())
            .await
            .unwrap();
        (errors >= 2).then_some(())
    })
    .await;
}
