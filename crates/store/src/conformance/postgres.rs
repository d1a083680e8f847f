//! Databases for the PostgreSQL backend's tests, on the throw-away cluster `scripts/with-postgres`
//! starts.

use std::sync::atomic::{AtomicU32, Ordering};

/// The variable `scripts/with-postgres` sets: libpq settings without a database name.
pub const CLUSTER_VAR: &str = "CALLSIDE_TEST_POSTGRES";

/// Creates a new, empty database on the test cluster and answers its connection string.
///
/// # Panics
/// When no cluster is named: these tests need a real PostgreSQL and say how to get one, rather
/// than pass without having run.
pub async fn fresh_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::env::var(CLUSTER_VAR).unwrap_or_else(|_| {
        panic!(
            "{CLUSTER_VAR} is not set: run the PostgreSQL tests beside a throw-away cluster, \
             e.g. `scripts/with-postgres cargo nextest run -p callside-store` (scripts/test does)"
        )
    });
    let (client, connection) =
        tokio_postgres::connect(&format!("{base} dbname=postgres"), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test cluster ({base}): {e}"));
    let connection = tokio::spawn(connection);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = format!(
        "t{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    drop(client);
    let _ = connection.await;
    format!("{base} dbname={name}")
}
