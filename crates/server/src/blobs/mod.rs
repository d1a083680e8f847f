//! Blobs: content-addressed files. An upload is streamed to disk while it is hashed, named by its
//! SHA-256, typed by sniffing its first bytes, and recorded with its uploader; a blob is readable
//! by its uploaders, by participants of sessions whose log references it, and by principals it
//! was granted to (a composer picture). Anyone else is told it does not exist, so content hashes
//! cannot be probed.
//!
//! May touch: the store, the blob directory, metrics. Knows nothing of HTTP: uploads arrive as a
//! stream of byte chunks, downloads are served by `http.rs` from [`Blobs::path_of`].

pub(crate) mod http;

use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::Store;
use callside_core::message::BlobId;
use callside_core::PrincipalId;
use callside_store::{BlobRecord, StoreError, Write};
use futures_util::{Stream, StreamExt as _};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Bytes kept from the start of a file to recognise its type.
const SNIFF: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("the upload broke off: {0}")]
    UploadFailed(String),
    #[error("files may be at most {0} bytes")]
    TooLarge(u64),
    #[error("the upload has no bytes")]
    Empty,
    #[error("you may upload {0} bytes a day; try again tomorrow or send smaller files")]
    Quota(u64),
    #[error("the server is low on disk space and takes no files for now (messages still work)")]
    LowOnSpace,
    #[error("blob store: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where blobs go and how much may arrive.
pub(crate) struct Settings {
    pub(crate) dir: PathBuf,
    /// Largest single file.
    pub(crate) max_bytes: u64,
    /// Free space the file system keeps: below it uploads are refused, so a full disk never
    /// makes a commit fail (which would stop the server).
    pub(crate) min_free_bytes: u64,
    /// Bytes one principal may upload a day.
    pub(crate) per_day: u64,
}

const DAY_MS: i64 = 86_400_000;

pub(crate) struct Blobs {
    store: Store,
    dir: PathBuf,
    max_bytes: u64,
    min_free_bytes: u64,
    per_day: u64,
    /// Bytes each principal uploaded today (the day number and the sum): a limit, kept in
    /// memory like the rate limits; the nodes of a cluster tell each other what they counted.
    uploaded: std::sync::Mutex<std::collections::HashMap<PrincipalId, (i64, u64)>>,
    metrics: Arc<Metrics>,
    /// Where the other nodes of a cluster are heard (`Hub::peers`).
    hub: Arc<crate::hub::Hub>,
    /// Uploads hold it shared from placing their bytes until their record commits, and
    /// messages and screens that reference a blob from checking it until their write is queued
    /// ([`Blobs::hold`]); deleting blobs holds it alone from the record's deletion until the
    /// bytes are gone. So an upload never loses its file to a deletion running beside it, and
    /// a blob is never deleted between a message's check of it and the message's commit.
    placing: tokio::sync::RwLock<()>,
}

/// Free bytes for unprivileged users on the file system holding `dir`.
#[cfg(unix)]
fn available(dir: &std::path::Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(not(unix))]
fn available(_: &std::path::Path) -> std::io::Result<u64> {
    Ok(u64::MAX)
}

fn sniff(head: &[u8]) -> String {
    if let Some(t) = infer::get(head) {
        return t.mime_type().to_owned();
    }
    // Text if the sample is UTF-8 (allowing a character cut at the end of the sample).
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() == SNIFF,
    };
    if valid && !head.is_empty() && !head.contains(&0) {
        "text/plain; charset=utf-8".into()
    } else {
        "application/octet-stream".into()
    }
}

/// Removes a partial upload however the upload ends, including the client going away mid-upload
/// (the future is dropped); disarmed once the file has its final name.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Blobs {
    pub(crate) fn new(
        store: Store,
        settings: Settings,
        metrics: Arc<Metrics>,
        hub: Arc<crate::hub::Hub>,
    ) -> Self {
        Blobs {
            store,
            dir: settings.dir,
            max_bytes: settings.max_bytes,
            min_free_bytes: settings.min_free_bytes,
            per_day: settings.per_day,
            uploaded: Default::default(),
            metrics,
            hub,
            placing: tokio::sync::RwLock::new(()),
        }
    }

    /// What `who` may still upload today.
    fn allowance(&self, who: &PrincipalId, now: i64) -> u64 {
        let used = self.uploaded.lock().expect("uploads poisoned");
        match used.get(who) {
            Some((day, bytes)) if *day == now / DAY_MS => self.per_day.saturating_sub(*bytes),
            _ => self.per_day,
        }
    }

    fn count(&self, who: &PrincipalId, now: i64, size: u64) {
        let day = now / DAY_MS;
        self.add(who.clone(), day, size);
        if let Some(peers) = self.hub.peers() {
            peers.counted(crate::hub::Counted::Upload {
                who: who.clone(),
                day,
                bytes: size,
            });
        }
    }

    /// Another node of the cluster counted an upload of `who`'s.
    pub(crate) fn uploaded_elsewhere(&self, who: PrincipalId, day: i64, bytes: u64) {
        self.add(who, day, bytes);
    }

    fn add(&self, who: PrincipalId, day: i64, size: u64) {
        let mut used = self.uploaded.lock().expect("uploads poisoned");
        // Yesterday's counts are dropped as they come up, and all of them once the map is big.
        if used.len() > 100_000 {
            used.retain(|_, (d, _)| *d >= day);
        }
        let entry = used.entry(who).or_insert((day, 0));
        if entry.0 < day {
            *entry = (day, 0);
        }
        if entry.0 == day {
            entry.1 += size;
        }
    }

    /// Where a blob's bytes are.
    pub(crate) fn path_of(&self, id: &BlobId) -> PathBuf {
        let hex = id.hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    /// Stores an upload. Nothing is recorded unless the whole body arrived within the size limit.
    pub(crate) async fn upload<S, B, E>(
        &self,
        who: &PrincipalId,
        body: S,
    ) -> Result<BlobRecord, Error>
    where
        S: Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let tmp_dir = self.dir.join("tmp");
        crate::keys::private_dir(&tmp_dir)?;
        if available(&tmp_dir)? < self.min_free_bytes {
            tracing::warn!(dir = %self.dir.display(), "upload refused: the disk is nearly full");
            return Err(Error::LowOnSpace);
        }
        let now = now_ms();
        let allowance = self.allowance(who, now);
        if allowance == 0 {
            return Err(Error::Quota(self.per_day));
        }
        let tmp = tmp_dir.join(callside_core::secret::random_b64(12));
        let mut guard = TempFile(Some(tmp.clone()));
        let limit = self.max_bytes.min(allowance);
        let (id, size, mime) = match self.receive(&tmp, body, limit).await {
            Err(Error::TooLarge(_)) if limit < self.max_bytes => {
                return Err(Error::Quota(self.per_day))
            }
            other => other?,
        };
        self.count(who, now, size);
        let dest = self.path_of(&id);
        let dir = dest.parent().expect("blob paths have a parent").to_owned();
        crate::keys::private_dir(&dir)?;
        let _placing = self.placing.read().await;
        // Bytes someone else stored already are not stored twice, but the uploader must not be
        // able to tell (issue 17): the answer, the counter and the work are the same either way.
        if tokio::fs::try_exists(&dest).await? {
            let _ = tokio::fs::remove_file(&tmp).await;
        } else {
            tokio::fs::rename(&tmp, &dest).await?;
            guard.0 = None;
        }
        // Make the rename itself durable before the blob is recorded.
        if let Ok(d) = tokio::fs::File::open(&dir).await {
            let _ = d.sync_all().await;
        }
        self.metrics.blob_bytes.inc_by(size);
        let record = BlobRecord {
            id,
            size,
            mime,
            created_at: now_ms(),
        };
        self.store
            .apply(vec![Write::Blob(record.clone(), who.clone())])
            .await?;
        Ok(record)
    }

    /// Keeps blobs from being deleted while the caller checks one and queues the write that
    /// references it (a message, a screen): hold the guard until the write is queued.
    pub(crate) async fn hold(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.placing.read().await
    }

    /// Deletes those of `ids` that nobody uploaded, was granted or references any more: their
    /// records, then their bytes. Answers how many files went.
    pub(crate) async fn delete_unused(&self, ids: &[BlobId]) -> Result<u64, Error> {
        self.delete_each(ids, Write::DeleteBlobIfUnused).await
    }

    /// Deletes the blobs stored before `before` that no message, grant, screen or card photo
    /// references (an upload never sent, files of sessions retention removed), at most 1,000
    /// a call: records, then bytes. Answers how many files went.
    pub(crate) async fn collect(&self, before: callside_core::Millis) -> Result<u64, Error> {
        let ids = self.store.unreferenced_blobs(before, 1000).await?;
        let collect = |id| Write::CollectBlob { id, before };
        let gone = self.delete_each(&ids, collect).await?;
        self.metrics.blobs_collected.inc_by(gone);
        Ok(gone)
    }

    /// One commit per 100 blobs, holding [`Blobs::placing`] alone only for that long (the
    /// commit, the existence checks, the unlinks): uploads and file messages wait that long.
    async fn delete_each(
        &self,
        ids: &[BlobId],
        write: impl Fn(BlobId) -> Write,
    ) -> Result<u64, Error> {
        let mut gone = 0;
        for batch in ids.chunks(100) {
            let _alone = self.placing.write().await;
            self.store
                .apply(batch.iter().cloned().map(&write).collect())
                .await?;
            for id in batch {
                if self.store.blob(id.clone()).await?.is_some() {
                    continue;
                }
                match tokio::fs::remove_file(self.path_of(id)).await {
                    Ok(()) => gone += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(gone)
    }

    /// Writes the stream to `tmp`, hashing and sampling it; its id, size and type.
    async fn receive<S, B, E>(
        &self,
        tmp: &std::path::Path,
        mut body: S,
        limit: u64,
    ) -> Result<(BlobId, u64, String), Error>
    where
        S: Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(tmp).await?;
        let mut hasher = Sha256::new();
        let mut head = Vec::with_capacity(SNIFF);
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::UploadFailed(e.to_string()))?;
            let chunk = chunk.as_ref();
            size += chunk.len() as u64;
            if size > limit {
                return Err(Error::TooLarge(limit));
            }
            if head.len() < SNIFF {
                let take = (SNIFF - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            hasher.update(chunk);
            file.write_all(chunk).await?;
        }
        if size == 0 {
            return Err(Error::Empty);
        }
        file.sync_all().await?;
        let id = BlobId::from_digest(&hasher.finalize().into());
        Ok((id, size, sniff(&head)))
    }

    /// The blob `id` if it exists and `who` may read it (an uploader, a participant of a session
    /// that references it, or a principal it was granted to); `None` for both "missing" and "not
    /// yours", so neither can be probed.
    pub(crate) async fn readable(
        &self,
        who: &PrincipalId,
        id: &BlobId,
    ) -> Result<Option<BlobRecord>, StoreError> {
        let Some(rec) = self.store.blob(id.clone()).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .may_read_blob(who.clone(), id.clone())
            .await?
            .then_some(rec))
    }
}
