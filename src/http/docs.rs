//! `/docs`, the API reference people read, and `/docs/errors`, the error catalogue as a page.
//!
//! The reference is Scalar's standalone browser bundle (assets/vendor/scalar, with its licence,
//! version and checksums; `scripts/update-docs-renderer` replaces it), embedded in the binary
//! and reading `/openapi.json`. The catalogue page is server-rendered from templates/docs/ with
//! askama (compile-time templates, HTML auto-escaped). Nothing on these pages loads from another
//! host: each page's Content-Security-Policy allows this server alone, and the browser check
//! (scripts/browser-check) records every request a real browser makes.

mod assets;

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::extract::ApiPath;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::state::AppState;

use assets::Kind;

const TITLE: &str = "Charter";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reference))
        .routes(routes!(error_catalogue))
        .routes(routes!(asset))
}

/// `/docs`: scripts, the document and try-it requests from this server only. Scalar sets
/// styles inline (its stylesheet and `style` attributes, created at run time, most without the
/// `csp-nonce` it offers), so inline styles are allowed; inline scripts and `eval` are not (its
/// validator probes `Function("")` once and falls back when refused). Images may be `data:`
/// URLs (icons in the bundle's CSS).
const REFERENCE_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/docs/errors`: one stylesheet from this server and the empty `data:` icon, nothing else.
const CATALOGUE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Template)]
#[template(path = "docs/index.html")]
struct ReferencePage<'a> {
    title: &'a str,
    openapi_url: &'a str,
    errors_url: &'a str,
    renderer_url: &'a str,
    start_url: &'a str,
}

#[derive(Template)]
#[template(path = "docs/errors.html")]
struct CataloguePage<'a> {
    title: &'a str,
    stylesheet_url: &'a str,
    docs_url: &'a str,
    list_url: &'a str,
    entries: Vec<Entry<'a>>,
}

struct Entry<'a> {
    code: u32,
    status: u16,
    reason: &'a str,
    name: &'a str,
    description: &'a str,
}

impl From<ErrorCode> for Entry<'static> {
    fn from(c: ErrorCode) -> Self {
        Entry {
            code: c.code(),
            status: c.status(),
            reason: StatusCode::from_u16(c.status())
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or_default(),
            name: c.name(),
            description: c.description(),
        }
    }
}

/// An HTML page with its policy; never stored by shared caches, revalidated by browsers (its
/// asset names change with each build).
fn page(html: String, policy: &str) -> ApiResult<Response> {
    let policy = HeaderValue::from_str(policy).map_err(ApiError::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, policy),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        html,
    )
        .into_response())
}

/// The API reference for people.
///
/// Every operation grouped by tag, with search, request and response examples, schema fields
/// and copyable requests, rendered in the browser from `/openapi.json`.
#[utoipa::path(get, path = "/docs", tag = "operations", operation_id = "getDocs",
    responses((status = 200, description = "The reference page; it loads its script from `/docs/assets/` and the document from `/openapi.json`", content_type = "text/html")))]
pub async fn reference() -> ApiResult<Response> {
    let html = ReferencePage {
        title: TITLE,
        openapi_url: "/openapi.json",
        errors_url: "/docs/errors",
        renderer_url: &assets::url(Kind::Renderer),
        start_url: &assets::url(Kind::Start),
    }
    .render()
    .map_err(ApiError::internal)?;
    page(html, REFERENCE_POLICY)
}

/// The error catalogue for people.
///
/// Every code with its HTTP status, name and description; each row is the anchor `#<code>`,
/// which the reference links from every operation's errors.
#[utoipa::path(get, path = "/docs/errors", tag = "operations", operation_id = "getErrorCataloguePage",
    responses((status = 200, description = "The catalogue as an HTML page, one row per code", content_type = "text/html")))]
pub async fn error_catalogue() -> ApiResult<Response> {
    page(
        render_catalogue(ErrorCode::ALL.iter().map(|&c| c.into()).collect())?,
        CATALOGUE_POLICY,
    )
}

fn render_catalogue(entries: Vec<Entry<'_>>) -> ApiResult<String> {
    CataloguePage {
        title: TITLE,
        stylesheet_url: &assets::url(Kind::Stylesheet),
        docs_url: "/docs",
        list_url: "/v1/errors?limit=100",
        entries,
    }
    .render()
    .map_err(ApiError::internal)
}

/// A file of the `/docs` pages.
///
/// Its name holds a hash of its content, so it may be cached for a year; gzipped when the
/// client accepts it.
#[utoipa::path(get, path = "/docs/assets/{file}", tag = "operations", operation_id = "getDocsAsset",
    params(("file" = String, Path, description = "The file's name as the pages link it: a stem, a hash of the content and an extension, e.g. `docs.0123456789abcdef.css`")),
    responses((status = 200, description = "The file (JavaScript or CSS), cacheable for a year", content(
        (String = "text/javascript"),
        (String = "text/css"),
    ))))]
pub async fn asset(ApiPath(file): ApiPath<String>, request: HeaderMap) -> ApiResult<Response> {
    let asset = assets::find(&file).ok_or_else(|| ApiError::not_found("The file"))?;
    let gzip = asset.gzip.filter(|_| assets::accepts_gzip(&request));
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.gzip.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if gzip.is_some() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok((headers, gzip.unwrap_or(asset.body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_page_escapes_what_it_shows() {
        let html = render_catalogue(vec![Entry {
            code: 400999,
            status: 400,
            reason: "Bad <Request>",
            name: "Name\"><script>alert(1)</script>",
            description: "Use <b>&</b> 'quotes'",
        }])
        .unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("Name&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(
            html.contains("Use &#60;b&#62;&#38;&#60;/b&#62; &#39;quotes&#39;"),
            "{html}"
        );
        assert!(html.contains("<tr id=\"400999\">"), "{html}");
    }
}
