//! Schema versions: `schema.sql` is version 1, `schema_vN.sql` the step to version N. The
//! version lives in `callside_schema`; a migration runs in one transaction under an advisory
//! lock, so nodes started together migrate once and none sees a half-made schema.

use crate::{Result, StoreError};
use deadpool_postgres::ClientWrapper;

pub(super) const SCHEMA_VERSION: i64 = 9;

/// The advisory lock every callside node takes while it migrates ("callside" in ASCII, as a
/// number).
const MIGRATION_LOCK: i64 = 0x63_616c_6c73_6964;

pub(super) async fn migrate(c: &mut ClientWrapper) -> Result<()> {
    let tx = c.transaction().await?;
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
         CREATE TABLE IF NOT EXISTS callside_schema (version BIGINT NOT NULL);"
    ))
    .await?;
    let version: i64 = match tx
        .query_opt("SELECT max(version) FROM callside_schema", &[])
        .await?
    {
        Some(row) => row.try_get::<_, Option<i64>>(0)?.unwrap_or(0),
        None => 0,
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew(version));
    }
    let steps: [(i64, &str); 9] = [
        (1, include_str!("schema.sql")),
        (2, include_str!("schema_v2.sql")),
        (3, include_str!("schema_v3.sql")),
        (4, include_str!("schema_v4.sql")),
        (5, include_str!("schema_v5.sql")),
        (6, include_str!("schema_v6.sql")),
        (7, include_str!("schema_v7.sql")),
        (8, include_str!("schema_v8.sql")),
        (9, include_str!("schema_v9.sql")),
    ];
    for (to, sql) in steps {
        if version < to {
            tx.batch_execute(sql).await?;
            tx.execute("DELETE FROM callside_schema", &[]).await?;
            tx.execute("INSERT INTO callside_schema (version) VALUES ($1)", &[&to])
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
