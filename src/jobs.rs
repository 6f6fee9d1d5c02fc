//! Background jobs, driven by the clock: a loop runs them every `job_interval_secs`, and the
//! test clock runs them right after moving time. Each job claims its work with conditional
//! updates, so several processes may run them at once.

use std::time::Duration;

use crate::app::AppState;
use crate::error::ApiResult;

/// Runs every job whose work is due now.
pub async fn run_due(state: &AppState) -> ApiResult<()> {
    state.clock.sync(&state.db).await?;
    let now = state.clock.now();
    crate::http::idempotency::purge_expired(&state.db, now, state.config.idempotency_ttl_secs)
        .await?;
    crate::identity::retention::purge(&state.db, now).await?;
    crate::identity::limits::purge(&state.db, now).await?;
    crate::audit::purge(&state.db, now, state.config.audit_retention_days).await?;
    state
        .mailer
        .deliver_outbox(&state.db, now)
        .await
        .map_err(crate::error::ApiError::internal)?;
    crate::commerce::renewals::run_due(state).await?;
    state.epoch.bump();
    Ok(())
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
                tracing::warn!(error = %e, "background jobs failed; will retry");
            }
        }
    })
}
