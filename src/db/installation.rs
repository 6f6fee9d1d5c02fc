//! The installation's own rows (`installation_secrets`): the server key's fingerprint, bound
//! on first start.

use super::Db;
use super::unit::{Unit, UnitError};

const FINGERPRINT: &str = "server_key_fingerprint";

impl Db {
    /// Records the server key's fingerprint on first start; afterwards refuses another key, so
    /// processes sharing this database cannot disagree about codes and sealed mail.
    pub async fn bind_server_key(
        &self,
        fingerprint: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let ours = fingerprint.to_string();
        let stored = self
            .write(move |w| Ok(bind_fingerprint(w, &ours)?))
            .await
            .map_err(|e| e.cause().unwrap_or(&e.detail).to_string())?;
        if !crate::crypto::constant_time_eq(&stored, fingerprint) {
            return Err(Box::new(crate::server_key::KeyError::Mismatch {
                stored,
                ours: fingerprint.to_string(),
            }));
        }
        Ok(())
    }
}

/// Stores `fingerprint` unless one is stored (the first process to start wins, also when
/// several start at once); the fingerprint stored.
pub(super) fn bind_fingerprint(w: &mut Unit<'_>, fingerprint: &str) -> Result<String, UnitError> {
    w.execute(
        "INSERT INTO installation_secrets (name, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        crate::params![FINGERPRINT, fingerprint],
    )?;
    w.query_one(
        "SELECT secret FROM installation_secrets WHERE name = $1",
        crate::params![FINGERPRINT],
    )?
    .text_at(0)
}
