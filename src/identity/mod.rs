//! Identity: users, their credentials (sessions and access tokens), and who is calling.

pub mod auth;
pub mod scope;
pub mod users;

pub use auth::{Caller, Credential};
pub use scope::Scope;
