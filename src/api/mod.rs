//! What every handler shares, whatever its domain: extractors whose rejections are catalogue
//! errors, and the marker of an answer that holds a secret.

pub mod extract;

/// Put in a response's extensions by handlers whose answer holds a secret: idempotency does
/// not store it (section 2), so a replay can never show the secret again.
#[derive(Clone, Copy, Debug)]
pub struct SecretResponse;

/// The description of the `{orgId}` path parameter, shared by every organization route.
pub const ORG_ID: &str = "The organization's id (`org_…`).";
