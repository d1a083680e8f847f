//! Schema versions: `schema.sql` is version 1, `schema_vN.sql` the step to version N.

use crate::{Result, StoreError};
use rusqlite::Connection;

pub(super) const SCHEMA_VERSION: i64 = 20;

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew(version));
    }
    // Each step runs in its own transaction and records its version, so an interrupted
    // migration resumes where it stopped.
    let steps: [(i64, &str); 20] = [
        (1, include_str!("schema.sql")),
        (2, include_str!("schema_v2.sql")),
        (3, include_str!("schema_v3.sql")),
        (4, include_str!("schema_v4.sql")),
        (5, include_str!("schema_v5.sql")),
        (6, include_str!("schema_v6.sql")),
        (7, include_str!("schema_v7.sql")),
        (8, include_str!("schema_v8.sql")),
        (9, include_str!("schema_v9.sql")),
        (10, include_str!("schema_v10.sql")),
        (11, include_str!("schema_v11.sql")),
        (12, include_str!("schema_v12.sql")),
        (13, include_str!("schema_v13.sql")),
        (14, include_str!("schema_v14.sql")),
        (15, include_str!("schema_v15.sql")),
        (16, include_str!("schema_v16.sql")),
        (17, include_str!("schema_v17.sql")),
        (18, include_str!("schema_v18.sql")),
        (19, include_str!("schema_v19.sql")),
        (20, include_str!("schema_v20.sql")),
    ];
    for (to, sql) in steps {
        if version < to {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", to)?;
            tx.commit()?;
        }
    }
    Ok(())
}
