//! TLS to PostgreSQL on the throw-away cluster `scripts/with-postgres` starts with a certificate
//! from a throw-away CA: `sslmode=require` encrypts every connection and refuses a certificate
//! that does not chain to `ca_file`.

use callside_core::{PrincipalId, Token};
use callside_store::conformance::fixtures::device;
use callside_store::conformance::postgres::fresh_database;
use callside_store::prelude::*;
use callside_store::{PgOptions, Write};

/// An error with its causes, as `callside serve` prints it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(&format!(": {c}"));
        cause = c.source();
    }
    s
}

fn options(ca_file: Option<&str>) -> PgOptions {
    PgOptions {
        ca_file: ca_file.map(Into::into),
        connect_timeout: std::time::Duration::from_secs(3),
        ..PgOptions::default()
    }
}

#[tokio::test]
async fn sslmode_require_encrypts_and_checks_the_servers_certificate() {
    let url = fresh_database().await;
    let ca = std::env::var("CALLSIDE_TEST_POSTGRES_CA")
        .expect("CALLSIDE_TEST_POSTGRES_CA: run beside scripts/with-postgres");
    let tls_url = format!("{url} sslmode=require");

    // A throw-away CA signed the cluster's certificate: the public roots do not vouch for it, and a
    // file with no certificate in it says so.
    let refused = callside_store::postgres::open(&tls_url, None, options(None))
        .await
        .err()
        .expect("an unknown issuer is refused");
    let said = chain(&refused);
    assert!(said.contains("UnknownIssuer"), "{said}");
    let not_pem = std::env::temp_dir().join(format!("not-a-cert-{}", std::process::id()));
    std::fs::write(&not_pem, "hello").unwrap();
    let refused = callside_store::postgres::open(&tls_url, None, options(not_pem.to_str()))
        .await
        .err()
        .expect("a CA file without certificates is refused");
    let said = chain(&refused);
    assert!(said.contains("no PEM certificate"), "{said}");
    std::fs::remove_file(&not_pem).unwrap();

    // With the certificate as the CA it works, and the server says the connections are TLS.
    let store = callside_store::postgres::open(&tls_url, None, options(Some(&ca)))
        .await
        .unwrap();
    store
        .apply(vec![Write::Principal(
            device("dev_tls", "+442079460001"),
            Token::generate("d").hash(),
        )])
        .await
        .unwrap();
    let me = store
        .principal(PrincipalId("dev_tls".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(me.principal.name, "dev_tls phone");
    let dbname = url.rsplit("dbname=").next().unwrap().to_owned();
    let base = std::env::var("CALLSIDE_TEST_POSTGRES").unwrap();
    let (client, connection) =
        tokio_postgres::connect(&format!("{base} dbname=postgres"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s
             JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1",
            &[&dbname],
        )
        .await
        .unwrap();
    let (tls, all): (i64, i64) = (row.get(0), row.get(1));
    assert!(all >= 1, "the store has connections open");
    assert_eq!(tls, all, "every connection of the store is TLS");
}
