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
    #[error("blob store: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) struct Blobs {
    store: Store,
    dir: PathBuf,
    max_bytes: u64,
    metrics: Arc<Metrics>,
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
    pub(crate) fn new(store: Store, dir: PathBuf, max_bytes: u64, metrics: Arc<Metrics>) -> Self {
        Blobs {
            store,
            dir,
            max_bytes,
            metrics,
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
        let tmp = tmp_dir.join(callside_core::secret::random_b64(12));
        let mut guard = TempFile(Some(tmp.clone()));
        let (id, size, mime) = self.receive(&tmp, body).await?;
        let dest = self.path_of(&id);
        let dir = dest.parent().expect("blob paths have a parent").to_owned();
        crate::keys::private_dir(&dir)?;
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
        self.metrics
            .blob_bytes
            .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
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

    /// Writes the stream to `tmp`, hashing and sampling it; its id, size and type.
    async fn receive<S, B, E>(
        &self,
        tmp: &std::path::Path,
        mut body: S,
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
            if size > self.max_bytes {
                return Err(Error::TooLarge(self.max_bytes));
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
