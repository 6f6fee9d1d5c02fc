//! Black-box API tests: one binary, every test on a fresh database copied from a migrated
//! template (SQLite, or PostgreSQL when `CHARTER_TEST_DATABASE_URL` is set). The harness and
//! its fixtures are in `support/`; `contract.rs` holds the insta snapshots in `snapshots/`.

mod soft_passkey;
mod support;
mod trace_log;

mod access_log;
mod admin;
mod backoffice;
mod catalogue;
mod commerce;
mod contract;
mod docs;
mod erasure;
mod exports;
mod foundation;
mod hardening;
mod idempotency;
mod mail;
mod org_deletion;
mod orgs;
mod passkeys;
mod query;
mod refunds;
mod renewals;
mod security;
mod sessions;
mod sign_in;
mod startup_errors;
mod user_admin;
