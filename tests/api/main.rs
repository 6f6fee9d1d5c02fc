//! Black-box API tests: one binary, every test on a fresh database (SQLite, or PostgreSQL when
//! `CHARTER_TEST_DATABASE_URL` is set).

mod soft_passkey;
mod support;
mod trace_log;

mod admin;
mod commerce;
mod exports;
mod foundation;
mod hardening;
mod idempotency;
mod mail;
pub(crate) mod orgs;
mod passkeys;
mod query;
mod renewals;
mod security;
mod sessions;
mod sign_in;
