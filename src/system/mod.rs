//! Routes that describe and operate the server itself: health, metrics, the OpenAPI document,
//! the error catalogue (the pages for people are in `http::docs`).

mod errors;
mod ops;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::state::AppState;

pub use errors::ErrorEntry;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi_json))
        .routes(routes!(errors::list_errors))
        .routes(routes!(errors::get_error))
}
