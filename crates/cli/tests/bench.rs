//! `callside bench` against a real server: the leg-report paths (`match --via ws`) and the
//! network element's (`network`, one event per request and in batches) really report, match and
//! clean up after themselves.

mod support;
use support::*;

fn totals(lines: &[serde_json::Value]) -> serde_json::Value {
    lines
        .iter()
        .find(|l| l["name"] == "totals")
        .unwrap_or_else(|| panic!("no totals in {lines:?}"))
        .clone()
}

#[test]
fn legs_over_sockets_and_network_events_in_batches_are_measured_and_cleaned_up() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, server) = serve(data.path(), &[]);
    let dir = data.path().to_str().unwrap();
    let common = ["--data-dir", dir, "--pairs", "3", "--duration", "1"];

    let mut args = vec!["bench", "match", "--via", "ws"];
    args.extend(common);
    let t = totals(&run(&server, &args));
    assert_eq!(t["via"], "ws");
    assert!(t["calls_matched"].as_u64().unwrap() > 0, "{t}");
    assert_eq!(t["failures"], 0, "{t}");

    for batch in ["0", "25"] {
        let mut args = vec!["bench", "network", "--batch", batch];
        args.extend(common);
        let t = totals(&run(&server, &args));
        assert!(t["calls"].as_u64().unwrap() > 0, "{t}");
        assert_eq!(t["failures"], 0, "{t}");
        if batch == "25" {
            assert_eq!(t["calls"].as_u64().unwrap() % 25, 0, "whole batches: {t}");
        }
    }
    // The bench's devices and its network element are gone.
    let listed = run(&server, &["admin", "--data-dir", dir, "service", "list"]);
    assert!(
        listed.iter().all(|s| !s["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("callside-bench")),
        "{listed:?}"
    );
    let devices = run(&server, &["admin", "--data-dir", dir, "device", "list"]);
    assert!(devices.is_empty(), "{devices:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}
