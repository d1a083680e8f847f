//! `callside phone watch`: print everything arriving on the device's channel, save files, and
//! acknowledge the screens it shows.

use anyhow::Context;
use callside_client::proto::message::{FileBody, Message};
use callside_client::proto::screen::ScreenStatus;
use callside_client::screens::ScreenMessage;
use callside_client::{Channel, Client, Event};

/// The feature a device declares when it shows screens (S1-F20).
const SCREENS: &str = "screens";
use std::path::{Path, PathBuf};

use crate::output::Output;
use crate::render::{self, Names};

pub(super) async fn watch(
    client: &Client,
    save_dir: Option<PathBuf>,
    exit_after: Option<u64>,
    until: Option<String>,
    out: &Output,
) -> anyhow::Result<()> {
    if let Some(dir) = &save_dir {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    out.progress(&format!("connecting to {} …", client.base_url()));
    let mut channel = Channel::connect(client).await?;
    let me = client.me().await?.id;
    declare_screens(client).await?;
    let mut names = Names::default();
    let mut seen = 0u64;
    loop {
        let event = tokio::select! {
            event = channel.next_event() => event,
            _ = tokio::signal::ctrl_c() => {
                out.progress("interrupted");
                break;
            }
        };
        let Some(event) = event else {
            out.progress("the channel closed");
            break;
        };
        if out.is_json() {
            out.json_line(&event);
        } else {
            out.text(&render::event_line(&event, &mut names));
        }
        let delivered = match &event {
            Event::Message(message) => {
                if let Some(dir) = &save_dir {
                    save_file(client, message, dir, out).await;
                }
                Some((&message.session, message.seq, message.kind.as_str()))
            }
            Event::Screen(screen) => {
                // Shown above: say so to the system that sent it (S1-F11's acknowledgement).
                if let ScreenMessage::Screen(shown) = &screen.message {
                    if screen.sender != me {
                        let sender = channel.sender();
                        sender
                            .acknowledge_screen(
                                &screen.session,
                                &shown.id,
                                ScreenStatus::Shown,
                                None,
                            )
                            .await?;
                    }
                }
                Some((&screen.session, screen.seq, "screen"))
            }
            _ => None,
        };
        if let Some((session, seq, kind)) = delivered {
            channel.ack(session, seq).await?;
            seen += 1;
            if exit_after.is_some_and(|n| seen >= n) || until.as_deref() == Some(kind) {
                break;
            }
        }
    }
    channel.close().await;
    Ok(())
}

/// Adds the `screens` feature to what this device declares (keeping the rest), so automated
/// systems send it their screens (S1-F20): `watch` draws them.
async fn declare_screens(client: &Client) -> anyhow::Result<()> {
    let mut caps = client.capabilities().await?;
    if !caps.features.iter().any(|f| f == SCREENS) {
        caps.features.push(SCREENS.to_owned());
        client.declare_capabilities(&caps).await?;
    }
    Ok(())
}

/// Saves a `file` message's blob into `dir` (problems are reported, not fatal).
async fn save_file(client: &Client, message: &Message, dir: &Path, out: &Output) {
    if message.kind != "file" {
        return;
    }
    let Ok(file) = serde_json::from_value::<FileBody>(message.body.clone()) else {
        out.progress(&format!(
            "#{}: a file message without a readable body",
            message.seq
        ));
        return;
    };
    let path = save_path(dir, &file.name, message.seq);
    match download(client, &file.blob, &path, out).await {
        Ok(size) => {
            if out.is_json() {
                out.json_line(&serde_json::json!({
                    "event": "saved", "session": message.session, "seq": message.seq,
                    "blob": file.blob, "path": path, "size": size,
                }));
            } else {
                out.text(&format!(
                    "  saved {} to {}",
                    render::human_bytes(size),
                    path.display()
                ));
            }
        }
        Err(e) => out.progress(&format!("  could not save {}: {e:#}", file.name)),
    }
}

pub(super) async fn download(
    client: &Client,
    blob: &str,
    path: &Path,
    out: &Output,
) -> anyhow::Result<u64> {
    let bar = out.bytes_bar(None, format!("downloading {blob}"));
    let written = client
        .download_to_with_progress(blob, path, |got, total| {
            if let Some(total) = total {
                if bar.length() != Some(total) {
                    bar.set_length(total);
                }
            }
            bar.set_position(got);
        })
        .await
        .with_context(|| format!("downloading {blob} to {}", path.display()))?;
    bar.finish_and_clear();
    Ok(written)
}

/// A path under `dir` for a received file: only its last component, never overwriting.
pub(crate) fn save_path(dir: &Path, name: &str, seq: u64) -> PathBuf {
    let base = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| format!("file-{seq}"));
    let candidate = dir.join(&base);
    if !candidate.exists() {
        return candidate;
    }
    dir.join(format!("{seq}-{base}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_files_stay_in_the_directory() {
        let dir = Path::new("/tmp/callside-save-test-nonexistent");
        assert_eq!(save_path(dir, "../../etc/passwd", 1), dir.join("passwd"));
        assert_eq!(save_path(dir, "..", 4), dir.join("file-4"));
        assert_eq!(save_path(dir, "photo.png", 2), dir.join("photo.png"));
    }
}
