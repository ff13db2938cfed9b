//! The monitoring set-up in `deploy/`: the Prometheus configuration and alert rules pass
//! promtool, the rules' own unit tests (`alerts.test.yml`) pass, and the Grafana
//! dashboard is well formed and asks only for metrics StreamBox exports.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn promtool(args: &[&str]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    let output = Command::new("promtool")
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("promtool (Debian's prometheus package; scripts/test installs it)");
    assert!(
        output.status.success(),
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `streambox_*` metric names a PromQL expression reads, without histogram suffixes.
fn metrics_in(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("streambox_"))
        .map(|word| {
            let base = ["_bucket", "_sum", "_count"].iter().find_map(|suffix| word.strip_suffix(suffix));
            base.filter(|base| base.ends_with("_seconds") || base.ends_with("_ratio")).unwrap_or(word).to_owned()
        })
        .collect()
}

#[test]
fn prometheus_config_and_alert_rules_pass_promtool_and_their_unit_tests() {
    promtool(&["check", "config", "prometheus.yml"]);
    promtool(&["check", "rules", "alerts.yml"]);
    promtool(&["test", "rules", "alerts.test.yml"]);
    let exported: BTreeSet<&str> = streambox_base::metrics::names().collect();
    let rules =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts.yml")).unwrap();
    for line in rules.lines().filter(|l| l.contains("streambox_")) {
        for metric in metrics_in(line) {
            assert!(exported.contains(metric.as_str()), "alerts.yml reads {metric}, which StreamBox does not export");
        }
    }
}

#[test]
fn the_dashboard_is_well_formed_and_reads_only_exported_metrics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("dashboards/streambox.json")).unwrap()).unwrap();
    let provisioned = std::fs::read_to_string(root.join("provisioning/datasources/prometheus.yml")).unwrap();
    assert_eq!(dashboard["uid"], "streambox-overview");
    assert!(dashboard["title"].is_string() && dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let exported: BTreeSet<&str> = streambox_base::metrics::names().collect();
    let mut read = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "{title}: duplicate id");
        assert!(["timeseries", "stat", "gauge", "table"].contains(&panel["type"].as_str().unwrap()), "{title}");
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(x + w <= 24 && grid["h"].as_u64().unwrap() > 0 && grid["y"].is_u64(), "{title}: {grid}");
        let source = panel["datasource"]["uid"].as_str().unwrap();
        assert!(provisioned.contains(&format!("uid: {source}")), "{title}: data source {source} is not provisioned");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            assert!(target["refId"].is_string(), "{title}");
            let expr = target["expr"].as_str().unwrap();
            let metrics = metrics_in(expr);
            assert!(!metrics.is_empty() || expr.contains("up{"), "{title}: {expr} reads no StreamBox metric");
            for metric in metrics {
                assert!(exported.contains(metric.as_str()), "{title}: {metric} is not exported");
                read.insert(metric);
            }
        }
    }
    for metric in [
        "streambox_http_requests_total",
        "streambox_jobs",
        "streambox_oldest_queued_job_age_seconds",
        "streambox_ready",
    ] {
        assert!(read.contains(metric), "the dashboard shows {metric}");
    }
}
