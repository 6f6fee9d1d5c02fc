//! The server key (section 2): 32 random bytes kept outside the database, so that a copy of
//! the database alone reveals no code and no queued mail. It keys the HMAC of mailed codes
//! (a 6-digit code under a plain hash falls to a brute force in a second) and of idempotent
//! request bodies (which may hold a card number), and seals queued mail (AES-256-GCM).
//!
//! Each use gets a key of its own, derived as HMAC-SHA-256(server key, label). The database
//! keeps a fingerprint of the key, so a process started with another key refuses to start
//! instead of failing every code and replay.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("secret_key must be 64 hexadecimal digits (32 bytes)")]
    Malformed,
    #[error("server key file {path}: {reason}")]
    File { path: String, reason: String },
    #[error(
        "this database was set up with another server key (fingerprint {stored}, this process has {ours}); start every process with the same `secret_key` or `secret_key_file`"
    )]
    Mismatch { stored: String, ours: String },
}

pub struct ServerKey {
    codes: [u8; 32],
    idempotency: [u8; 32],
    sealing: LessSafeKey,
    fingerprint: String,
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerKey({})", self.fingerprint)
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn parse_hex(text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Malformed)?;
    bytes.try_into().map_err(|_| KeyError::Malformed)
}

impl ServerKey {
    pub fn from_bytes(secret: &[u8; 32]) -> ServerKey {
        let sealing = hmac(secret, &[b"charter mail sealing v1"]);
        ServerKey {
            codes: hmac(secret, &[b"charter codes v1"]),
            idempotency: hmac(secret, &[b"charter idempotency v1"]),
            sealing: LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &sealing).expect("32 bytes is an AES-256 key"),
            ),
            fingerprint: hex::encode(&hmac(secret, &[b"charter fingerprint v1"])[..16]),
        }
    }

    /// The key of `secret_key` (hex), or the one in `secret_key_file`, made there (mode 0600)
    /// when the file does not exist yet.
    pub fn load(secret_key: &str, file: &str) -> Result<ServerKey, KeyError> {
        if !secret_key.trim().is_empty() {
            return Ok(ServerKey::from_bytes(&parse_hex(secret_key)?));
        }
        let path = Path::new(file);
        let error = |reason: String| KeyError::File {
            path: file.to_string(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                // A key mounted read-only (a container secret) cannot be changed: say so, and
                // go on with it.
                if let Err(e) = crate::files::restrict_to_owner(path) {
                    tracing::warn!(path = file, error = %e, "the server key file is readable by others and cannot be restricted");
                }
                let bytes = parse_hex(&text)
                    .map_err(|_| error("must hold 64 hexadecimal digits (32 bytes)".into()))?;
                Ok(ServerKey::from_bytes(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                rand::rng().fill_bytes(&mut secret);
                let text = format!("{}\n", hex::encode(secret));
                match crate::files::publish_owner_only(path, text.as_bytes()) {
                    Ok(true) => Ok(ServerKey::from_bytes(&secret)),
                    // Another process made it first: use theirs.
                    Ok(false) => ServerKey::load("", file),
                    Err(e) => Err(error(e.to_string())),
                }
            }
            Err(e) => Err(error(e.to_string())),
        }
    }

    /// Shown in errors and kept in the database; reveals nothing of the key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The stored form of a mailed code, bound to its challenge.
    pub fn hash_code(&self, challenge_id: &str, code: &str) -> String {
        hex::encode(hmac(
            &self.codes,
            &[challenge_id.as_bytes(), b"\0", code.as_bytes()],
        ))
    }

    /// Keys the hashes of idempotent request bodies.
    pub fn idempotency_key(&self) -> &[u8; 32] {
        &self.idempotency
    }

    /// Encrypts `plain`, bound to `context` (e.g. the row id), as base64 of nonce ‖ ciphertext.
    pub fn seal(&self, context: &str, plain: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut buffer = plain.to_vec();
        self.sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .expect("sealing fits in memory");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        B64.encode(out)
    }

    /// The plaintext of `seal`, or `None` when it was sealed under another key or context, or
    /// changed.
    pub fn open(&self, context: &str, sealed: &str) -> Option<Vec<u8>> {
        let bytes = B64.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = rest.to_vec();
        let plain = self
            .sealing
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_hash_under_the_key() {
        let a = ServerKey::from_bytes(&[1; 32]);
        let b = ServerKey::from_bytes(&[2; 32]);
        assert_eq!(
            a.hash_code("chl_1", "123456"),
            a.hash_code("chl_1", "123456")
        );
        assert_ne!(
            a.hash_code("chl_1", "123456"),
            b.hash_code("chl_1", "123456")
        );
        assert_ne!(
            a.hash_code("chl_1", "123456"),
            a.hash_code("chl_2", "123456")
        );
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn sealed_text_opens_only_with_its_key_and_context() {
        let a = ServerKey::from_bytes(&[1; 32]);
        let sealed = a.seal("mail_1", b"your code is 123456");
        assert!(!sealed.contains("123456"));
        assert_eq!(a.open("mail_1", &sealed).unwrap(), b"your code is 123456");
        assert!(a.open("mail_2", &sealed).is_none());
        assert!(
            ServerKey::from_bytes(&[2; 32])
                .open("mail_1", &sealed)
                .is_none()
        );
        assert_ne!(sealed, a.seal("mail_1", b"your code is 123456"));
    }

    #[test]
    fn a_key_file_is_made_once_for_the_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secret.key");
        let file = path.to_str().unwrap();
        let first = ServerKey::load("", file).unwrap();
        let again = ServerKey::load("", file).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let given = ServerKey::load(&"ab".repeat(32), file).unwrap();
        assert_ne!(given.fingerprint(), first.fingerprint());
        assert!(matches!(
            ServerKey::load("abc", file),
            Err(KeyError::Malformed)
        ));
    }
}
