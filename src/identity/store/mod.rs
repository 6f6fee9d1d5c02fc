//! Identity's SQL, one file per area: statements inside a unit of work take `&mut Unit` (named
//! `…_in`), reads outside one take `&Db`; each area's row types decode beside their queries.
//! The area modules one level up hold the rules and the units.

pub(crate) mod accounts;
pub(crate) mod auth;
pub(crate) mod ceremonies;
pub(crate) mod codes;
pub(crate) mod erasure;
pub(crate) mod limits;
pub(crate) mod passkeys;
pub(crate) mod recovery;
pub(crate) mod retention;
pub(crate) mod sessions;
pub(crate) mod terms;
pub(crate) mod tokens;
