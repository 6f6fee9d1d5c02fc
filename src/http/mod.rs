//! The HTTP layer: the accept loop, extractors, the request pipeline, framework-level errors,
//! idempotency, metrics and the API reference. Domains own their handlers.

pub mod extract;
pub mod framework;
pub mod idempotency;
pub mod list;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod reference;
pub mod request_id;
pub(crate) mod serve;
pub(crate) mod wire;
