//! `terms`: the published versions of the account terms.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::identity::terms::TermsView;
use crate::time::Timestamp;

impl FromRecord for TermsView {
    fn from_record(r: &Record) -> Result<TermsView, UnitError> {
        Ok(TermsView {
            version: r.text("version")?,
            url: r.text("url")?,
            published_at: r.time("published_at")?,
        })
    }
}

const CURRENT: &str =
    "SELECT version, url, published_at FROM terms ORDER BY published_at DESC, version DESC LIMIT 1";

/// The latest published version, if any.
pub(crate) async fn current(db: &Db) -> Result<Option<TermsView>, UnitError> {
    db.read_opt(CURRENT, crate::params![]).await
}

/// The latest published version, if any, inside a unit.
pub(crate) fn current_in(w: &mut Unit<'_>) -> Result<Option<TermsView>, UnitError> {
    w.query_opt(CURRENT, crate::params![])?
        .as_ref()
        .map(TermsView::from_record)
        .transpose()
}

/// Publishes a version; `false` when it was published already.
pub(crate) fn insert_in(
    w: &mut Unit<'_>,
    version: &str,
    url: &str,
    published_by: &str,
    now: Timestamp,
) -> Result<bool, UnitError> {
    Ok(w.execute(
        "INSERT INTO terms (version, url, published_at, published_by) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        crate::params![version, url, now, published_by],
    )? == 1)
}
