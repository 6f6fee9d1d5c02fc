//! The HTTP layer: the accept loop, the request pipeline, framework-level errors,
//! idempotency, metrics and the API reference. Domains own their handlers.

pub mod access_log;
pub mod framework;
pub mod idempotency;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod reference;
pub mod request_id;
pub(crate) mod serve;
pub mod state;
pub(crate) mod wire;
