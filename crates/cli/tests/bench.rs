//! `callside bench` against a real server: the leg-report paths (`match --via ws`) and the
//! network element's (`network`, one event per request and in batches) really report, match and
//! clean up after themselves; the relay's load also reaches real Mosquitto and NATS JetStream
//! brokers (`relay --against`), the other two targets of `scripts/bench-peers`.

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

/// A broker started on a free loopback port for one test, stopped on drop.
struct Broker {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// `program` with `args(port, dir)`, reachable as `scheme://127.0.0.1:port`.
    fn start(
        program: &str,
        scheme: &str,
        args: impl Fn(u16, &std::path::Path) -> Vec<String>,
    ) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut child = std::process::Command::new(program)
            .args(args(port, dir.path()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} runs (scripts/install-deps): {e}"));
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Broker {
                    child,
                    url: format!("{scheme}://127.0.0.1:{port}"),
                    _dir: dir,
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("{program} did not start");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The side-by-side comparison's other two targets: the same relay load reaches a real Mosquitto
/// (QoS 1) and a real NATS JetStream (file storage) and is measured as callside's is.
#[test]
fn the_relay_load_runs_against_mosquitto_and_jetstream() {
    let mosquitto = Broker::start("/usr/sbin/mosquitto", "mqtt", |port, dir| {
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n"),
        )
        .unwrap();
        vec!["-c".into(), conf.to_str().unwrap().into()]
    });
    let jetstream = Broker::start("nats-server", "nats", |port, dir| {
        let store = dir.to_str().unwrap().to_owned();
        [
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-js",
            "-sd",
            &store,
        ]
        .map(str::to_owned)
        .to_vec()
    });
    for (broker, name) in [(&mosquitto, "mqtt"), (&jetstream, "jetstream")] {
        let pid = broker.child.id().to_string();
        let lines = run(
            "http://127.0.0.1:9",
            &[
                "bench",
                "relay",
                "--against",
                &broker.url,
                "--pairs",
                "3",
                "--duration",
                "1",
                "--rate",
                "300",
                "--server-pid",
                &pid,
            ],
        );
        let t = totals(&lines);
        assert_eq!(t["against"], name, "{t}");
        let accepted = t["accepted"].as_u64().unwrap();
        // 300/s for one second, paced: about 300 (the last of each sender's may be late).
        assert!((250..=310).contains(&accepted), "{t}");
        assert_eq!(t["not_delivered"], 0, "{t}");
        let delivered = lines
            .iter()
            .find(|l| l["name"] == "send → delivered")
            .unwrap_or_else(|| panic!("no delivered line in {lines:?}"));
        assert_eq!(delivered["count"].as_u64(), Some(accepted), "{delivered}");
        let resources = lines.iter().find(|l| l["name"] == "resources").unwrap();
        assert!(
            resources["server_rss_after_mib"].as_f64().unwrap() > 0.0,
            "{resources}"
        );
    }
    // A scheme the bench does not speak is refused before anything runs.
    let out = std::process::Command::new(BIN)
        .args(["bench", "relay", "--against", "amqp://127.0.0.1:5672"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown scheme"), "{err}");
}
