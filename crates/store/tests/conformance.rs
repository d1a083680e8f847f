//! The storage contract's conformance suite, run against the SQLite backend.

use callside_store::conformance::Database;
use callside_store::{sqlite, SqliteOptions, Store};
use std::sync::Arc;

/// A database file in a directory of its own, removed when the case ends.
struct Sqlite(tempfile::TempDir);

#[async_trait::async_trait]
impl Database for Sqlite {
    async fn open(&self) -> Arc<dyn Store> {
        sqlite::open(&self.0.path().join("t.sqlite"), SqliteOptions::default()).unwrap()
    }
}

callside_store::conformance_suite!(async { Sqlite(tempfile::tempdir().unwrap()) });
