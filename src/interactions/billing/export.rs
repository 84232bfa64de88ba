//! Claim → 837P: gather the Claim's parties from the store, scrub, allocate a control number, build.

use hms_fhir::outcome::Issue;
use hms_x12::{ClaimExportInput, Edit, ExportError, build_837p, scrub_claim};
use serde_json::Value;

use crate::config::X12Config;
use crate::error::{Error, issue};
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::interactions::{Services, check_type, read, write};
use crate::store::AnyConnection;

use super::refs::{fetch, reference_at};
use super::{Clock, body_json, edit_issues, envelope, has_errors};

/// One exported interchange.
#[derive(Debug, Clone)]
pub struct Export {
    pub claim_id: String,
    /// ISA13 = GS06.
    pub control_number: u32,
    pub text: String,
    /// Warning edits (an export never has error edits).
    pub warnings: Vec<Edit>,
}

fn same_resource(a: &Value, b: &Value) -> bool {
    a.get("resourceType") == b.get("resourceType") && a.get("id") == b.get("id")
}

fn fetch_at(
    conn: &mut AnyConnection,
    holder: &Value,
    path: &[&str],
) -> Result<Option<Value>, Error> {
    match reference_at(holder, path) {
        Some(r) => fetch(conn, r),
        None => Ok(None),
    }
}

fn focal_insurance(claim: &Value) -> Option<&Value> {
    let ins = claim.get("insurance")?.as_array()?;
    ins.iter()
        .find(|i| i.get("focal").and_then(Value::as_bool) == Some(true))
        .or_else(|| ins.first())
}

/// The Claim plus every stored resource the 837P needs: patient, focal Coverage (subscriber,
/// payer Organization), billing provider, rendering provider (careTeam[0]), Conditions referenced
/// by Claim.diagnosis, facility. Contained resources are left to the X12 crate.
pub fn gather(conn: &mut AnyConnection, claim: Value) -> Result<ClaimExportInput, Error> {
    let patient = fetch_at(conn, &claim, &["patient"])?;
    let coverage = match focal_insurance(&claim) {
        Some(ins) => fetch_at(conn, ins, &["coverage"])?,
        None => None,
    };
    let (subscriber, payer) = match &coverage {
        Some(cov) => {
            let sub = fetch_at(conn, cov, &["subscriber"])?
                .filter(|s| !patient.as_ref().is_some_and(|p| same_resource(s, p)));
            let payer = match cov
                .get("payor")
                .and_then(Value::as_array)
                .and_then(|p| p.first())
                .and_then(|p| p.get("reference"))
                .and_then(Value::as_str)
            {
                Some(r) => fetch(conn, r)?,
                None => None,
            };
            (sub, payer)
        }
        None => (None, None),
    };
    let billing_provider = fetch_at(conn, &claim, &["provider"])?;
    let rendering_provider = match claim
        .get("careTeam")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    {
        Some(member) => fetch_at(conn, member, &["provider"])?
            .filter(|p| p.get("resourceType").and_then(Value::as_str) == Some("Practitioner")),
        None => None,
    };
    let mut conditions = Vec::new();
    for d in claim
        .get("diagnosis")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(c) = fetch_at(conn, d, &["diagnosisReference"])? {
            conditions.push(c);
        }
    }
    let facility = fetch_at(conn, &claim, &["facility"])?;
    Ok(ClaimExportInput {
        claim,
        patient,
        coverage,
        subscriber,
        payer,
        billing_provider,
        rendering_provider,
        conditions,
        facility,
    })
}

fn claim_type() -> Result<ResourceType, Error> {
    ResourceType::parse("Claim")
}

/// The stored Claim with its parties.
pub fn load(s: &Services, id: &LogicalId) -> Result<ClaimExportInput, Error> {
    let stored = read::read(s, &claim_type()?, id)?;
    let claim = body_json(&stored)?;
    s.store.read(|conn| gather(conn, claim))
}

fn export_error(e: ExportError) -> Error {
    match e {
        ExportError::Rejected(edits) => Error::Unprocessable(edit_issues(&edits)),
        ExportError::Missing(what) => Error::Unprocessable(vec![issue(
            hms_fhir::outcome::Severity::Error,
            "required",
            Some(what),
            format!("cannot build the interchange: missing {what}"),
        )]),
        ExportError::Write(w) => Error::Unprocessable(vec![issue(
            hms_fhir::outcome::Severity::Error,
            "value",
            None,
            format!("cannot write the interchange: {w}"),
        )]),
    }
}

/// Scrubs and exports one gathered claim. Error edits → 422 listing every edit; the control
/// number is only taken for a claim that passed scrubbing.
pub fn export_input(
    s: &Services,
    input: &ClaimExportInput,
    x12: &X12Config,
    clock: &Clock,
) -> Result<Export, Error> {
    let edits = scrub_claim(input, &clock.date);
    if has_errors(&edits) {
        return Err(Error::Unprocessable(edit_issues(&edits)));
    }
    let env = envelope(s, x12, clock)?;
    let text = build_837p(input, &env).map_err(export_error)?;
    Ok(Export {
        claim_id: input
            .claim
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        control_number: env.interchange_control_number,
        text,
        warnings: edits,
    })
}

/// POST Claim/[id]/$export-837 and `hms claims export-837 --claim`.
pub fn export_837(
    s: &Services,
    id: &LogicalId,
    x12: &X12Config,
    clock: &Clock,
) -> Result<Export, Error> {
    let input = load(s, id)?;
    export_input(s, &input, x12, clock)
}

/// POST Claim/$validate-claim: every edit of a posted Claim (structure issues first). Its store
/// references resolve like a stored claim's.
pub fn validate_posted(s: &Services, claim: Value, today: &str) -> Result<Vec<Issue>, Error> {
    check_type(&claim, &claim_type()?)?;
    let mut issues = match write::validate(&claim) {
        Ok(()) => Vec::new(),
        Err(Error::Invalid(i)) => i,
        Err(e) => return Err(e),
    };
    let input = s.store.read(|conn| gather(conn, claim))?;
    issues.extend(edit_issues(&scrub_claim(&input, today)));
    Ok(issues)
}

/// `$validate-claim?claim=ID`: the edits of a stored claim.
pub fn validate_stored(s: &Services, id: &LogicalId, today: &str) -> Result<Vec<Issue>, Error> {
    let input = load(s, id)?;
    Ok(edit_issues(&scrub_claim(&input, today)))
}
