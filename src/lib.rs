//! Charter: accounts, organizations and subscription commerce behind one error contract.
//! See docs/ARCHITECTURE.md for the map.

pub mod api;
pub mod app;
pub mod audit;
pub mod cache;
pub mod clock;
pub mod commerce;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod exports;
pub mod files;
pub mod http;
pub mod identity;
pub mod jobs;
pub mod list;
pub mod logging;
pub mod mail;
pub mod names;
pub mod net;
pub mod orgs;
pub mod personal;
pub mod query;
pub mod server_key;
pub mod state;
pub mod system;
pub mod time;

#[cfg(test)]
mod layering_tests;
