//! read and vread, through the read cache when the store has one (below the API's authorization,
//! compartment and audit steps, which therefore apply to hits exactly as to misses).

use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::store::resources::{self, Version};

use super::{Services, Stored};

/// The current version: 404 if it never existed, 410 if it was deleted.
pub fn read(s: &Services, t: &ResourceType, id: &LogicalId) -> Result<Stored, Error> {
    match current(s, t, id)? {
        None => Err(Error::NotFound(format!("{t}/{id} is not known"))),
        Some(v) if v.is_deleted() => Err(Error::Gone(format!(
            "{t}/{id} was deleted (version {})",
            v.version
        ))),
        Some(v) => Stored::from_version(v),
    }
}

/// The current version (deletions included), from the cache or the database.
fn current(s: &Services, t: &ResourceType, id: &LogicalId) -> Result<Option<Version>, Error> {
    let (t, id) = (t.as_str(), id.as_str());
    let Some(cache) = s.store.cache() else {
        return Ok(s.reader().read(|c| resources::read_current(c, t, id))?);
    };
    if let Some(v) = cache.get(t, id) {
        let confirmed = !cache.validates()
            || s.reader()
                .read(|c| resources::current(c, t, id, false))?
                .is_some_and(|cur| cur.version == v.version);
        if confirmed {
            cache.count(true);
            return Ok(Some(v));
        }
    }
    cache.count(false);
    let ticket = cache.ticket(t, id);
    let v = s.reader().read(|c| resources::read_current(c, t, id))?;
    // A lagging replica could hand back a version older than one this client just wrote: only
    // the primary's answers go into the cache.
    if let Some(v) = &v
        && s.reads_primary()
    {
        cache.offer_read(ticket, v);
    }
    Ok(v)
}

pub fn vread(
    s: &Services,
    t: &ResourceType,
    id: &LogicalId,
    version: i64,
) -> Result<Stored, Error> {
    // A version's content never changes, so a cached entry of exactly that version is right
    // whatever the current version is by now.
    let cached = s.store.cache().and_then(|c| {
        let hit = c
            .get(t.as_str(), id.as_str())
            .filter(|v| v.version == version);
        c.count(hit.is_some());
        hit
    });
    let v = match cached {
        Some(v) => Some(v),
        None => s
            .reader()
            .read(|c| resources::read_version(c, t.as_str(), id.as_str(), version))?,
    };
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
