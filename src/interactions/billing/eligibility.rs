//! 270 from a stored CoverageEligibilityRequest; 271 → a stored CoverageEligibilityResponse.

use serde_json::{Value, json};

use crate::config::X12Config;
use crate::error::{Error, issue};
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::interactions::{Services, Stored, read, write};

use super::refs::{fetch_in, find_by_identifier, reference_at};
use super::{Clock, body_json, envelope, x12_invalid};

fn unresolved(expression: &str) -> Error {
    Error::Unprocessable(vec![issue(
        hms_fhir::outcome::Severity::Error,
        "required",
        Some(expression),
        format!("{expression} is missing or does not resolve to a stored resource"),
    )])
}

/// The 270 for CoverageEligibilityRequest/[id]: patient, insurance[0].coverage and provider are
/// resolved from the store (or the request's contained resources).
pub fn build_270(
    s: &Services,
    id: &LogicalId,
    x12: &X12Config,
    clock: &Clock,
) -> Result<String, Error> {
    let t = ResourceType::parse("CoverageEligibilityRequest")?;
    let request = body_json(&read::read(s, &t, id)?)?;
    let (patient, coverage, provider) = s.store.read(|conn| -> Result<_, Error> {
        let mut get = |path: &[&str], expr: &str| -> Result<Value, Error> {
            match reference_at(&request, path) {
                Some(r) => fetch_in(conn, &request, r)?.ok_or_else(|| unresolved(expr)),
                None => Err(unresolved(expr)),
            }
        };
        let patient = get(&["patient"], "CoverageEligibilityRequest.patient")?;
        let provider = get(&["provider"], "CoverageEligibilityRequest.provider")?;
        let insurance = request
            .get("insurance")
            .and_then(Value::as_array)
            .and_then(|i| i.first())
            .cloned()
            .unwrap_or(Value::Null);
        let coverage = match reference_at(&insurance, &["coverage"]) {
            Some(r) => fetch_in(conn, &request, r)?,
            None => None,
        }
        .ok_or_else(|| unresolved("CoverageEligibilityRequest.insurance[0].coverage"))?;
        Ok((patient, coverage, provider))
    })?;
    let env = envelope(s, x12, clock)?;
    hms_x12::build_270(&request, &patient, &coverage, &provider, &env).map_err(|e| {
        Error::Unprocessable(vec![issue(
            hms_fhir::outcome::Severity::Error,
            "business-rule",
            None,
            format!("cannot build the 270: {e}"),
        )])
    })
}

/// Parses a 271 and stores it as a CoverageEligibilityResponse. When TRN02 names a stored
/// CoverageEligibilityRequest (by identifier), `request` references it.
pub fn read_271(s: &Services, text: &str) -> Result<Stored, Error> {
    let mut response =
        hms_x12::parse_271(text).map_err(|e| x12_invalid("the 271 cannot be read", &e))?;
    let trace = response
        .pointer("/request/identifier/value")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(trace) = trace {
        let hits = s
            .store
            .read(|conn| find_by_identifier(conn, "CoverageEligibilityRequest", None, &trace, 2))?;
        if let [one] = hits.as_slice()
            && let Some(o) = response.get_mut("request").and_then(Value::as_object_mut)
        {
            o.insert(
                "reference".into(),
                json!(format!("CoverageEligibilityRequest/{one}")),
            );
        }
    }
    let t = ResourceType::parse("CoverageEligibilityResponse")?;
    Ok(write::create(s, &t, response, None)?.stored)
}
