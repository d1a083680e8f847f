//! Token lifetimes as an operator meets them (issue 18): with `[tokens] expire_after_days` set, a
//! token issued longer ago stops working with its own message; `callside admin tokens unused`
//! lists the tokens nobody presented for a while.

mod support;

use std::process::Command;
use support::{create_device, run, serve};

/// Dates a device's token `days_ago` (issued then, never used since), the server stopped.
fn age_token(db: &std::path::Path, principal: &str, days_ago: i64) {
    support::sqlite(
        db,
        &format!(
            "n = c.execute(\"UPDATE tokens SET created_at = ?, last_used_at = NULL WHERE principal = '{principal}'\", (now_ms - {days_ago} * 86400000,)).rowcount\nassert n == 1, n"
        ),
    );
}

#[test]
fn old_tokens_expire_when_the_operator_says_and_unused_ones_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, server) = serve(&data, &[]);
    let alice = create_device(&server, &data, "Alice", "+442079460001");
    let bob = create_device(&server, &data, "Bob", "+442079460002");
    let id_of = |token: &str| {
        run(&server, &["phone", "--token", token, "whoami"]).remove(0)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let alice_id = id_of(&alice);
    first.kill().unwrap();
    first.wait().unwrap();
    age_token(&data.join("callside.sqlite"), &alice_id, 400);

    let (mut second, server) = serve(&data, &[("CALLSIDE_TOKENS__EXPIRE_AFTER_DAYS", "365")]);
    let whoami = |token: &str| {
        Command::new(env!("CARGO_BIN_EXE_callside"))
            .args(["phone", "--token", token, "whoami"])
            .env("CALLSIDE_SERVER", &server)
            .output()
            .unwrap()
    };
    let old = whoami(&alice);
    assert!(!old.status.success());
    let said = String::from_utf8_lossy(&old.stderr);
    assert!(
        said.contains("this token expired at") && said.contains("check --token"),
        "{said}"
    );
    assert!(whoami(&bob).status.success(), "a recent token works");

    // With the server's default (tokens.unused_after_days, 90), and with the days given.
    let unused_for = |days: Option<&str>| {
        let mut args = vec![
            "admin",
            "--data-dir",
            data.to_str().unwrap(),
            "tokens",
            "unused",
        ];
        args.extend(days.map(|d| ["--days", d]).into_iter().flatten());
        run(&server, &args)
    };
    let unused = unused_for(None);
    let ids: Vec<&str> = unused.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [alice_id.as_str()], "{unused:?}");
    assert_eq!(unused_for(Some("90")), unused);
    assert!(unused_for(Some("500")).is_empty(), "issued 400 days ago");
    assert_eq!(unused[0]["kind"], "device");
    assert!(
        unused[0].get("last_used_at").is_none(),
        "never used since issued"
    );
    second.kill().unwrap();
    second.wait().unwrap();
}
