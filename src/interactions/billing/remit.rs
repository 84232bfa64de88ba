//! 835 import: every 835 set → ClaimResponses + a PaymentReconciliation, written by conditional
//! update on a deterministic import identifier (re-import changes nothing), reversals (CLP02 = 22)
//! cancel the earlier ClaimResponse of the same CLP01. One database transaction per file.

use std::collections::{BTreeMap, BTreeSet};

use hms_x12::remit_fhir::{PCN_SYSTEM, claim_response_id};
use hms_x12::{RemitContext, Remittance, remittance_to_fhir};
use serde_json::{Value, json};

use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::interactions::write::{self, WriteKind};
use crate::store::{AnyConnection, resources};

use super::refs::{find_by_identifier, identifier_criteria, read_json};
use super::{Clock, x12_invalid};

/// Identifier system of the deterministic key every imported resource carries.
pub const IMPORT_KEY_SYSTEM: &str = "urn:hms:x12:import-key";

/// What happened to one resource of the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportedClaim {
    /// CLP01.
    pub control_number: String,
    pub claim_response: String,
    /// Our Claim ("Claim/id") when CLP01 matched one.
    pub claim: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub claims: Vec<ImportedClaim>,
    /// ("PaymentReconciliation/id", outcome), one per 835 set.
    pub reconciliations: Vec<(String, Outcome)>,
    /// ClaimResponses set to cancelled by a reversal now.
    pub cancelled: Vec<String>,
}

impl ImportSummary {
    pub fn count(&self, o: Outcome) -> usize {
        self.claims.iter().filter(|c| c.outcome == o).count()
            + self.reconciliations.iter().filter(|r| r.1 == o).count()
    }
}

/// Every 835 set in the text (strict envelope checks).
pub fn parse(text: &str) -> Result<Vec<Remittance>, Error> {
    let ics = hms_x12::read(text).map_err(|e| x12_invalid("the 835 cannot be read", &e))?;
    let mut out = Vec::new();
    for set in ics.iter().flat_map(|i| i.sets()) {
        if set.code() != "835" {
            return Err(Error::invalid(
                None,
                format!("transaction set {} is not an 835", set.code()),
            ));
        }
        out.push(
            hms_x12::r835::parse_835_set(set).map_err(|e| x12_invalid("the 835 is invalid", &e))?,
        );
    }
    if out.is_empty() {
        return Err(Error::invalid(
            None,
            "the interchange holds no 835 transaction set",
        ));
    }
    Ok(out)
}

/// Imports every set of an 835 file in one transaction.
pub fn import_835(
    s: &crate::interactions::Services,
    text: &str,
    clock: &Clock,
) -> Result<ImportSummary, Error> {
    let remits = parse(text)?;
    s.store.write(|conn| {
        let mut summary = ImportSummary::default();
        for r in &remits {
            import_one(conn, r, clock, &mut summary)?;
        }
        Ok(summary)
    })
}

/// CLP01 → "Claim/id": a Claim whose identifier value is CLP01 (any system), else id = CLP01.
fn match_claim(conn: &mut AnyConnection, pcn: &str) -> Result<Option<String>, Error> {
    if let [one] = find_by_identifier(conn, "Claim", None, pcn, 2)?.as_slice() {
        return Ok(Some(format!("Claim/{one}")));
    }
    if LogicalId::parse(pcn).is_ok() && read_json(conn, "Claim", pcn)?.is_some() {
        return Ok(Some(format!("Claim/{pcn}")));
    }
    Ok(None)
}

fn import_one(
    conn: &mut AnyConnection,
    r: &Remittance,
    clock: &Clock,
    summary: &mut ImportSummary,
) -> Result<(), Error> {
    let mut claim_refs = BTreeMap::new();
    for c in &r.claims {
        if !claim_refs.contains_key(&c.patient_control_number)
            && let Some(found) = match_claim(conn, &c.patient_control_number)?
        {
            claim_refs.insert(c.patient_control_number.clone(), found);
        }
    }
    let ctx = RemitContext {
        created: clock.instant.clone(),
        claim_refs,
        insurer: None,
        requestor: None,
    };
    let resources = remittance_to_fhir(r, &ctx);
    let own: BTreeSet<String> = resources
        .iter()
        .filter_map(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &r.claims {
        let n = seen.entry(c.patient_control_number.as_str()).or_insert(0);
        *n += 1;
        let id = claim_response_id(r, c, *n);
        let body = resources
            .iter()
            .find(|v| v.get("id").and_then(Value::as_str) == Some(id.as_str()))
            .cloned()
            .ok_or_else(|| Error::Internal(format!("no ClaimResponse {id} for a CLP")))?;
        let outcome = upsert(conn, "ClaimResponse", body)?;
        if c.is_reversal() {
            cancel_earlier(conn, &c.patient_control_number, &own, summary)?;
        }
        summary.claims.push(ImportedClaim {
            control_number: c.patient_control_number.clone(),
            claim_response: format!("ClaimResponse/{id}"),
            claim: ctx.claim_refs.get(&c.patient_control_number).cloned(),
            outcome,
        });
    }
    for pr in resources
        .into_iter()
        .filter(|v| v.get("resourceType").and_then(Value::as_str) == Some("PaymentReconciliation"))
    {
        let id = pr
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let outcome = upsert(conn, "PaymentReconciliation", pr)?;
        summary
            .reconciliations
            .push((format!("PaymentReconciliation/{id}"), outcome));
    }
    Ok(())
}

/// The resource without what may legitimately differ between two imports of the same file.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("meta");
        o.remove("created");
    }
    v
}

/// Conditional update on the import key: create with the deterministic id, or update the match;
/// nothing is written when the content is the same. `created` and a `cancelled` status of the
/// stored version are kept.
fn upsert(conn: &mut AnyConnection, t: &str, mut body: Value) -> Result<Outcome, Error> {
    let key = body
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Internal(format!("imported {t} has no id")))?
        .to_string();
    if let Some(ids) = body.get_mut("identifier").and_then(Value::as_array_mut) {
        ids.push(json!({"system": IMPORT_KEY_SYSTEM, "value": key}));
    }
    let criteria = identifier_criteria(Some(IMPORT_KEY_SYSTEM), &key)?;
    let rt = ResourceType::parse(t)?;
    resources::take_write_lock(conn, &format!("{t}?{}", criteria.canonical()))?;
    if let [hit] = criteria.find(conn, t, 2)?.as_slice()
        && let Some(current) = read_json(conn, t, &hit.res_id)?
        && let Some(o) = body.as_object_mut()
    {
        for kept in ["created", "id"] {
            if let Some(v) = current.get(kept) {
                o.insert(kept.into(), v.clone());
            }
        }
        if current.get("status").and_then(Value::as_str) == Some("cancelled") {
            o.insert("status".into(), json!("cancelled"));
        }
        if comparable(&current) == comparable(&body) {
            return Ok(Outcome::Unchanged);
        }
    }
    write::validate(&body)?;
    let w = write::conditional_update_in_tx(conn, &rt, &criteria, body, None)?;
    Ok(match w.kind {
        WriteKind::Created => Outcome::Created,
        WriteKind::Updated => Outcome::Updated,
        WriteKind::Unchanged => Outcome::Unchanged,
    })
}

fn is_reversal_response(v: &Value) -> bool {
    v.get("extension")
        .and_then(Value::as_array)
        .is_some_and(|exts| {
            exts.iter().any(|e| {
                e.get("url").and_then(Value::as_str) == Some(hms_x12::remit_fhir::CLAIM_STATUS_EXT)
                    && e.pointer("/valueCoding/code").and_then(Value::as_str) == Some("22")
            })
        })
}

/// Sets every earlier, still active ClaimResponse for this CLP01 (not from this file, not itself a
/// reversal) to cancelled.
fn cancel_earlier(
    conn: &mut AnyConnection,
    pcn: &str,
    own: &BTreeSet<String>,
    summary: &mut ImportSummary,
) -> Result<(), Error> {
    let rt = ResourceType::parse("ClaimResponse")?;
    for id in find_by_identifier(conn, "ClaimResponse", Some(PCN_SYSTEM), pcn, 1000)? {
        if own.contains(&id) {
            continue;
        }
        let Some(mut cr) = read_json(conn, "ClaimResponse", &id)? else {
            continue;
        };
        if is_reversal_response(&cr) || cr.get("status").and_then(Value::as_str) != Some("active") {
            continue;
        }
        if let Some(o) = cr.as_object_mut() {
            o.insert("status".into(), json!("cancelled"));
            o.remove("meta");
        }
        write::update_in_tx(conn, &rt, &LogicalId::parse(&id)?, cr, None, false)?;
        summary.cancelled.push(format!("ClaimResponse/{id}"));
    }
    Ok(())
}
