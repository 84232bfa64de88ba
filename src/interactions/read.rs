//! read and vread.

use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::store::resources;

use super::{Services, Stored};

/// The current version: 404 if it never existed, 410 if it was deleted.
pub fn read(s: &Services, t: &ResourceType, id: &LogicalId) -> Result<Stored, Error> {
    let v = s
        .reader()
        .read(|c| resources::read_current(c, t.as_str(), id.as_str()))?;
    match v {
        None => Err(Error::NotFound(format!("{t}/{id} is not known"))),
        Some(v) if v.is_deleted() => Err(Error::Gone(format!(
            "{t}/{id} was deleted (version {})",
            v.version
        ))),
        Some(v) => Stored::from_version(v),
    }
}

pub fn vread(
    s: &Services,
    t: &ResourceType,
    id: &LogicalId,
    version: i64,
) -> Result<Stored, Error> {
    let v = s
        .reader()
        .read(|c| resources::read_version(c, t.as_str(), id.as_str(), version))?;
    match v {
        None => Err(Error::NotFound(format!(
            "{t}/{id}/_history/{version} is not known"
        ))),
        Some(v) if v.is_deleted() => Err(Error::Gone(format!(
            "{t}/{id}/_history/{version} is a deletion"
        ))),
        Some(v) => Stored::from_version(v),
    }
}
