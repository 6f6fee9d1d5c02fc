//! Access-token scopes (section 9).

use serde::{Deserialize, Serialize};

macro_rules! scopes {
    ($( $variant:ident = $text:literal ),* $(,)?) => {
        /// What an access token may do. `orgs:read` reads organizations, members, invitations
        /// and agreements; `orgs:write` changes them and accepts or declines invitations;
        /// `catalog:read` / `catalog:write` the modules, offers and coupons; `billing:read`
        /// invoices and subscriptions; `billing:write` price calculations, checkouts, payments,
        /// cancellations and refund requests; `exports:read` CSV exports; `users:read` /
        /// `users:write` user administration; `admin` the audit log and terms. Sessions hold
        /// every scope.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum Scope { $( #[serde(rename = $text)] #[schema(rename = $text)] $variant, )* }

        impl Scope {
            pub const ALL: &'static [Scope] = &[ $( Scope::$variant, )* ];

            pub const fn as_str(self) -> &'static str {
                match self { $( Scope::$variant => $text, )* }
            }

            pub fn parse(text: &str) -> Option<Scope> {
                match text { $( $text => Some(Scope::$variant), )* _ => None }
            }
        }
    };
}

scopes! {
    OrgsRead = "orgs:read",
    OrgsWrite = "orgs:write",
    CatalogRead = "catalog:read",
    CatalogWrite = "catalog:write",
    BillingRead = "billing:read",
    BillingWrite = "billing:write",
    ExportsRead = "exports:read",
    UsersRead = "users:read",
    UsersWrite = "users:write",
    Admin = "admin",
}

/// Scopes stored as one space-separated text column.
pub fn encode(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn decode(text: &str) -> Vec<Scope> {
    text.split_whitespace().filter_map(Scope::parse).collect()
}
