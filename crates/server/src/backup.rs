//! `callside admin backup`: a consistent copy of a data directory, taken while the server runs.
//!
//! The database is copied first, as one snapshot (`VACUUM INTO`): it holds whole commits only.
//! Then every other file of the data directory — blobs, keys, the admin token — is copied. Blobs
//! are written before any message naming them commits and never change, so each blob the
//! snapshot names is there to copy. Everything goes into `<dest>.partial`, renamed to `<dest>` at
//! the end: a backup killed half-way never looks complete, and the next run starts over.
//! Restoring is starting a server on the copy (`callside serve --data-dir <dest>`), or moving it
//! in place of the data directory while the server is stopped.
//!
//! With PostgreSQL (`database.url`) the database is dumped by `pg_dump` (one snapshot, custom
//! format) into `database.pgdump` beside the copied files; restore it with `pg_restore
//! --no-owner -d <new database> database.pgdump` and point `database.url` at that database.

use crate::config::{Config, Database};
use std::path::{Path, PathBuf};

/// What a backup copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub dest: PathBuf,
    pub database_bytes: u64,
    pub files: u64,
    pub file_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} exists already: back up into a new directory")]
    Exists(PathBuf),
    #[error("the blob directory {0} is outside the data directory: back it up with the data directory's other files by hand, or move it inside")]
    BlobsOutside(PathBuf),
    #[error("cannot copy the database: {0}")]
    Database(#[from] callside_store::StoreError),
    #[error("pg_dump failed ({0}); is the PostgreSQL client installed (Debian: postgresql-client) and the database reachable?")]
    Dump(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Backs up the data directory of `config` into `dest`; `progress` hears each step.
pub fn run(
    config: &Config,
    dest: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Summary, BackupError> {
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    if !config.blob_dir.starts_with(&config.data_dir) {
        return Err(BackupError::BlobsOutside(config.blob_dir.clone()));
    }
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if partial.exists() {
        progress(&format!(
            "removing {} left by an interrupted backup",
            partial.display()
        ));
        std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    crate::keys::private_dir(&partial).map_err(io(&partial))?;

    let (database_bytes, skip) = match &config.database {
        Database::Sqlite { path: db, .. } => copy_sqlite(config, db, &partial, &mut progress)?,
        Database::Postgres {
            url,
            password,
            ca_file,
        } => {
            let out = partial.join("database.pgdump");
            progress(&format!(
                "dumping the database {} …",
                callside_store::postgres::redact(url)
            ));
            pg_dump(url, password.as_deref(), ca_file.as_deref(), &out)?;
            crate::keys::private_file(&out).map_err(io(&out))?;
            std::fs::File::open(&out)
                .and_then(|f| f.sync_all())
                .map_err(io(&out))?;
            let bytes = std::fs::metadata(&out).map_err(io(&out))?.len();
            (bytes, vec![config.data_dir.join("callside.lock")])
        }
    };
    let mut summary = Summary {
        dest: dest.to_owned(),
        database_bytes,
        ..Summary::default()
    };
    progress(&format!(
        "copying the files of {} …",
        config.data_dir.display()
    ));
    copy_tree(&config.data_dir, &partial, &skip, &mut summary)?;
    sync_dir(&partial)?;
    std::fs::rename(&partial, dest).map_err(io(dest))?;
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(summary)
}

/// The SQLite database as one snapshot (`VACUUM INTO`); answers its size and the live files
/// the copy of the data directory must leave out.
fn copy_sqlite(
    config: &Config,
    db: &Path,
    partial: &Path,
    progress: &mut impl FnMut(&str),
) -> Result<(u64, Vec<PathBuf>), BackupError> {
    // The database, as one snapshot. Where it lives inside the data directory, it keeps its
    // place; a database kept elsewhere lands at the top of the copy.
    let db_rel = db
        .strip_prefix(&config.data_dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| PathBuf::from(db.file_name().unwrap_or("callside.sqlite".as_ref())));
    let db_copy = partial.join(&db_rel);
    if let Some(parent) = db_copy.parent() {
        crate::keys::private_dir(parent).map_err(io(parent))?;
    }
    progress(&format!("copying the database {} …", db.display()));
    callside_store::sqlite::snapshot(db, &db_copy)?;
    crate::keys::private_file(&db_copy).map_err(io(&db_copy))?;
    std::fs::File::open(&db_copy)
        .and_then(|f| f.sync_all())
        .map_err(io(&db_copy))?;
    let database_bytes = std::fs::metadata(&db_copy).map_err(io(&db_copy))?.len();

    // Everything else: blobs, keys, tokens. Not the live database, its log, or the lock.
    let mut skip: Vec<PathBuf> = ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| {
            let mut p = db.as_os_str().to_owned();
            p.push(s);
            PathBuf::from(p)
        })
        .collect();
    skip.push(config.data_dir.join("callside.lock"));
    Ok((database_bytes, skip))
}

/// `pg_dump` of the database at `url` into `out` (custom format: compressed, one snapshot).
fn pg_dump(
    url: &str,
    password: Option<&str>,
    ca_file: Option<&Path>,
    out: &Path,
) -> Result<(), BackupError> {
    let mut command = std::process::Command::new("pg_dump");
    command
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(out)
        .arg("--dbname")
        .arg(url)
        .stdin(std::process::Stdio::null());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    // With a root certificate file, libpq's sslmode=require verifies the server's certificate
    // as callside does.
    if let Some(ca) = ca_file {
        command.env("PGSSLROOTCERT", ca);
    }
    let result = command
        .output()
        .map_err(|e| BackupError::Dump(format!("cannot run pg_dump: {e}")))?;
    if !result.status.success() {
        let stderr = String::from_utf8_lossy(&result.stderr);
        return Err(BackupError::Dump(stderr.trim().to_owned()));
    }
    Ok(())
}

fn copy_tree(
    from: &Path,
    to: &Path,
    skip: &[PathBuf],
    summary: &mut Summary,
) -> Result<(), BackupError> {
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let path = entry.path();
        if skip.contains(&path) {
            continue;
        }
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_dir() {
            crate::keys::private_dir(&target).map_err(io(&target))?;
            copy_tree(&path, &target, skip, summary)?;
        } else if kind.is_file() {
            if target.exists() {
                continue; // the database copy
            }
            let n = std::fs::copy(&path, &target).map_err(io(&path))?;
            std::fs::File::open(&target)
                .and_then(|f| f.sync_all())
                .map_err(io(&target))?;
            summary.files += 1;
            summary.file_bytes += n;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io(dir))
}
