//! The few helpers every aggregate module uses: prepared (and cached) statements, typed column
//! reads, and PostgreSQL errors mapped to [`StoreError`].

use crate::{Result, StoreError};
pub(super) use deadpool_postgres::GenericClient as Db;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
pub(super) use tokio_postgres::Row;

/// Statement parameters: `&[&a, &b]`. Types must match the columns exactly: `i64` for
/// `BIGINT`, `bool` for `BOOLEAN`, `&str`/`String` (or `Option` of them) for `TEXT`, `&[u8]`
/// for `BYTEA`.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Runs a statement (prepared once per connection and cached); answers the rows it changed.
pub(super) async fn exec(c: &impl Db, sql: &str, params: Params<'_>) -> Result<u64> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

/// Like [`exec`], for an insert whose violated constraint (an existing key, a missing
/// referenced row) means [`StoreError::Duplicate`], as SQLite's constraint errors do.
pub(super) async fn exec_insert(c: &impl Db, sql: &str, params: Params<'_>) -> Result<u64> {
    let statement = c.prepare_cached(sql).await?;
    c.execute(&statement, params).await.map_err(|e| {
        if is_constraint(&e) {
            StoreError::Duplicate
        } else {
            e.into()
        }
    })
}

/// Every row of a query.
pub(super) async fn rows(c: &impl Db, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

/// The first row of a query that answers at most one.
pub(super) async fn row(c: &impl Db, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

/// Column `i` of `r` as `T`; a type that does not match the column is an error, not a panic.
pub(super) fn col<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> Result<T> {
    Ok(r.try_get(i)?)
}

/// A stored value this program cannot read back.
pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("bad {what} `{value}`"))
}

/// Class 23: integrity constraint violations (unique, foreign key, not null, check).
fn is_constraint(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| c.code().starts_with("23") || *c == SqlState::UNIQUE_VIOLATION)
}

/// Every PostgreSQL error becomes [`StoreError::Backend`]; the store's public types name no
/// `tokio_postgres` type.
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Backend(Box::new(e))
    }
}
