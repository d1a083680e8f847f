//! The server's own secrets in files, each created on first start: the key of its SMS proof
//! signatures, and the ES256 key of its caller-data PASSporTs and purchase tokens; and how every
//! secret file is written (owner-only, synced).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::{Digest, Sha256};
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

/// Creates `dir` (and its parents) for the server's data, readable by its owner only (0700);
/// an existing directory is made owner-only too. Messages, files and keys live below it.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::info!(dir = %dir.display(), "made the data directory owner-only (0700)");
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    #[cfg(not(unix))]
    builder.create(dir)?;
    Ok(())
}

/// Makes an existing file owner-only (0600), if it exists.
pub(crate) fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
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

/// The server's ES256 key (`rcd.pem`, created on first start): it signs caller-data PASSporTs
/// (RFC 9795, typed `passport`) and purchase tokens (typed `callside-purchase+jwt`), and is
/// published as a JWK set at `/.well-known/jwks.json`. Claims arrive as JSON text: what they say
/// is the callers' business; the signer only adds the header and the signature.
pub(crate) struct Signer {
    key: SigningKey,
    kid: String,
    jwks: String,
}

impl Signer {
    /// The key from `file` (PKCS#8 PEM), created on first start.
    pub(crate) fn load_or_create(file: &Path) -> Result<Signer, crate::ServerError> {
        let io =
            |e: String| crate::ServerError::Io(format!("caller-data key {}: {e}", file.display()));
        let key = if file.exists() {
            let pem = std::fs::read_to_string(file).map_err(|e| io(e.to_string()))?;
            // The file ends with the newline `write_private` adds after the PEM's own.
            SigningKey::from_pkcs8_pem(&format!("{}\n", pem.trim()))
                .map_err(|e| io(e.to_string()))?
        } else {
            let key = loop {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).expect("the operating system's random source failed");
                if let Ok(k) = SigningKey::from_bytes(&bytes.into()) {
                    break k;
                }
            };
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| io(e.to_string()))?;
            write_private(file, &pem).map_err(|e| io(e.to_string()))?;
            key
        };
        let point = VerifyingKey::from(&key).to_encoded_point(false);
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(point.x().expect("an uncompressed point")),
            URL_SAFE_NO_PAD.encode(point.y().expect("an uncompressed point")),
        );
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(point.as_bytes())[..12]);
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig",
        }]})
        .to_string();
        Ok(Signer { key, kid, jwks })
    }

    pub(crate) fn jwks(&self) -> &str {
        &self.jwks
    }

    /// A compact JWS (ES256) of `claims` (JSON text) typed `typ`; a PASSporT's header also says
    /// `ppt: rcd`.
    pub(crate) fn sign(&self, typ: &str, claims: &str) -> String {
        let header = if typ == "passport" {
            serde_json::json!({"alg": "ES256", "typ": "passport", "ppt": "rcd", "kid": self.kid})
        } else {
            serde_json::json!({"alg": "ES256", "typ": typ, "kid": self.kid})
        };
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let sig: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    /// Checks a token this server signed with type `typ` and an `exp` after `now`; its claims.
    pub(crate) fn verify(
        &self,
        token: &str,
        typ: &str,
        now: i64,
    ) -> Result<serde_json::Value, &'static str> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("is not a compact JWS");
        };
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "has a malformed signature")?;
        let sig = Signature::from_slice(&sig).map_err(|_| "has a malformed signature")?;
        VerifyingKey::from(&self.key)
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| "is not signed by this server")?;
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or("has a malformed header")?;
        if header.get("typ").and_then(|t| t.as_str()) != Some(typ) {
            return Err(if typ == "passport" {
                "is not a PASSporT"
            } else {
                "is not of the expected type"
            });
        }
        let claims: serde_json::Value = URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|c| serde_json::from_slice(&c).ok())
            .filter(serde_json::Value::is_object)
            .ok_or("has malformed claims")?;
        match claims.get("exp").and_then(serde_json::Value::as_i64) {
            Some(exp) if exp > now / 1000 => Ok(claims),
            Some(_) => Err("has expired"),
            None => Err("has malformed claims"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_kept_across_restarts_and_signatures_check() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rcd.pem");
        let first = Signer::load_or_create(&file).unwrap();
        let again = Signer::load_or_create(&file).unwrap();
        assert_eq!(first.jwks(), again.jwks(), "the same key after a restart");
        let claims = serde_json::json!({
            "iat": 1, "exp": 4_000_000_000i64,
            "orig": {"tn": "+442079460001"}, "dest": {"tn": ["+442079460002"]},
            "rcd": {"nam": "ACME"},
        });
        let token = first.sign("passport", &claims.to_string());
        assert_eq!(again.verify(&token, "passport", 0).unwrap(), claims);
        // The same claims, signed by the same key but typed as a purchase token, are no
        // PASSporT.
        let typed = first.sign("callside-purchase+jwt", &claims.to_string());
        assert_eq!(
            again.verify(&typed, "passport", 0),
            Err("is not a PASSporT")
        );
        assert!(again.verify(&typed, "callside-purchase+jwt", 0).is_ok());
        assert_eq!(
            again.verify(&token, "passport", 4_000_000_000_000),
            Err("has expired")
        );
        let other = Signer::load_or_create(&dir.path().join("other.pem")).unwrap();
        assert_eq!(
            other.verify(&token, "passport", 0),
            Err("is not signed by this server")
        );
        assert!(first.verify("a.b", "passport", 0).is_err());
    }
}
