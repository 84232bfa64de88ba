//! Billing operations over HTTP: `POST Claim/[id]/$export-837`, `POST Claim/$validate-claim`,
//! `POST $import-835`. Thin: negotiate, read the body, run the interaction on a blocking thread.

use actix_web::http::StatusCode;
use actix_web::web::Payload;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use hms_fhir::outcome::Severity;
use serde_json::{Value, json};

use crate::error::{Error, issue};
use crate::fhir::capability::Operation;
use crate::fhir::ids::LogicalId;
use crate::fhir::outcome::operation_outcome;
use crate::interactions::billing::remit::{ImportSummary, Outcome};
use crate::interactions::billing::{Clock, export, remit};
use crate::search::criteria::form_pairs;

use super::AppState;
use super::error::ApiError;
use super::negotiate::{self, check_accept, header, read_body};
use super::render;
use super::routes::{blocking, blocking_as, parse_body};

pub const X12_MEDIA: &str = "application/EDI-X12";

type Reply = Result<HttpResponse, ApiError>;

/// Canonical base of the OperationDefinitions of our own operations.
pub const OPERATION_DEFINITION_BASE: &str = "http://hms-interop.invalid/fhir/OperationDefinition/";

/// The billing operations as the CapabilityStatement lists them; each one is matched by
/// [`is_billing_route`] and answered by [`route`] (a unit test checks it).
pub const OPERATIONS: &[Operation] = &[
    Operation {
        resource: Some("Claim"),
        name: "export-837",
        definition: "http://hms-interop.invalid/fhir/OperationDefinition/Claim-export-837",
    },
    Operation {
        resource: Some("Claim"),
        name: "validate-claim",
        definition: "http://hms-interop.invalid/fhir/OperationDefinition/Claim-validate-claim",
    },
    Operation {
        resource: None,
        name: "import-835",
        definition: "http://hms-interop.invalid/fhir/OperationDefinition/import-835",
    },
];

/// Operations that negotiate their own response format (X12 or FHIR JSON).
pub fn negotiates_itself(segs: &[&str]) -> bool {
    matches!(segs, ["Claim", _, "$export-837"])
}

/// Paths of the billing operations (any method: others get 405 from [`route`]).
pub fn is_billing_route(segs: &[&str]) -> bool {
    matches!(
        segs,
        ["Claim", _, "$export-837"] | ["Claim", "$validate-claim"] | ["$import-835"]
    )
}

/// Billing routes (see [`is_billing_route`]).
pub async fn route(req: &HttpRequest, payload: Payload, st: &AppState, segs: &[&str]) -> Reply {
    let post = req.method() == actix_web::http::Method::POST;
    match segs {
        ["Claim", id, "$export-837"] if post => export_837(req, st, id).await,
        ["Claim", "$validate-claim"] if post => validate_claim(req, payload, st).await,
        ["$import-835"] if post => import_835(req, payload, st).await,
        _ => Err(Error::MethodNotAllowed(format!(
            "{} is not supported on /{}; use POST",
            req.method(),
            segs.join("/")
        ))
        .into()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExportFormat {
    X12,
    Binary,
}

fn is_x12_media(m: &str) -> bool {
    matches!(
        m,
        "application/edi-x12" | "text/plain" | "x12" | "text/*" | "*/*" | "application/*"
    )
}

/// X12 unless the client asks for FHIR JSON only (`_format=json` or an Accept without any X12,
/// text or wildcard range): then a Binary resource holding the interchange.
fn export_format(req: &HttpRequest) -> Result<ExportFormat, Error> {
    if let Some((_, f)) = form_pairs(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "_format")
    {
        let f = f.to_ascii_lowercase();
        return if is_x12_media(&f) {
            Ok(ExportFormat::X12)
        } else {
            check_accept(req).map(|()| ExportFormat::Binary)
        };
    }
    let Some(accept) = header(req, "accept") else {
        return Ok(ExportFormat::X12);
    };
    let ranges: Vec<String> = accept
        .split(',')
        .map(|r| {
            r.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    if ranges.iter().any(|r| r == "application/edi-x12") {
        return Ok(ExportFormat::X12);
    }
    if check_accept(req).is_ok() && !ranges.iter().any(|r| r == "*/*") {
        return Ok(ExportFormat::Binary);
    }
    if ranges.iter().any(|r| is_x12_media(r)) {
        return Ok(ExportFormat::X12);
    }
    Err(Error::NotAcceptable(format!(
        "Accept {accept:?}: $export-837 answers {X12_MEDIA} or application/fhir+json (Binary)"
    )))
}

async fn export_837(req: &HttpRequest, st: &AppState, id: &str) -> Reply {
    let format = export_format(req)?;
    let id = LogicalId::parse(id)?;
    let clock = Clock::now();
    let svc = st.services.clone();
    let x12 = st.config.x12.clone();
    let e = blocking(move || export::export_837(&svc, &id, &x12, &clock)).await?;
    let control = format!("{:09}", e.control_number);
    Ok(match format {
        ExportFormat::X12 => HttpResponse::Ok()
            .content_type(X12_MEDIA)
            .insert_header(("X-Interchange-Control-Number", control))
            .body(e.text),
        ExportFormat::Binary => {
            let binary = json!({
                "resourceType": "Binary",
                "contentType": X12_MEDIA,
                "data": base64::engine::general_purpose::STANDARD.encode(e.text.as_bytes()),
            });
            render::json(
                req,
                StatusCode::OK,
                serde_json::to_vec(&binary).unwrap_or_default(),
            )
        }
    })
}

/// The Claim to validate: `?claim=ID`, a Claim body, or Parameters with a `resource` part.
enum Subject {
    Stored(LogicalId),
    Posted(Value),
}

async fn validate_claim(req: &HttpRequest, payload: Payload, st: &AppState) -> Reply {
    let stored = form_pairs(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "claim")
        .map(|(_, v)| LogicalId::parse(v.trim_start_matches("Claim/")))
        .transpose()?;
    let body = read_body(payload, st.config.max_body_bytes).await?;
    let subject = match (stored, body.is_empty()) {
        (Some(id), true) => Subject::Stored(id),
        (Some(_), false) => {
            return Err(Error::invalid(
                Some("claim"),
                "give the claim either as ?claim=ID or in the body, not both",
            )
            .into());
        }
        (None, _) => {
            negotiate::check_content_type(req)?;
            Subject::Posted(claim_of(parse_body(&body)?)?)
        }
    };
    let today = Clock::now().date;
    let svc = st.services.clone();
    let mut issues = blocking(move || match subject {
        Subject::Stored(id) => export::validate_stored(&svc, &id, &today),
        Subject::Posted(claim) => export::validate_posted(&svc, claim, &today),
    })
    .await?;
    if issues.is_empty() {
        issues.push(issue(
            Severity::Information,
            "informational",
            None,
            "no edits: the claim passes every check",
        ));
    }
    let body = serde_json::to_vec(&operation_outcome(&issues)).unwrap_or_default();
    Ok(render::json(req, StatusCode::OK, body))
}

fn claim_of(v: Value) -> Result<Value, Error> {
    if v.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Ok(v);
    }
    v.get("parameter")
        .and_then(Value::as_array)
        .and_then(|ps| {
            ps.iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some("resource"))
        })
        .and_then(|p| p.get("resource"))
        .cloned()
        .ok_or_else(|| {
            Error::invalid(
                Some("Parameters.parameter"),
                "Parameters must have a 'resource' parameter holding the Claim",
            )
        })
}

fn check_x12_content_type(req: &HttpRequest) -> Result<(), Error> {
    let ct = header(req, "content-type").unwrap_or("");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/edi-x12" || media == "text/plain" {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType(format!(
            "Content-Type {ct:?}: send the 835 as {X12_MEDIA} or text/plain"
        )))
    }
}

async fn import_835(req: &HttpRequest, payload: Payload, st: &AppState) -> Reply {
    check_x12_content_type(req)?;
    let body = read_body(payload, st.config.max_body_bytes).await?;
    let text = String::from_utf8(body)
        .map_err(|_| Error::invalid(None, "the 835 is not ASCII/UTF-8 text"))?;
    let clock = Clock::now();
    let svc = st.services.clone();
    let summary = blocking_as(st, move || remit::import_835(&svc, &text, &clock)).await?;
    let body = serde_json::to_vec(&summary_parameters(&summary)).unwrap_or_default();
    Ok(render::json(req, StatusCode::OK, body))
}

/// The import summary as Parameters (documented in README "Billing").
pub fn summary_parameters(s: &ImportSummary) -> Value {
    let mut params = vec![];
    for o in [Outcome::Created, Outcome::Updated, Outcome::Unchanged] {
        params.push(json!({"name": o.code(), "valueInteger": s.count(o)}));
    }
    for (r, o) in &s.reconciliations {
        params.push(json!({"name": "paymentReconciliation", "part": [
            {"name": "resource", "valueReference": {"reference": r}},
            {"name": "outcome", "valueCode": o.code()},
        ]}));
    }
    for c in &s.claims {
        let mut part = vec![
            json!({"name": "resource", "valueReference": {"reference": c.claim_response}}),
            json!({"name": "outcome", "valueCode": c.outcome.code()}),
            json!({"name": "patientControlNumber", "valueString": c.control_number}),
        ];
        if let Some(claim) = &c.claim {
            part.push(json!({"name": "claim", "valueReference": {"reference": claim}}));
        }
        params.push(json!({"name": "claimResponse", "part": part}));
    }
    for c in &s.cancelled {
        params.push(json!({"name": "cancelled", "valueReference": {"reference": c}}));
    }
    json!({"resourceType": "Parameters", "parameter": params})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_operation_is_routed() {
        for o in OPERATIONS {
            assert!(o.definition.starts_with(OPERATION_DEFINITION_BASE));
            let op = format!("${}", o.name);
            let segs: Vec<&str> = match o.resource {
                // $export-837 is instance level, $validate-claim type level.
                Some(t) if o.name == "export-837" => vec![t, "x", &op],
                Some(t) => vec![t, &op],
                None => vec![&op],
            };
            assert!(is_billing_route(&segs), "{segs:?}");
        }
    }
}
