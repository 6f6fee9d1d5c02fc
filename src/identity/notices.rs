//! Notices about changes to an account (security notices, recovery holds): queued with
//! `Mailer::queue_in` inside the unit of work that makes the change, sent after it commits.

use crate::app::AppState;
use crate::mail::Mail;
use crate::time::Timestamp;

/// After the unit that queued them committed: the changes stand, so a notice that cannot be
/// sent is logged, never answered with an error.
pub(crate) async fn send(state: &AppState, now: Timestamp, mails: Vec<Mail>) {
    for mail in mails {
        let template = mail.template;
        if let Err(e) = state.mailer.after_commit(now, mail).await {
            tracing::error!(template, error = %e, "could not send a notice mail");
        }
    }
}
