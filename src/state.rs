//! The infrastructure every domain shares: configuration, storage, the clock, mail, the server
//! key and the read caches' epoch. Each domain's state holds it (and derefs to it) beside what
//! is only its own; the router's state (`http::state::AppState`) gives each domain its state
//! through `FromRef`.

use std::sync::Arc;

use crate::cache::Epoch;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::mail::Mailer;
use crate::server_key::ServerKey;

#[derive(Clone)]
pub struct Infra {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    pub mailer: Mailer,
    /// Bumped after every write request and job run; invalidates the read caches.
    pub epoch: Arc<Epoch>,
    /// Keys code and idempotency hashes and seals queued mail; kept outside the database.
    pub key: Arc<ServerKey>,
}
