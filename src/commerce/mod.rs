//! Commerce (7): the catalogue (modules, offers, coupons), server-side price calculation,
//! checkout, invoices and payments through a provider interface, subscriptions with renewals,
//! the agreements subscriptions wait for, and refunds. Money rules are in `money` and
//! docs/money.md; the SQL is in `store`.

pub mod agreements;
pub mod checkout;
pub mod closing;
pub mod coupons;
pub mod interval;
pub mod invoices;
pub mod modules;
pub mod money;
pub mod offers;
pub mod payments;
pub mod pricing;
pub mod refunds;
pub mod renewals;
pub(crate) mod store;
pub mod subscriptions;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::Infra;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Infra: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(modules::create, modules::list))
        .routes(routes!(modules::get, modules::update))
        .routes(routes!(modules::archive))
        .routes(routes!(offers::create, offers::list))
        .routes(routes!(offers::end))
        .routes(routes!(offers::get_active))
        .routes(routes!(coupons::create, coupons::list))
        .routes(routes!(coupons::get, coupons::delete))
        .routes(routes!(pricing::create))
        .routes(routes!(pricing::get))
        .routes(routes!(checkout::create))
        .routes(routes!(invoices::list))
        .routes(routes!(invoices::get))
        .routes(routes!(payments::create))
        .routes(routes!(subscriptions::list))
        .routes(routes!(subscriptions::get))
        .routes(routes!(subscriptions::cancel_route))
        .routes(routes!(refunds::create))
        .routes(routes!(agreements::list))
        .routes(routes!(agreements::sign))
}
