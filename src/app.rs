//! Wiring: state, router and server. `main` stays small; tests build the same app.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{from_fn, from_fn_with_state};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::cache::{Epoch, EpochCache};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::http::metrics::Metrics;
use crate::http::reference::ApiDoc;
use crate::http::{framework, idempotency, pipeline, request_id};
use crate::identity::auth::TokenCache;
use crate::identity::webauthn::Passkeys;
use crate::mail::Mailer;

pub use crate::http::state::AppState;

impl AppState {
    /// Mails a security notice about a change that is already committed; a failure is logged,
    /// never returned (the change stands).
    pub async fn security_notice(
        &self,
        now: crate::time::Timestamp,
        to: &str,
        what: &str,
        template: &'static str,
    ) {
        let mail = crate::mail::templates::security_notice(to, what, template);
        self.mailer.notify(&self.db, now, mail).await
    }

    /// Connects to the database, applies migrations and starts WAL checkpoints (SQLite).
    pub async fn start(config: Config) -> anyhow_like::Result<AppState> {
        let key = Arc::new(crate::server_key::ServerKey::load(
            &config.secret_key,
            &config.secret_key_file,
        )?);
        let db = Db::connect(&config.database_url, config.db_max_connections).await?;
        db.migrate().await?;
        db.bind_server_key(key.fingerprint()).await?;
        db.start_checkpoints().await?;
        let clock = if config.dev {
            Clock::test_clock()
        } else {
            Clock::system()
        };
        clock.sync(&db).await?;
        let (_, doc) = api_router().split_for_parts();
        let mailer = Mailer::from_config(&config.mail, &config.mail_from, key.clone())?;
        let webauthn = Passkeys::new(&config.public_origin, &config.rp_id, "Charter")?;
        let cache_ttl = Duration::from_millis(config.auth_cache_ttl_ms);
        let proxies = crate::net::ProxyList::parse(&config.trusted_proxies)?;
        let infra = crate::state::Infra {
            config: Arc::new(config),
            db,
            clock,
            mailer,
            epoch: Arc::new(Epoch::default()),
            key,
        };
        Ok(AppState {
            orgs: crate::orgs::OrgsState {
                infra: infra.clone(),
                close_dependents: crate::commerce::closing::close_org_in,
            },
            identity: crate::identity::IdentityState {
                infra,
                webauthn: Arc::new(webauthn),
                tokens: Arc::new(TokenCache {
                    records: EpochCache::new(cache_ttl, 100_000),
                }),
                me: Arc::new(EpochCache::new(cache_ttl, 100_000)),
                erasers: ERASERS,
            },
            metrics: Metrics::new(),
            reference: Arc::new(crate::http::reference::build(doc)),
            proxies: Arc::new(proxies),
        })
    }
}

/// What erasing a user removes above identity, in this order: organizations first (their
/// last-owner refusal ends the unit before anything else is done), then the idempotency
/// records of the HTTP layer.
const ERASERS: &[crate::identity::erasure::Eraser] = &[
    crate::orgs::erasure::erase_in,
    crate::http::idempotency::erase_in,
];

/// Every route with its OpenAPI annotations.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::system::router())
        .merge(crate::http::docs::router())
        .merge(crate::jobs::router())
        .merge(crate::identity::router())
        .merge(crate::orgs::router())
        .merge(crate::commerce::router())
        .merge(crate::exports::router())
}

/// The OpenAPI document as served.
pub fn openapi() -> serde_json::Value {
    let (_, doc) = api_router().split_for_parts();
    crate::http::reference::enrich(doc)
}

/// The complete application: routes, the pipeline and the framework layers, outermost last.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The application with `extra` routes outside the pipeline but inside the framework layers
/// (tests use it to prove that panics and time-outs answer in the problem shape).
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let (routes, _) = api_router().split_for_parts();
    let config = state.config.clone();
    let mut app = routes
        .route_layer(from_fn_with_state(state.clone(), pipeline::middleware))
        .merge(extra)
        .fallback(framework::not_found)
        .with_state(state.clone())
        .layer(CatchPanicLayer::custom(framework::panic_response))
        .layer(from_fn_with_state(
            Duration::from_secs(config.request_timeout_secs.max(1)),
            framework::timeout,
        ))
        .layer(from_fn(framework::normalize))
        .layer(from_fn_with_state(
            state.metrics.clone(),
            crate::http::metrics::middleware,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes));
    if let Some(cors) = cors_layer(&config.cors_origins) {
        app = app.layer(cors);
    }
    app.layer(from_fn(crate::http::access_log::middleware))
        .layer(from_fn(request_id::middleware))
}

fn cors_layer(origins: &str) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                idempotency::HEADER,
                request_id::HEADER,
            ])
            .expose_headers([
                request_id::HEADER,
                header::RETRY_AFTER,
                header::ALLOW,
                HeaderName::from_static("idempotent-replayed"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn serve(state: AppState, listener: TcpListener) -> std::io::Result<()> {
    serve_router(state.clone(), router(state), listener).await
}

/// Serves `app` with the job loop and section 2's connection limits (`http::serve`) until
/// SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn serve_router(
    state: AppState,
    app: Router,
    listener: TcpListener,
) -> std::io::Result<()> {
    let jobs = crate::jobs::spawn(state.clone());
    let limits = crate::http::serve::Limits::of(&state.config);
    crate::http::serve::run(listener, app, limits, shutdown_signal()).await;
    jobs.abort();
    state.db.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

/// A boxed error for start-up paths.
pub mod anyhow_like {
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
    pub type Result<T> = std::result::Result<T, Error>;
}
