//! Completes an HL7 A40 patient merge inside the caller's transaction: every live resource that
//! references the source patient (`Patient/<source>`, also versioned) is re-pointed to the target,
//! as a new version. The referencing resources are found through the reference rows of the search
//! index, so only references that a search parameter covers are moved (all the patient links of
//! clinical resources are). Provenance and AuditEvent are records of the past and keep their references.
//! The Bundle itself already deactivated the source and linked both records.

use serde_json::Value;

use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::search::criteria::Criteria;
use crate::store::{AnyConnection, references, resources};

use super::write;
use crate::fhir::references::rewrite;

/// Types whose references are history, never rewritten.
const KEEP: &[&str] = &["Provenance", "AuditEvent"];

/// Moves references from the patient identified by `source` to the one identified by `target`
/// ((system, value) pairs). Returns the versions written. Nothing to do when either is unknown.
pub fn move_references(
    conn: &mut AnyConnection,
    source: &(String, String),
    target: &(String, String),
) -> Result<Vec<String>, Error> {
    let (Some(src), Some(dst)) = (find_patient(conn, source)?, find_patient(conn, target)?) else {
        return Ok(Vec::new());
    };
    if src == dst {
        return Ok(Vec::new());
    }
    let old = format!("Patient/{src}");
    let new = format!("Patient/{dst}");
    let mut written = Vec::new();
    for found in references::referencing(conn, "Patient", &src, KEEP)? {
        let Some(version) = resources::read_current(conn, &found.res_type, &found.res_id)? else {
            continue;
        };
        let Some(body) = version.json()? else {
            continue;
        };
        let mut doc: Value =
            serde_json::from_slice(&body).map_err(|e| Error::Internal(e.to_string()))?;
        let mut changed = false;
        rewrite(&mut doc, &mut |r| {
            let hit = r == old || r.starts_with(&format!("{old}/_history/"));
            changed |= hit;
            hit.then(|| new.clone())
        });
        if !changed {
            continue;
        }
        let t = ResourceType::parse(&found.res_type)?;
        let id = LogicalId::parse(&found.res_id)?;
        let w = write::update_in_tx(conn, &t, &id, doc, None, false)?;
        written.push(format!(
            "{}/{}/_history/{}",
            w.stored.res_type, w.stored.id, w.stored.version
        ));
    }
    Ok(written)
}

fn find_patient(
    conn: &mut AnyConnection,
    (system, value): &(String, String),
) -> Result<Option<String>, Error> {
    let c = Criteria::parse(&format!(
        "identifier={}",
        hms_hl7v2::map::search_token(system, value)
    ))?;
    Ok(c.find(conn, "Patient", 1)?
        .into_iter()
        .next()
        .map(|h| h.res_id))
}
