//! The catalogue's modules.

use crate::db::{Db, FromRecord, Record, Unit, UnitError};
use crate::list::ListParams;
use crate::time::Timestamp;

use super::super::modules::Module;

const COLUMNS: &str = "id, module_key, name, description, created_at, archived_at";
const SELECT: &str =
    "SELECT id, module_key, name, description, created_at, archived_at FROM modules";

impl FromRecord for Module {
    fn from_record(r: &Record) -> Result<Self, UnitError> {
        Ok(Module {
            id: r.text("id")?,
            key: r.text("module_key")?,
            name: r.text("name")?,
            description: r.text("description")?,
            created_at: r.time("created_at")?,
            archived_at: r.opt_time("archived_at")?,
        })
    }
}

pub(crate) async fn find(db: &Db, id: &str) -> Result<Option<Module>, UnitError> {
    db.read_opt(&format!("{SELECT} WHERE id = $1"), crate::params![id])
        .await
}

pub(crate) fn find_in(w: &mut Unit<'_>, id: &str) -> Result<Option<Module>, UnitError> {
    super::opt_in(w, &format!("{SELECT} WHERE id = $1"), crate::params![id])
}

/// Inserts a module unless its key is taken; whether it was inserted.
pub(crate) fn insert(w: &mut Unit<'_>, module: &Module, now: Timestamp) -> Result<bool, UnitError> {
    let inserted = w.execute(
        "INSERT INTO modules (id, module_key, name, description, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (module_key) DO NOTHING",
        crate::params![
            module.id.as_str(),
            module.key.as_str(),
            module.name.as_str(),
            module.description.as_str(),
            now
        ],
    )?;
    Ok(inserted == 1)
}

/// A page of the catalogue, newest first, and the number of modules.
pub(crate) async fn page(db: &Db, params: &ListParams) -> Result<(Vec<Module>, i64), UnitError> {
    let total: i64 = db
        .read_one("SELECT COUNT(*) FROM modules", crate::params![])
        .await?;
    let items = db
        .read_all(
            &format!("{SELECT} ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"),
            crate::params![params.limit, params.from],
        )
        .await?;
    Ok((items, total))
}

/// The fields to change; `None` keeps a field.
pub(crate) struct ModuleChanges {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
}

/// Changes only the fields sent; the row after the change, `None` when there is no module.
pub(crate) fn update(
    w: &mut Unit<'_>,
    id: &str,
    changes: ModuleChanges,
) -> Result<Option<Module>, UnitError> {
    w.query_opt(
        &format!(
            "UPDATE modules SET name = COALESCE($2, name), description = COALESCE($3, description)
             WHERE id = $1 RETURNING {COLUMNS}"
        ),
        crate::params![id, changes.name, changes.description],
    )?
    .as_ref()
    .map(Module::from_record)
    .transpose()
}

/// Archives the module unless it is archived already; whether this call archived it.
pub(crate) fn archive(w: &mut Unit<'_>, id: &str, now: Timestamp) -> Result<bool, UnitError> {
    Ok(w.execute(
        "UPDATE modules SET archived_at = $2 WHERE id = $1 AND archived_at IS NULL",
        crate::params![id, now],
    )? == 1)
}
