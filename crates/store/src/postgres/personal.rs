//! One device's personal data: the export ([`IdentityStore::personal_data`]) and
//! [`Write::ErasePrincipal`], both driven by [`crate::personal::HOLDINGS`] (whose `?N`
//! placeholders become `$N`).
//!
//! [`IdentityStore::personal_data`]: crate::IdentityStore::personal_data
//! [`Write::ErasePrincipal`]: crate::Write::ErasePrincipal

use super::sql::{col, exec, rows, Db};
use crate::common_sql::pg;
use crate::personal::{exported, OnErase, PersonalTable, HOLDINGS, SECRET_COLUMNS};
use crate::{Result, StoreError};
use callside_core::{Millis, PrincipalId};
use serde_json::{Map, Value};

/// The device's rows of every holding, secrets left out (each row as PostgreSQL's `to_jsonb`
/// writes it: `bytea` as `\x…` hex).
pub(super) async fn export(c: &impl Db, id: &PrincipalId) -> Result<Vec<PersonalTable>> {
    let mut tables = Vec::with_capacity(HOLDINGS.len());
    for h in HOLDINGS {
        let sql = pg(&format!(
            "SELECT to_jsonb({t})::text FROM {t} WHERE {}",
            h.rows,
            t = h.table
        ));
        let mut out = Vec::new();
        for r in rows(c, &sql, &[&id.as_str()]).await? {
            let text: String = col(&r, 0)?;
            let Ok(Value::Object(row)) = serde_json::from_str::<Value>(&text) else {
                return Err(StoreError::Corrupt(format!("a {} row as JSON", h.table)));
            };
            let row: Map<String, Value> = row
                .into_iter()
                .filter(|(k, _)| !SECRET_COLUMNS.contains(&k.as_str()))
                .map(|(k, v)| {
                    let v = exported(&k, v);
                    (k, v)
                })
                .collect();
            out.push(row);
        }
        tables.push(PersonalTable {
            table: h.table,
            rows: out,
            on_erase: h.on_erase,
        });
    }
    Ok(tables)
}

/// [`Write::ErasePrincipal`](crate::Write::ErasePrincipal).
pub(super) async fn erase(c: &impl Db, id: &PrincipalId, at: Millis) -> Result<()> {
    // Not `delete_principal`, which would move an erased device's deletion time.
    super::identity::retire_tokens(c, id).await?;
    super::browsers::delete_of(c, id).await?;
    for h in HOLDINGS {
        let sql = pg(&match h.on_erase {
            OnErase::Delete => format!("DELETE FROM {} WHERE {}", h.table, h.rows),
            OnErase::Redact(set) => format!("UPDATE {} SET {set} WHERE {}", h.table, h.rows),
            OnErase::Keep(_) => continue,
        });
        if sql.contains("$2") {
            exec(c, &sql, &[&id.as_str(), &at]).await?;
        } else {
            exec(c, &sql, &[&id.as_str()]).await?;
        }
    }
    Ok(())
}
