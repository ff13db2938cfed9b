//! The browser scripts in tests/browser/: headless Chromium driven by playwright-core under
//! node, each printing one JSON report of what it saw, with `fatal` set if it stopped early.

use std::path::Path;

use serde_json::Value;

/// Runs tests/browser/`script` with `args`; its report, once the run has finished without
/// stopping early.
pub async fn run_script(script: &str, args: &[String]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser").join(script);
    let run = tokio::process::Command::new("node").arg(path).args(args).output().await.expect("run node");
    assert!(run.status.success(), "the {script} run failed: {}", String::from_utf8_lossy(&run.stderr));
    let report: Value = serde_json::from_slice(run.stdout.trim_ascii()).expect("one JSON report");
    println!("{script} report: {report}");
    assert_eq!(report["fatal"], Value::Null, "the {script} run stopped: {report}");
    report
}
