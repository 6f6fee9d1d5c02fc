//! Notices about changes to an account (security notices, recovery holds): queued inside the
//! unit of work that makes the change (`Mailer::queue_in`), sent after it commits.

use crate::db::{Unit, UnitError};
use crate::identity::IdentityState;
use crate::mail::{Mail, Mailer, templates};
use crate::time::Timestamp;

/// A notice mail with the mailer that sends it.
#[derive(Clone)]
pub(crate) struct Notice {
    mailer: Mailer,
    mail: Mail,
}

impl Notice {
    pub(crate) fn new(mailer: &Mailer, mail: Mail) -> Notice {
        Notice {
            mailer: mailer.clone(),
            mail,
        }
    }

    /// A security notice (4.6) to the account's address about `what` changed.
    pub(crate) fn security(
        state: &IdentityState,
        to: &str,
        what: &str,
        template: &'static str,
    ) -> Notice {
        Notice::new(
            &state.mailer,
            templates::security_notice(to, what, template),
        )
    }

    /// Inside the unit of work that makes the change.
    pub(crate) fn queue_in(&self, w: &mut Unit<'_>, now: Timestamp) -> Result<(), UnitError> {
        self.mailer.queue_in(w, now, &self.mail)
    }

    /// After the unit that queued it committed: the change stands, so a notice that cannot be
    /// sent is logged, never answered with an error.
    pub(crate) async fn send(self, now: Timestamp) {
        let template = self.mail.template;
        if let Err(e) = self.mailer.after_commit(now, self.mail).await {
            tracing::error!(template, error = %e, "could not send a notice mail");
        }
    }
}
