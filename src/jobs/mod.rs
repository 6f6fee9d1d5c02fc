//! Background jobs, driven by the clock: a loop runs them every `job_interval_secs`, and the
//! test clock runs them right after moving time. Each job claims its work with conditional
//! updates, so several processes may run them at once.

mod clock;

use std::time::Duration;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// The test clock's routes (section 10): moving the clock runs the jobs then due.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(clock::get_clock, clock::advance_clock))
}

/// Runs every job whose work is due now.
pub async fn run_due(state: &AppState) -> ApiResult<()> {
    state.clock.sync(&state.db).await?;
    let now = state.clock.now();
    let config = &state.config;
    let db = &state.db;
    // Each job on its own: one that fails is logged and retried next time, never in the way
    // of the others.
    purged(
        "idempotency",
        crate::http::idempotency::purge_expired(db, now, config.idempotency_ttl_secs).await,
    );
    purged("identity", crate::identity::retention::purge(db, now).await);
    purged(
        "start limits",
        crate::identity::limits::purge(db, now).await,
    );
    purged(
        "recovery releases",
        crate::identity::recovery::purge(db, config.recovery_hold_secs, now).await,
    );
    purged(
        "audit",
        crate::audit::purge(db, now, config.audit_retention_days).await,
    );
    if let Err(e) = state.mailer.deliver_outbox(db, now).await {
        tracing::warn!(error = %e, "mail delivery failed; will retry");
    }
    if let Err(e) = crate::commerce::payments::attempts::recover(state).await {
        tracing::warn!(error = %reason(&e), "recovering interrupted payments failed; will retry");
    }
    if let Err(e) = crate::commerce::refunds::recover(state).await {
        tracing::warn!(error = %reason(&e), "recovering interrupted refunds failed; will retry");
    }
    crate::commerce::renewals::run_due(state).await?;
    state.epoch.bump();
    Ok(())
}

/// Logs a purge that failed; it is retried on the next run.
fn purged<E: Into<ApiError>>(job: &'static str, result: Result<u64, E>) {
    if let Err(e) = result {
        tracing::warn!(job, error = %reason(&e.into()), "a purge failed; will retry");
    }
}

/// What to log of a failed job: the cause of a 500001 (never shown to clients), else the error.
fn reason(e: &ApiError) -> String {
    e.cause().map_or_else(|| e.to_string(), str::to_string)
}

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The first run waits one period: start-up has nothing due that cannot wait, and a
        // run racing the first requests would only make the test clock's answers less exact.
        let period = Duration::from_secs(state.config.job_interval_secs.max(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = run_due(&state).await {
                tracing::warn!(error = %reason(&e), "background jobs failed; will retry");
            }
        }
    })
}
