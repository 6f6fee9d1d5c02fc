//! The organizations domain's SQL, by table: plain functions over a unit of work (`&mut Unit`)
//! or, for reads outside one, the read pool (`&Db`), with the decoding of their rows.

pub(crate) mod access;
pub(crate) mod invitations;
pub(crate) mod members;
pub(crate) mod orgs;

pub use orgs::Org;
