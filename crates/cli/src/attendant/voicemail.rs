//! A voicemail's messages (S1-F15–F18): each is kept in `<store>/<mailbox>/<message>/` as
//! `message.json` — who called whom, when the recording started, and the files the caller sent
//! with it, each with the time the caller sent it, the time it arrived, and its offset into the
//! recording (S1-F16) — beside the files' bytes. When the mailbox's owner listens, the files go
//! out before the playback with the offset at which each belongs (S1-F17).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A file that came with a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeptFile {
    pub(crate) name: String,
    pub(crate) mime: String,
    /// Where its bytes are, relative to the message's directory.
    pub(crate) path: String,
    /// When the caller sent it (the server's time of the message, ms).
    pub(crate) sent_at: i64,
    /// When the voicemail received it (ms).
    pub(crate) received_at: i64,
    /// How far into the recording it was sent (ms; 0 if before the recording started).
    pub(crate) offset_ms: i64,
}

/// One message left in a mailbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Message {
    pub(crate) id: String,
    pub(crate) caller: String,
    pub(crate) mailbox: String,
    /// The session it was left on.
    pub(crate) session: String,
    /// When the recording started (the caller pressed record, or the call reached the voicemail).
    pub(crate) recording_started_at: i64,
    #[serde(default)]
    pub(crate) files: Vec<KeptFile>,
    /// The owner has listened to it.
    #[serde(default)]
    pub(crate) heard: bool,
}

/// The messages on disk.
pub(crate) struct Store {
    dir: PathBuf,
}

/// A name safe as one path component.
fn safe(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    if trimmed.is_empty() {
        "file".into()
    } else {
        trimmed.chars().take(100).collect()
    }
}

impl Store {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Store { dir }
    }

    fn message_dir(&self, m: &Message) -> PathBuf {
        self.dir.join(safe(&m.mailbox)).join(safe(&m.id))
    }

    /// Writes `m` (creating its directory).
    pub(crate) fn save(&self, m: &Message) -> anyhow::Result<()> {
        let dir = self.message_dir(m);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dir.join("message.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(m)?)?;
        std::fs::rename(&tmp, dir.join("message.json"))?;
        Ok(())
    }

    /// Keeps `bytes` as the `n`th file of `m` and returns its path relative to the message.
    pub(crate) fn keep_file(
        &self,
        m: &Message,
        n: usize,
        name: &str,
        bytes: &[u8],
    ) -> anyhow::Result<String> {
        let dir = self.message_dir(m);
        std::fs::create_dir_all(&dir)?;
        let rel = format!("{n}-{}", safe(name));
        std::fs::write(dir.join(&rel), bytes)?;
        Ok(rel)
    }

    pub(crate) fn file_bytes(&self, m: &Message, f: &KeptFile) -> anyhow::Result<Vec<u8>> {
        let path = self.message_dir(m).join(&f.path);
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    }

    /// The messages in `mailbox`, oldest first.
    pub(crate) fn messages(&self, mailbox: &str) -> anyhow::Result<Vec<Message>> {
        let dir = self.dir.join(safe(mailbox));
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        for entry in entries {
            let path = entry?.path().join("message.json");
            if let Ok(bytes) = std::fs::read(&path) {
                let m: Message = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not a message", path.display()))?;
                out.push(m);
            }
        }
        out.sort_by(|a, b| (a.recording_started_at, &a.id).cmp(&(b.recording_started_at, &b.id)));
        Ok(out)
    }

    /// The oldest message not heard yet, else the newest.
    pub(crate) fn next(&self, mailbox: &str) -> anyhow::Result<Option<Message>> {
        let all = self.messages(mailbox)?;
        Ok(all.iter().find(|m| !m.heard).or(all.last()).cloned())
    }

    pub(crate) fn delete(&self, m: &Message) -> anyhow::Result<()> {
        let dir = self.message_dir(m);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot delete {}", dir.display()))
            }
            _ => Ok(()),
        }
    }
}

/// The directory a store lives in by default.
pub(crate) fn default_dir() -> PathBuf {
    Path::new("attendant-messages").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_files_and_come_back_oldest_unheard_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_owned());
        let mut first = Message {
            id: "m1".into(),
            caller: "+442079460001".into(),
            mailbox: "+442079460002".into(),
            session: "sk_1".into(),
            recording_started_at: 1_000,
            files: vec![],
            heard: false,
        };
        let path = store
            .keep_file(&first, 0, "../../etc/passwd", b"photo")
            .unwrap();
        assert_eq!(path, "0-_.._etc_passwd", "names stay inside the message");
        first.files.push(KeptFile {
            name: "photo.jpg".into(),
            mime: "image/jpeg".into(),
            path,
            sent_at: 4_000,
            received_at: 4_010,
            offset_ms: 3_000,
        });
        store.save(&first).unwrap();
        let second = Message {
            id: "m2".into(),
            recording_started_at: 2_000,
            ..first.clone()
        };
        store.save(&second).unwrap();
        assert_eq!(store.next("+442079460002").unwrap().unwrap().id, "m1");
        let mut heard = store.messages("+442079460002").unwrap().remove(0);
        assert_eq!(store.file_bytes(&heard, &heard.files[0]).unwrap(), b"photo");
        heard.heard = true;
        store.save(&heard).unwrap();
        assert_eq!(store.next("+442079460002").unwrap().unwrap().id, "m2");
        store.delete(&second).unwrap();
        assert_eq!(
            store.next("+442079460002").unwrap().unwrap().id,
            "m1",
            "all heard: the newest"
        );
        assert!(store.messages("+449999").unwrap().is_empty());
    }
}
