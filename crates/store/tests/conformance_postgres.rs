//! The storage contract's conformance suite, run against the PostgreSQL backend on the
//! throw-away cluster `scripts/with-postgres` starts (scripts/test runs it so).

use callside_store::conformance::postgres::fresh_database;
use callside_store::conformance::Database;
use callside_store::{postgres, PgOptions, Store};
use std::sync::Arc;

/// A database of its own on the test cluster.
struct Postgres(String);

#[async_trait::async_trait]
impl Database for Postgres {
    async fn open(&self) -> Arc<dyn Store> {
        postgres::open(&self.0, None, PgOptions::default())
            .await
            .unwrap()
    }
}

callside_store::conformance_suite!(async { Postgres(fresh_database().await) });
