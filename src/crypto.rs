//! Random identifiers, secrets and their hashes.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BASE32: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Lower-case Crockford base32 of `bytes` (no padding).
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A new opaque id: the type prefix and 128 random bits (e.g. `org_…`).
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", base32(&bytes))
}

/// A new bearer secret: the prefix and 256 random bits.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", base32(&bytes))
}

/// SHA-256 hex of a secret; only this is stored. Secrets are high-entropy, so no salt is needed.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_enough_randomness() {
        let a = new_id("org");
        let b = new_id("org");
        assert!(a.starts_with("org_"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 26);
        assert!(new_token("chs").len() > 50);
    }

    #[test]
    fn hashes_compare() {
        assert!(constant_time_eq(&hash_secret("x"), &hash_secret("x")));
        assert!(!constant_time_eq(&hash_secret("x"), &hash_secret("y")));
    }
}
