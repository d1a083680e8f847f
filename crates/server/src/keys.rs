//! The server's own secrets in files: the key of its SMS proof signatures, created on first start,
//! and how every secret file is written (owner-only, synced).

use std::path::Path;

/// The server's signing key: 32 random bytes, hex, in `file` (mode 0600), created on first
/// start. Losing it only invalidates proofs in flight.
pub(crate) fn ensure_server_key(file: &Path) -> Result<[u8; 32], crate::ServerError> {
    let io = |e: std::io::Error| {
        crate::ServerError::Io(format!("server key file {}: {e}", file.display()))
    };
    if !file.exists() {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system's random source failed");
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        write_private(file, &hex).map_err(io)?;
        tracing::info!(file = %file.display(), "created the server key");
        return Ok(key);
    }
    let text = std::fs::read_to_string(file).map_err(io)?;
    let text = text.trim();
    let bad = || {
        crate::ServerError::Io(format!(
            "server key file {} must hold 64 hex digits; delete it and a new key is made at start",
            file.display()
        ))
    };
    if text.len() != 64 {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

pub(crate) fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}
