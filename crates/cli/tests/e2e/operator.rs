//! What the operator runs: metrics, and the files the server keeps.

use super::*;

/// Issue 17 (privacy): `/metrics` is the operator's. On the main listener it needs the admin
/// token; a scraper that cannot send one gets a listener of its own (`metrics.listen`).
#[tokio::test]
async fn metrics_need_the_operators_token_or_their_own_listener() {
    let w = world(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let (_alice, _bob, _key) = paired(&w).await;
    let carol = w.device("Carol", "+442079460003").await.token;
    let http = reqwest::Client::new();
    let get = |url: String, token: Option<String>| {
        let http = http.clone();
        async move {
            let mut req = http.get(url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let main = format!("{}/metrics", w.base);
    assert_eq!(get(main.clone(), None).await.0, 401);
    assert_eq!(get(main.clone(), Some(carol)).await.0, 403);
    let admin = w.running.as_ref().unwrap().admin_token.clone();
    let (status, text) = get(main, Some(admin)).await;
    assert_eq!(status, 200);
    assert!(text.contains("callside_sessions_created_total 1"), "{text}");
    // The metrics listener serves the same figures without a token, and nothing else.
    let at = w
        .running
        .as_ref()
        .unwrap()
        .metrics_addr
        .expect("a metrics listener");
    let (status, open) = get(format!("http://{at}/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(open.contains("callside_sessions_created_total 1"), "{open}");
    assert_eq!(get(format!("http://{at}/v1/me"), None).await.0, 404);
    w.stop().await;
}

/// Issue 18: latency histograms and error counts by code, and a Grafana dashboard that queries only
/// what the server exposes.
#[tokio::test]
async fn metrics_have_latency_histograms_and_the_dashboard_queries_only_real_metrics() {
    let w = world(|_| {}).await;
    let (alice, bob, key) = paired(&w).await;
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    alice.send_text(&key, "hello").await.unwrap();
    next(&mut on_bob, |e| match e {
        Event::Message(m) if m.kind == "text" => Some(()),
        _ => None,
    })
    .await;
    let outsider = w.phone("Eve", "+442079460009").await;
    let _ = outsider
        .messages(&key, Default::default())
        .await
        .unwrap_err();
    let admin = w.running.as_ref().unwrap().admin_token.clone();
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", w.base))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "callside_http_request_duration_seconds_bucket{",
        "route=\"/v1/sessions/{key}/messages\"",
        "callside_commit_duration_seconds_count",
        "callside_delivery_duration_seconds_count",
        "callside_http_errors_total{code=\"not_participant\"} 1",
    ] {
        assert!(text.contains(want), "{want} missing from\n{text}");
    }
    assert!(!text.contains(&key), "no session key in the metrics");
    // Every series the dashboard queries is one of these.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../deploy/grafana/callside.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let exposed: std::collections::HashSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("callside_") || word.starts_with("process_") {
                    queried += 1;
                    assert!(
                        exposed.contains(word),
                        "the dashboard queries {word}, which /metrics does not have"
                    );
                }
            }
        }
    }
    assert!(queried >= 10, "{queried}");
    w.stop().await;
}

/// Issue 17 (privacy): what the server keeps — the database and its log, files, keys — is
/// readable by its owner only, however the process's umask is set.
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_everything_in_it_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let w = world(|_| {}).await;
    let (alice, _bob, key) = paired(&w).await;
    let blob = alice
        .upload_bytes(b"a private photo".to_vec())
        .await
        .unwrap();
    alice.send_text(&key, "a private message").await.unwrap();
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data = w.config.data_dir.clone();
    assert_eq!(mode(&data), 0o700, "the data directory");
    let callside_server::config::Database::Sqlite { path, .. } = &w.config.database else {
        panic!("the e2e world runs on SQLite");
    };
    assert_eq!(mode(path), 0o600, "the database");
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    assert_eq!(mode(&wal), 0o600, "its write-ahead log");
    assert_eq!(mode(&w.config.blob_dir), 0o700, "the blob directory");
    let hex = blob.id.trim_start_matches("sha256:");
    let file = w.config.blob_dir.join(&hex[..2]).join(hex);
    assert_eq!(mode(file.parent().unwrap()), 0o700, "a blob's directory");
    assert_eq!(mode(&file), 0o600, "a blob");
    for key_file in ["admin.token", "server.key", "rcd.pem"] {
        assert_eq!(mode(&data.join(key_file)), 0o600, "{key_file}");
    }
    w.stop().await;
}

/// Issue 17 (secrets): replacing the operator's token the documented way — a new token in its
/// file, then a restart — retires the old one; a guessable token in the file stops the start.
#[tokio::test]
async fn a_new_admin_token_file_retires_the_old_token_and_a_weak_one_is_refused() {
    let mut w = world(|_| {}).await;
    let old = w.running.as_ref().unwrap().admin_token.clone();
    let file = w.config.admin_token_file.clone();
    let strong = "Zq8vR2mX0pL7tK4wN9cB3hJ6fD1gS5yA-_e";
    std::fs::write(&file, format!("{strong}\n")).unwrap();
    w.restart().await;
    assert_eq!(w.running.as_ref().unwrap().admin_token, strong);
    let as_old = Client::new(&w.base, &old).unwrap();
    let err = as_old.list_devices().await.unwrap_err();
    assert_eq!(err.code(), Some("token_revoked"), "{err}");
    let as_new = Client::new(&w.base, strong).unwrap();
    as_new.list_devices().await.unwrap();
    // The old operator is gone from the audit trail's point of view too: its retirement is there.
    let audit = as_new.audit_log(50).await.unwrap().entries;
    assert!(
        audit.iter().any(|a| a.action == "admin_token_replaced"),
        "{audit:?}"
    );
    // Restarting with the same file changes nothing.
    w.restart().await;
    as_new.list_devices().await.unwrap();

    // Guessable tokens do not start the server, and say how to make a good one.
    if let Some(r) = w.running.take() {
        r.shutdown().await;
    }
    for weak in ["hunter2", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
        std::fs::write(&file, weak).unwrap();
        let Err(err) = callside_server::start(w.config.clone()).await else {
            panic!("{weak:?} was accepted as the admin token");
        };
        let text = err.to_string();
        assert!(
            text.contains("too weak") && text.contains("openssl rand"),
            "{text}"
        );
    }
}

/// Issue 19: a missing token, a malformed header, a token never issued and a revoked one each get
/// their own code and message.
#[tokio::test]
async fn each_kind_of_bad_credential_gets_its_own_answer() {
    let w = world(|_| {}).await;
    let created = w.device("Alice", ALICE).await;
    let alice = Client::new(&w.base, &created.token).unwrap();
    alice.rotate_own_token().await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/v1/sessions", w.base);
    let mut seen = Vec::new();
    for header in [
        None,
        Some("Basic YWxpY2U6c2VjcmV0".to_owned()),
        Some("Bearer two words".to_owned()),
        Some("Bearer cs_dev_neverissuedneverissuedneverissued0".to_owned()),
        Some(format!("Bearer {}", created.token)),
    ] {
        let mut req = http.get(&url);
        if let Some(h) = &header {
            req = req.header("authorization", h);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{header:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        seen.push((
            body["code"].as_str().unwrap().to_owned(),
            body["detail"].as_str().unwrap().to_owned(),
        ));
    }
    let codes: Vec<&str> = seen.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "unauthenticated",
            "malformed_token",
            "malformed_token",
            "unknown_token",
            "token_revoked"
        ]
    );
    assert!(
        seen[4].1.contains("rotated") && seen[4].1.contains('T'),
        "{}",
        seen[4].1
    );
    w.stop().await;
}
