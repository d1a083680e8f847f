//! One device's personal data: the export ([`IdentityStore::personal_data`]) and
//! [`Write::ErasePrincipal`], both driven by [`crate::personal::HOLDINGS`].
//!
//! [`IdentityStore::personal_data`]: crate::IdentityStore::personal_data
//! [`Write::ErasePrincipal`]: crate::Write::ErasePrincipal

use crate::personal::{exported, OnErase, PersonalTable, HOLDINGS, SECRET_COLUMNS};
use crate::Result;
use callside_core::{Millis, PrincipalId};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};
use serde_json::{Map, Value};

/// The device's rows of every holding, secrets left out.
pub(super) fn export(c: &Connection, id: &PrincipalId) -> Result<Vec<PersonalTable>> {
    HOLDINGS
        .iter()
        .map(|h| {
            let mut st =
                c.prepare_cached(&format!("SELECT * FROM {} WHERE {}", h.table, h.rows))?;
            let names: Vec<String> = st.column_names().iter().map(|n| n.to_string()).collect();
            let rows = st
                .query_map([id.as_str()], |r| {
                    let mut row = Map::new();
                    for (i, name) in names.iter().enumerate() {
                        if SECRET_COLUMNS.contains(&name.as_str()) {
                            continue;
                        }
                        row.insert(name.clone(), exported(name, json(r.get_ref(i)?)));
                    }
                    Ok(row)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(PersonalTable {
                table: h.table,
                rows,
                on_erase: h.on_erase,
            })
        })
        .collect()
}

fn json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => f.into(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => b
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
            .into(),
    }
}

/// [`Write::ErasePrincipal`](crate::Write::ErasePrincipal).
pub(super) fn erase(c: &Connection, id: &PrincipalId, at: Millis) -> Result<()> {
    // Not `delete_principal`, which would move an erased device's deletion time.
    super::identity::retire_tokens(c, id)?;
    super::browsers::delete_of(c, id)?;
    for h in HOLDINGS {
        let sql = match h.on_erase {
            OnErase::Delete => format!("DELETE FROM {} WHERE {}", h.table, h.rows),
            OnErase::Redact(set) => format!("UPDATE {} SET {set} WHERE {}", h.table, h.rows),
            OnErase::Keep(_) => continue,
        };
        let mut st = c.prepare_cached(&sql)?;
        if sql.contains("?2") {
            st.execute(params![id.as_str(), at])?;
        } else {
            st.execute([id.as_str()])?;
        }
    }
    Ok(())
}
