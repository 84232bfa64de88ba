//! Patient/[id]/$everything and Patient/$everything: every live resource in the patient
//! compartment (R4 CompartmentDefinition linking parameters, through the reference index), plus
//! the Practitioner, Organization, Location and Medication resources they reference, with
//! `_since`, `_type`, `_count` and offset paging (`_offset`).

use std::collections::HashSet;

use hms_fhir::model::Model;
use serde_json::Value;

use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::fhir::references::{self, Target};
use crate::fhir::time;
use crate::search::criteria::form_pairs;
use crate::store::{AnyConnection, compartment, resources};

use super::{Services, Stored};

pub const DEFAULT_COUNT: i64 = 100;
pub const MAX_COUNT: i64 = 1000;
/// Referenced resources that come along with the compartment.
pub const REFERENCED: [&str; 4] = ["Practitioner", "Organization", "Location", "Medication"];

#[derive(Debug, Clone, Default)]
pub struct EverythingQuery {
    pub since: Option<i64>,
    pub types: Option<Vec<String>>,
    pub count: i64,
    pub offset: i64,
    /// The parameters applied, for the self/next links (without `_offset`).
    pub applied: Vec<(String, String)>,
}

pub struct EverythingPage {
    pub entries: Vec<Stored>,
    pub total: i64,
    pub next_offset: Option<i64>,
}

pub fn parse_query(query: &str) -> Result<EverythingQuery, Error> {
    let mut q = EverythingQuery {
        count: DEFAULT_COUNT,
        ..EverythingQuery::default()
    };
    for (k, v) in form_pairs(query) {
        match k.as_str() {
            "_since" => {
                q.since = Some(
                    time::parse_fhir_range(&v, &time::Zone::Utc)
                        .filter(|_| v.contains('T'))
                        .map(|(low, _)| low)
                        .ok_or_else(|| {
                            Error::invalid(
                                Some("_since"),
                                format!("_since must be an instant, got {v:?}"),
                            )
                        })?,
                );
                q.applied.push((k, v));
            }
            "_type" => {
                let mut types = q.types.take().unwrap_or_default();
                for t in v.split(',').filter(|t| !t.is_empty()) {
                    types.push(
                        ResourceType::parse(t)
                            .map_err(|_| {
                                Error::invalid(
                                    Some("_type"),
                                    format!("unknown resource type {t:?}"),
                                )
                            })?
                            .to_string(),
                    );
                }
                q.types = Some(types);
                q.applied.push((k, v));
            }
            "_count" => {
                q.count = crate::search::params::parse_count(&v, MAX_COUNT)?;
                q.applied.push((k, q.count.to_string()));
            }
            "_offset" => {
                q.offset = v.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
                    Error::invalid(
                        Some("_offset"),
                        format!("_offset must be a non-negative integer, got {v:?}"),
                    )
                })?;
            }
            "_format" | "_pretty" => {}
            other => {
                return Err(Error::invalid(
                    Some(other),
                    format!(
                        "$everything does not support the parameter {other:?} (supported: _since, _type, _count)"
                    ),
                ));
            }
        }
    }
    Ok(q)
}

/// One page of $everything for `patient` (None: every patient).
pub fn everything(
    s: &Services,
    patient: Option<&LogicalId>,
    q: &EverythingQuery,
) -> Result<EverythingPage, Error> {
    let all = s.store.read(|conn| collect(conn, patient, q))?;
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let start = usize::try_from(q.offset)
        .unwrap_or(usize::MAX)
        .min(all.len());
    let end = start
        .saturating_add(usize::try_from(q.count).unwrap_or(0))
        .min(all.len());
    let next_offset = (end < all.len()).then(|| i64::try_from(end).unwrap_or(i64::MAX));
    let entries = all.into_iter().skip(start).take(end - start).collect();
    Ok(EverythingPage {
        entries,
        total,
        next_offset,
    })
}

fn wanted(q: &EverythingQuery, t: &str) -> bool {
    q.types.as_ref().is_none_or(|ts| ts.iter().any(|x| x == t))
}

fn collect(
    conn: &mut AnyConnection,
    patient: Option<&LogicalId>,
    q: &EverythingQuery,
) -> Result<Vec<Stored>, Error> {
    let patients: Vec<String> = match patient {
        Some(id) => match resources::read_current(conn, "Patient", id.as_str())? {
            None => return Err(Error::NotFound(format!("Patient/{id} is not known"))),
            Some(v) if v.is_deleted() => {
                return Err(Error::Gone(format!("Patient/{id} was deleted")));
            }
            Some(_) => vec![id.to_string()],
        },
        None => compartment::live_ids(conn, "Patient")?,
    };
    let model = Model::r4();
    let links: Vec<(String, Vec<String>)> = model
        .resource_types()
        .into_iter()
        .filter(|t| wanted(q, t))
        .filter_map(|t| {
            let ps: Vec<String> = model
                .compartment_params("Patient", t)
                .iter()
                .filter(|p| !p.starts_with('{'))
                .cloned()
                .collect();
            (!ps.is_empty()).then(|| (t.to_string(), ps))
        })
        .collect();
    let since_ok = |v: &resources::Version| q.since.is_none_or(|s| v.last_updated >= s);
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut out: Vec<Stored> = Vec::new();
    let mut referenced: Vec<(String, String)> = Vec::new();
    for pid in &patients {
        let mut rids = Vec::new();
        if let Some(p) = resources::current(conn, "Patient", pid, false)? {
            rids.push(p.rid);
        }
        rids.extend(compartment::members(conn, "Patient", pid, &links, q.since)?);
        for chunk in rids.chunks(500) {
            let mut rows = resources::read_current_many(conn, chunk)?;
            rows.sort_by_key(|(rid, _)| *rid);
            for (_, v) in rows {
                if v.is_deleted() || !since_ok(&v) || !wanted(q, &v.res_type) {
                    if v.res_type == "Patient" {
                        // The patient's own references still bring their providers.
                        note_references(&v, &mut referenced)?;
                    }
                    continue;
                }
                if !seen.insert((v.res_type.clone(), v.res_id.clone())) {
                    continue;
                }
                note_references(&v, &mut referenced)?;
                out.push(Stored::from_version(v)?);
            }
        }
    }
    let keys: Vec<(String, String)> = referenced
        .into_iter()
        .filter(|k| wanted(q, &k.0) && !seen.contains(k))
        .collect();
    let mut keys_seen = HashSet::new();
    let keys: Vec<(String, String)> = keys
        .into_iter()
        .filter(|k| keys_seen.insert(k.clone()))
        .collect();
    for v in compartment::read_live_by_keys(conn, &keys)? {
        if since_ok(&v) && seen.insert((v.res_type.clone(), v.res_id.clone())) {
            out.push(Stored::from_version(v)?);
        }
    }
    Ok(out)
}

fn note_references(v: &resources::Version, out: &mut Vec<(String, String)>) -> Result<(), Error> {
    let Some(body) = v.json()? else {
        return Ok(());
    };
    let json: Value = serde_json::from_slice(&body).map_err(|e| Error::Internal(e.to_string()))?;
    references::visit(&json, &mut |s| {
        if let Target::Relative { res_type, id } = references::classify(s)
            && REFERENCED.contains(&res_type)
        {
            out.push((res_type.to_string(), id.to_string()));
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn observation_links_to_patient() {
        let m = hms_fhir::model::Model::r4();
        let ps = m.compartment_params("Patient", "Observation");
        assert!(ps.iter().any(|p| p == "subject"), "{ps:?}");
        assert!(
            m.resource_types().contains(&"Observation"),
            "{:?}",
            m.resource_types().len()
        );
        let rows = crate::search::extract::index_rows(
            &serde_json::json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}}),
            &[],
            &crate::fhir::time::Zone::Utc,
        );
        assert!(
            rows.iter()
                .any(|r| r.param == "subject" && r.ref_id.as_deref() == Some("p1")),
            "{rows:?}"
        );
    }
}
