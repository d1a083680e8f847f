use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn zero_configuration_is_valid() {
    let c = Config::load_from(&Overrides::default(), &[]).unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.match_window, Duration::from_secs(120));
    assert_eq!(c.admin_token_file, Path::new("callside-data/admin.token"));
    assert_eq!(c.lifecycle, Lifecycle::KeepAfterCall);
}

#[test]
fn the_example_file_parses_and_says_what_the_defaults_are() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../callside.example.toml");
    let example = Config::load_from(
        &Overrides {
            config_files: vec![path],
            ..Overrides::default()
        },
        &[],
    )
    .unwrap();
    let defaults = Config::load_from(&Overrides::default(), &[]).unwrap();
    assert_eq!(example.to_toml(), defaults.to_toml());
}

/// `--config a --config b`: tables merge key by key, b's values win, and an error names both.
#[test]
fn later_files_lay_over_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.toml"), dir.path().join("b.toml"));
    std::fs::write(
        &a,
        "listen = \"127.0.0.1:9000\"\n[matching]\nwindow_secs = 30\n[sessions]\nlifecycle = \"close_with_call\"\n",
    )
    .unwrap();
    std::fs::write(&b, "[matching]\nwindow_secs = 50\n").unwrap();
    let o = Overrides {
        config_files: vec![a.clone(), b.clone()],
        ..Overrides::default()
    };
    let c = Config::load_from(&o, &[]).unwrap();
    assert_eq!(c.listen.port(), 9000, "a's value where b says nothing");
    assert_eq!(c.match_window.as_secs(), 50, "b wins where both say");
    let alone = Config::load_from(
        &Overrides {
            config_files: vec![a.clone()],
            ..Overrides::default()
        },
        &[],
    )
    .unwrap();
    assert_eq!(
        c.lifecycle,
        callside_core::session::Lifecycle::CloseWithCall,
        "a's [sessions] survives b"
    );
    assert_eq!(alone.match_window.as_secs(), 30);
    std::fs::write(&b, "[matching]\nwindow_sec = 50\n").unwrap();
    let e = Config::load_from(&o, &[]).unwrap_err().to_string();
    assert!(e.contains("a.toml + ") && e.contains("b.toml"), "{e}");
}

#[test]
fn layers_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\n[matching]\nwindow_secs = 30\n",
    )
    .unwrap();
    let o = Overrides {
        config_files: vec![file],
        ..Overrides::default()
    };
    let c = Config::load_from(
        &o,
        &env(&[
            ("CALLSIDE_MATCHING__WINDOW_SECS", "45"),
            ("CALLSIDE_DEFAULT_REGION", "gb"),
        ]),
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.match_window.as_secs(), 45);
    assert_eq!(
        c.default_region.map(|r| r.code().to_owned()).as_deref(),
        Some("GB")
    );
    let o = Overrides {
        listen: Some("127.0.0.1:9100".into()),
        ..o
    };
    assert_eq!(Config::load_from(&o, &[]).unwrap().listen.port(), 9100);
}

#[test]
fn bad_values_name_the_key() {
    let e = Config::load_from(
        &Overrides {
            listen: Some("nope".into()),
            ..Overrides::default()
        },
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("`listen`"), "{e}");
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_MATCHING__WINDOW_SECS", "0")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("matching.window_secs"), "{e}");
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_SESSIONS__LIFECYCLE", "forever")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("keep_after_call"), "{e}");
    // Variables that name no setting (Kubernetes' service variables) are skipped with a
    // warning; a misspelt key inside a known table is still an error.
    let c = Config::load_from(
        &Overrides::default(),
        &env(&[
            ("CALLSIDE_PORT", "tcp://10.0.0.7:8080"),
            ("CALLSIDE_SERVICE_HOST", "10.0.0.7"),
            ("CALLSIDE_MATCHING__WINDOW_SECS", "45"),
        ]),
    )
    .unwrap();
    assert_eq!(c.ignored_env, ["CALLSIDE_PORT", "CALLSIDE_SERVICE_HOST"]);
    assert_eq!(c.match_window, Duration::from_secs(45));
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_MATCHING__WINDOW_SEC", "1")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("window_sec"), "{e}");
    // The authorization server needs its secret, and only http(s) URLs.
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[(
            "CALLSIDE_AUTHORIZATION__URL",
            "https://billing.example.com/cs",
        )]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("authorization.secret"), "{e}");
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[
            (
                "CALLSIDE_AUTHORIZATION__URL",
                "ftp://billing.example.com/cs",
            ),
            ("CALLSIDE_AUTHORIZATION__SECRET", "0123456789abcdef"),
        ]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("authorization.url"), "{e}");
    let ok = Config::load_from(
        &Overrides::default(),
        &env(&[
            (
                "CALLSIDE_AUTHORIZATION__URL",
                "https://billing.example.com/cs",
            ),
            ("CALLSIDE_AUTHORIZATION__SECRET", "0123456789abcdef"),
        ]),
    )
    .unwrap();
    assert_eq!(
        ok.authorization,
        Some((
            "https://billing.example.com/cs".into(),
            "0123456789abcdef".into()
        ))
    );
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_DEFAULT_REGION", "ZZ")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("default_region"), "{e}");
    // Token lifetimes: days, 0 for never.
    let tokens = Config::load_from(
        &Overrides::default(),
        &env(&[
            ("CALLSIDE_TOKENS__EXPIRE_AFTER_DAYS", "30"),
            ("CALLSIDE_TOKENS__UNUSED_AFTER_DAYS", "0"),
        ]),
    )
    .unwrap()
    .tokens;
    assert_eq!(
        (tokens.expire_after_days, tokens.unused_after_days),
        (Some(30), None)
    );
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_TOKENS__EXPIRE_AFTER_DAYS", "99999")]),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("tokens.expire_after_days") && e.to_string().contains("0 (never)"),
        "{e}"
    );
    // APNs needs the operator's bundle ids; a topic must look like one.
    let apns = [
        ("CALLSIDE_PUSH__APNS_TEAM_ID", "TEAM123456"),
        ("CALLSIDE_PUSH__APNS_KEY_ID", "KEY1234567"),
        ("CALLSIDE_PUSH__APNS_KEY_FILE", "/etc/callside/AuthKey.p8"),
    ];
    let e = Config::load_from(&Overrides::default(), &env(&apns)).unwrap_err();
    assert!(e.to_string().contains("push.apns_topics"), "{e}");
    let with = |topics: &str| {
        let mut vars = apns.to_vec();
        vars.push(("CALLSIDE_PUSH__APNS_TOPICS", topics));
        Config::load_from(&Overrides::default(), &env(&vars))
    };
    assert_eq!(
        with(r#"["com.example.phone"]"#).unwrap().push.apns_topics,
        ["com.example.phone"]
    );
    let e = with(r#"["not a bundle id"]"#).unwrap_err();
    assert!(e.to_string().contains("bundle id"), "{e}");
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_SMS__PROVIDER", "kannel")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("sms.url"), "{e}");
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_SMS__INBOUND_ALLOW", "[\"localhost\"]")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("sms.inbound_allow"), "{e}");
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_LIMITS__SMS_PER_NUMBER_HOUR", "0")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("limits.sms_per_number_hour"), "{e}");
}

#[test]
fn sms_secrets_are_not_printed() {
    let c = Config::load_from(
        &Overrides::default(),
        &env(&[
            ("CALLSIDE_SMS__PROVIDER", "kannel"),
            (
                "CALLSIDE_SMS__URL",
                "http://127.0.0.1:13013/cgi-bin/sendsms",
            ),
            ("CALLSIDE_SMS__USERNAME", "callside"),
            ("CALLSIDE_SMS__PASSWORD", "hunter2"),
            ("CALLSIDE_SMS__NUMBER", "+447400100000"),
        ]),
    )
    .unwrap();
    let printed = c.to_toml();
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("<redacted>"), "{printed}");
    assert_eq!(c.sms.number.unwrap().as_str(), "+447400100000");
    let c = Config::load_from(
        &Overrides::default(),
        &env(&[(
            "CALLSIDE_MAIL__SMTP_URL",
            "smtp://alice%40example.com:p%40ss@mail.example.com:587?tls=required",
        )]),
    )
    .unwrap();
    let printed = c.to_toml();
    assert!(
        !printed.contains("p%40ss") && !printed.contains("ss@mail"),
        "{printed}"
    );
    assert!(printed.contains("mail.example.com:587"), "{printed}");
}

#[test]
fn the_sip_proxy_needs_its_account_and_an_http_url() {
    let load = |pairs: &[(&str, &str)]| Config::load_from(&Overrides::default(), &env(pairs));
    assert_eq!(load(&[]).unwrap().kamailio, None);
    let e = load(&[("CALLSIDE_KAMAILIO__RPC_URL", "http://127.0.0.1:5065/RPC")]).unwrap_err();
    assert!(e.to_string().contains("kamailio.account"), "{e}");
    let e = load(&[
        ("CALLSIDE_KAMAILIO__RPC_URL", "http://127.0.0.1:5065/RPC"),
        ("CALLSIDE_KAMAILIO__ACCOUNT", "kamailio"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("svc_"), "{e}");
    let e = load(&[
        ("CALLSIDE_KAMAILIO__RPC_URL", "ftp://x"),
        ("CALLSIDE_KAMAILIO__ACCOUNT", "svc_1"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("kamailio.rpc_url"), "{e}");
    let e = load(&[
        ("CALLSIDE_KAMAILIO__RPC_URL", "http://x/RPC"),
        ("CALLSIDE_KAMAILIO__ACCOUNT", "svc_1"),
        ("CALLSIDE_KAMAILIO__SIP_ADDRESS", "a@b"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("kamailio.sip_address"), "{e}");
    let ok = load(&[
        ("CALLSIDE_KAMAILIO__RPC_URL", "http://127.0.0.1:5065/RPC"),
        ("CALLSIDE_KAMAILIO__ACCOUNT", "svc_1"),
    ])
    .unwrap();
    let k = ok.kamailio.clone().unwrap();
    assert_eq!(
        (k.sip_address.as_str(), k.reconcile),
        ("127.0.0.1:5060", Duration::from_secs(60))
    );
    // What `config` prints loads back to the same.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, ok.to_toml()).unwrap();
    let again = Config::load_from(
        &Overrides {
            config_files: vec![file],
            ..Overrides::default()
        },
        &[],
    )
    .unwrap();
    assert_eq!(again.kamailio, ok.kamailio);
}

#[test]
fn secrets_may_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("turn.secret");
    std::fs::write(&secret, "s3cret-from-a-file\n").unwrap();
    let file = dir.path().join("callside.toml");
    std::fs::write(
        &file,
        format!(
            "[turn]\nurls = [\"turn:127.0.0.1:3478\"]\nsecret_file = {:?}\n",
            secret.to_str().unwrap()
        ),
    )
    .unwrap();
    let overrides = Overrides {
        config_files: vec![file.clone()],
        ..Overrides::default()
    };
    let c = Config::load_from(&overrides, &[]).unwrap();
    assert_eq!(c.turn.secret.as_deref(), Some("s3cret-from-a-file"));
    // From the environment too; both at once, a missing file or an empty one are errors.
    let c = Config::load_from(
        &Overrides::default(),
        &env(&[
            (
                "CALLSIDE_AUTHORIZATION__URL",
                "https://auth.example.com/grant",
            ),
            (
                "CALLSIDE_AUTHORIZATION__SECRET_FILE",
                secret.to_str().unwrap(),
            ),
        ]),
    )
    .unwrap();
    assert_eq!(c.authorization.unwrap().1, "s3cret-from-a-file");
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[
            ("CALLSIDE_TURN__SECRET", "x"),
            ("CALLSIDE_TURN__SECRET_FILE", secret.to_str().unwrap()),
        ]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not both"), "{e}");
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_TURN__SECRET_FILE", "/nonexistent/secret")]),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot read the secret file /nonexistent/secret"),
        "{e}"
    );
    std::fs::write(&secret, "\n").unwrap();
    let e = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_TURN__SECRET_FILE", secret.to_str().unwrap())]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("is empty"), "{e}");
}

#[test]
fn postgres_replaces_sqlite_and_its_password_is_never_printed() {
    let c = Config::load_from(
        &Overrides::default(),
        &env(&[
            (
                "CALLSIDE_DATABASE__URL",
                "postgres://callside:s3cret@db.internal:5432/callside",
            ),
            ("CALLSIDE_DATABASE__PASSWORD", "hunter2"),
        ]),
    )
    .unwrap();
    match &c.database {
        Database::Postgres { url, password, .. } => {
            assert_eq!(url, "postgres://callside:s3cret@db.internal:5432/callside");
            assert_eq!(password.as_deref(), Some("hunter2"));
        }
        other => panic!("expected PostgreSQL, got {other:?}"),
    }
    for shown in [c.to_toml(), format!("{:?}", c.database)] {
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db.internal:5432/callside"), "{shown}");
    }
    // The printed configuration loads again as the same backend.
    let printed = c.to_toml();
    assert!(
        printed.contains("url = \"postgres://callside:***@db.internal"),
        "{printed}"
    );
    assert!(!printed.contains("checkpoint_secs"), "{printed}");

    // SQLite settings beside a URL, a password without one, and an unreadable URL are refused
    // with the key named.
    for (pairs, key) in [
        (
            vec![
                (
                    "CALLSIDE_DATABASE__URL",
                    "postgres://callside@127.0.0.1/callside",
                ),
                ("CALLSIDE_DATABASE__CHECKPOINT_SECS", "5"),
            ],
            "database.checkpoint_secs",
        ),
        (
            vec![("CALLSIDE_DATABASE__PASSWORD", "hunter2")],
            "database.password",
        ),
        (
            vec![("CALLSIDE_DATABASE__URL", "postgres://127.0.0.1:notaport/x")],
            "database.url",
        ),
        (
            vec![("CALLSIDE_DATABASE__URL", "postgres:///callside")],
            "database.url",
        ),
    ] {
        let e = Config::load_from(&Overrides::default(), &env(&pairs)).unwrap_err();
        let text = e.to_string();
        assert!(text.contains(key), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

/// `database.ca_file` goes with TLS to PostgreSQL, and says so when set elsewhere.
#[test]
fn a_ca_file_goes_with_sslmode_require() {
    let load = |vars: &[(&str, &str)]| Config::load_from(&Overrides::default(), &env(vars));
    let e = load(&[("CALLSIDE_DATABASE__CA_FILE", "/etc/ca.pem")]).unwrap_err();
    assert!(e.to_string().contains("database.ca_file"), "{e}");
    let e = load(&[
        (
            "CALLSIDE_DATABASE__URL",
            "postgres://callside@db:5432/callside",
        ),
        ("CALLSIDE_DATABASE__CA_FILE", "/etc/ca.pem"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("sslmode=require"), "{e}");
    let c = load(&[
        (
            "CALLSIDE_DATABASE__URL",
            "postgres://callside@db:5432/callside?sslmode=require",
        ),
        ("CALLSIDE_DATABASE__CA_FILE", "/etc/ca.pem"),
    ])
    .unwrap();
    match &c.database {
        Database::Postgres { ca_file, .. } => {
            assert_eq!(
                ca_file.as_deref(),
                Some(std::path::Path::new("/etc/ca.pem"))
            );
        }
        other => panic!("{other:?}"),
    }
    // Printed and read again, it is the same setting.
    assert!(
        c.to_toml().contains("ca_file = \"/etc/ca.pem\""),
        "{}",
        c.to_toml()
    );
}

#[test]
fn a_cluster_needs_postgresql_and_reads_from_the_environment() {
    let err = Config::load_from(
        &Overrides::default(),
        &env(&[("CALLSIDE_CLUSTER__NATS_URL", "nats://127.0.0.1:4222")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("database.url"), "{err}");
    let c = Config::load_from(
        &Overrides::default(),
        &env(&[
            ("CALLSIDE_CLUSTER__NATS_URL", "nats://127.0.0.1:4222"),
            (
                "CALLSIDE_DATABASE__URL",
                "postgres://callside@127.0.0.1/callside",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.cluster,
        Some(Cluster {
            nats: vec!["nats://127.0.0.1:4222".into()],
            name: "callside".into(),
            login: super::cluster::NatsLogin {
                urls: vec!["nats://127.0.0.1:4222".into()],
                user: None,
                password: None,
            },
        })
    );
}
