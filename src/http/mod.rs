//! The HTTP layer: the accept loop, the request pipeline, framework-level errors,
//! idempotency, metrics, the API reference and its pages (`docs`). Domains own their handlers.

pub mod access_log;
pub mod docs;
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
