//! Extraction of the 837P-relevant facts from a FHIR Claim and its parties.
//! Both the scrubber and the 837P builder work from this one view, so every
//! value written can be traced back to the FHIR expression recorded here.

use serde_json::Value;

use crate::decimal::Decimal;
use crate::fhir::{
    self, CPT_HCPCS_SYSTEMS, ICD10_SYSTEMS, arr, codings, contained, decimal_at, has_code,
    refers_to, str_at,
};

/// FHIR inputs for one professional claim export.
///
/// Parties not given explicitly are looked up among the Claim's (or the
/// Coverage's) contained resources via their `#id` references.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimExportInput {
    pub claim: Value,
    /// The patient (Claim.patient).
    pub patient: Option<Value>,
    /// The focal Coverage (Claim.insurance[focal].coverage).
    pub coverage: Option<Value>,
    /// Coverage.subscriber when it is not the patient (Patient or RelatedPerson).
    pub subscriber: Option<Value>,
    /// Coverage.payor[0] Organization.
    pub payer: Option<Value>,
    /// Claim.provider: Organization or Practitioner (2010AA).
    pub billing_provider: Option<Value>,
    /// Rendering Practitioner (2310B), usually Claim.careTeam[0].provider.
    pub rendering_provider: Option<Value>,
    /// Conditions referenced by Claim.diagnosis.diagnosisReference.
    pub conditions: Vec<Value>,
    /// Claim.facility Location (its type may carry the place-of-service code).
    pub facility: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// Claim.diagnosis.sequence.
    pub sequence: u64,
    /// Code as in FHIR (possibly with a dot); None when no code was found.
    pub code: Option<String>,
    pub expression: String,
    pub principal: bool,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub index: usize,
    pub code: Option<String>,
    pub code_expr: String,
    pub modifiers: Vec<String>,
    /// net, else unitPrice × quantity.
    pub charge: Option<Decimal>,
    pub net: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    /// quantity.value, default 1.
    pub units: Decimal,
    pub units_given: bool,
    pub pos: Option<String>,
    /// (from, to) as FHIR dates.
    pub service_from: Option<String>,
    pub service_to: Option<String>,
    pub date_expr: String,
    /// item.diagnosisSequence values.
    pub dx_sequences: Vec<u64>,
}

/// Resolved parties and extracted facts.
pub struct ClaimView<'a> {
    pub claim: &'a Value,
    pub patient: Option<&'a Value>,
    pub coverage: Option<&'a Value>,
    pub subscriber: Option<&'a Value>,
    pub subscriber_is_patient: bool,
    pub payer: Option<&'a Value>,
    pub billing: Option<&'a Value>,
    pub rendering: Option<&'a Value>,
    pub conditions: &'a [Value],
    /// Principal first, then by sequence (the HI order; pointers index this).
    pub diagnoses: Vec<Diagnosis>,
    pub lines: Vec<Line>,
    pub claim_pos: Option<(String, String)>,
}

fn reference(v: &Value, path: &[&str]) -> Option<String> {
    str_at(v, path).map(str::to_string)
}

fn resolve<'a>(
    explicit: Option<&'a Value>,
    holders: &[&'a Value],
    r: Option<&str>,
) -> Option<&'a Value> {
    explicit.or_else(|| {
        let r = r?;
        holders.iter().find_map(|h| contained(h, r))
    })
}

fn focal_insurance(claim: &Value) -> Option<&Value> {
    let ins = arr(claim, "insurance");
    ins.iter()
        .find(|i| i.get("focal").and_then(Value::as_bool) == Some(true))
        .or_else(|| ins.first())
}

fn pos_code(cc: &Value) -> Option<String> {
    codings(cc).first().map(|(_, c)| c.to_string())
}

impl<'a> ClaimView<'a> {
    pub fn new(input: &'a ClaimExportInput) -> Self {
        let claim = &input.claim;
        let patient = resolve(
            input.patient.as_ref(),
            &[claim],
            str_at(claim, &["patient", "reference"]),
        );
        let cov_ref = focal_insurance(claim).and_then(|i| reference(i, &["coverage", "reference"]));
        let coverage = resolve(input.coverage.as_ref(), &[claim], cov_ref.as_deref());
        let sub_ref = coverage.and_then(|c| str_at(c, &["subscriber", "reference"]));
        let relationship_self = coverage
            .and_then(|c| c.get("relationship"))
            .is_some_and(|r| has_code(r, "self"));
        let subscriber_is_patient = input.subscriber.is_none()
            && (relationship_self
                || match (sub_ref, patient) {
                    (Some(r), Some(p)) => refers_to(r, p),
                    (None, _) => true,
                    _ => false,
                });
        let mut holders = vec![claim];
        if let Some(c) = coverage {
            holders.push(c);
        }
        let subscriber = if subscriber_is_patient {
            patient
        } else {
            resolve(input.subscriber.as_ref(), &holders, sub_ref)
        };
        let payer_ref = coverage.and_then(|c| {
            arr(c, "payor")
                .first()
                .and_then(|p| p.get("reference"))
                .and_then(Value::as_str)
        });
        let payer = resolve(input.payer.as_ref(), &holders, payer_ref);
        let billing = resolve(
            input.billing_provider.as_ref(),
            &[claim],
            str_at(claim, &["provider", "reference"]),
        );
        let mut view = ClaimView {
            claim,
            patient,
            coverage,
            subscriber,
            subscriber_is_patient,
            payer,
            billing,
            rendering: input.rendering_provider.as_ref(),
            conditions: &input.conditions,
            diagnoses: Vec::new(),
            lines: Vec::new(),
            claim_pos: None,
        };
        view.diagnoses = view.extract_diagnoses();
        view.lines = view.extract_lines();
        view.claim_pos = view
            .lines
            .iter()
            .find_map(|l| {
                l.pos.clone().map(|p| {
                    (
                        p,
                        format!("Claim.item[{}].locationCodeableConcept", l.index),
                    )
                })
            })
            .or_else(|| {
                let loc = input.facility.as_ref()?;
                arr(loc, "type")
                    .iter()
                    .find_map(pos_code)
                    .map(|p| (p, "Location.type (Claim.facility)".to_string()))
            });
        view
    }

    fn condition_code(&self, reference: &str) -> Option<(String, &'static str)> {
        let cond = self
            .conditions
            .iter()
            .find(|c| refers_to(reference, c))
            .or_else(|| contained(self.claim, reference))?;
        let cc = cond.get("code")?;
        fhir::pick_code(cc, ICD10_SYSTEMS).map(|(_, c)| (c.to_string(), "Condition.code"))
    }

    fn extract_diagnoses(&self) -> Vec<Diagnosis> {
        let mut out: Vec<Diagnosis> = arr(self.claim, "diagnosis")
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let seq = d
                    .get("sequence")
                    .and_then(Value::as_u64)
                    .unwrap_or((i as u64) + 1);
                let principal = arr(d, "type").iter().any(|t| has_code(t, "principal"));
                let (code, expression) = if let Some(cc) = d.get("diagnosisCodeableConcept") {
                    match fhir::pick_code(cc, ICD10_SYSTEMS) {
                        Some((ci, c)) => (
                            Some(c.to_string()),
                            format!(
                                "Claim.diagnosis[{i}].diagnosisCodeableConcept.coding[{ci}].code"
                            ),
                        ),
                        None => (
                            None,
                            format!("Claim.diagnosis[{i}].diagnosisCodeableConcept"),
                        ),
                    }
                } else if let Some(r) = str_at(d, &["diagnosisReference", "reference"]) {
                    match self.condition_code(r) {
                        Some((c, _)) => (
                            Some(c),
                            format!("Claim.diagnosis[{i}].diagnosisReference.resolve().code"),
                        ),
                        None => (None, format!("Claim.diagnosis[{i}].diagnosisReference")),
                    }
                } else {
                    (None, format!("Claim.diagnosis[{i}]"))
                };
                Diagnosis {
                    sequence: seq,
                    code,
                    expression,
                    principal,
                }
            })
            .collect();
        out.sort_by_key(|d| d.sequence);
        // Without an explicit principal, the lowest sequence is principal.
        if !out.iter().any(|d| d.principal)
            && let Some(first) = out.first_mut()
        {
            first.principal = true;
        }
        out.sort_by_key(|d| !d.principal);
        out
    }

    fn extract_lines(&self) -> Vec<Line> {
        arr(self.claim, "item")
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let (code, code_expr) = match it
                    .get("productOrService")
                    .and_then(|cc| fhir::pick_code(cc, CPT_HCPCS_SYSTEMS))
                {
                    Some((ci, c)) => (
                        Some(c.to_string()),
                        format!("Claim.item[{i}].productOrService.coding[{ci}].code"),
                    ),
                    None => (None, format!("Claim.item[{i}].productOrService")),
                };
                let modifiers = arr(it, "modifier")
                    .iter()
                    .filter_map(|m| codings(m).first().map(|(_, c)| c.to_string()))
                    .collect();
                let net = decimal_at(it, &["net", "value"]);
                let unit_price = decimal_at(it, &["unitPrice", "value"]);
                let qty = decimal_at(it, &["quantity", "value"]);
                let units = qty.unwrap_or(Decimal::from_int(1));
                let charge = net.or_else(|| unit_price.and_then(|u| u.checked_mul(units)));
                let (from, to, date_expr) = if let Some(d) = str_at(it, &["servicedDate"]) {
                    (
                        Some(d.to_string()),
                        None,
                        format!("Claim.item[{i}].servicedDate"),
                    )
                } else if let Some(p) = it.get("servicedPeriod") {
                    (
                        str_at(p, &["start"]).map(str::to_string),
                        str_at(p, &["end"]).map(str::to_string),
                        format!("Claim.item[{i}].servicedPeriod"),
                    )
                } else {
                    (
                        str_at(self.claim, &["billablePeriod", "start"]).map(str::to_string),
                        str_at(self.claim, &["billablePeriod", "end"]).map(str::to_string),
                        "Claim.billablePeriod".to_string(),
                    )
                };
                Line {
                    index: i,
                    code,
                    code_expr,
                    modifiers,
                    charge,
                    net,
                    unit_price,
                    units,
                    units_given: qty.is_some(),
                    pos: it.get("locationCodeableConcept").and_then(pos_code),
                    service_from: from,
                    service_to: to,
                    date_expr,
                    dx_sequences: arr(it, "diagnosisSequence")
                        .iter()
                        .filter_map(Value::as_u64)
                        .collect(),
                }
            })
            .collect()
    }

    /// 1-based HI positions for a line's diagnosis sequences (None if unknown).
    pub fn pointers(&self, line: &Line) -> Vec<Option<usize>> {
        line.dx_sequences
            .iter()
            .map(|s| {
                self.diagnoses
                    .iter()
                    .position(|d| d.sequence == *s)
                    .map(|p| p + 1)
            })
            .collect()
    }

    /// Σ line charges (None if any line has no charge).
    pub fn line_total(&self) -> Option<Decimal> {
        self.lines
            .iter()
            .try_fold(Decimal::ZERO, |acc, l| acc.checked_add(l.charge?))
    }

    /// Payer name and id with their FHIR expressions.
    pub fn payer_name_id(&self) -> (Option<String>, Option<String>) {
        let payor_ref = self.coverage.and_then(|c| arr(c, "payor").first());
        let insurer = self.claim.get("insurer");
        let name = self
            .payer
            .and_then(|p| str_at(p, &["name"]))
            .or_else(|| payor_ref.and_then(|r| str_at(r, &["display"])))
            .or_else(|| insurer.and_then(|r| str_at(r, &["display"])))
            .map(str::to_string);
        let id = self
            .payer
            .and_then(|p| {
                fhir::identifier_by_type(p, "NIIP").or_else(|| {
                    arr(p, "identifier")
                        .first()
                        .and_then(|i| str_at(i, &["value"]))
                })
            })
            .or_else(|| payor_ref.and_then(|r| str_at(r, &["identifier", "value"])))
            .or_else(|| insurer.and_then(|r| str_at(r, &["identifier", "value"])))
            .map(str::to_string);
        (name, id)
    }

    /// Coverage.subscriberId, else Coverage.identifier[0].value.
    pub fn member_id(&self) -> Option<String> {
        let c = self.coverage?;
        str_at(c, &["subscriberId"])
            .or_else(|| {
                arr(c, "identifier")
                    .first()
                    .and_then(|i| str_at(i, &["value"]))
            })
            .map(str::to_string)
    }

    /// Claim.identifier[0].value, else Claim.id.
    pub fn patient_control_number(&self) -> Option<String> {
        arr(self.claim, "identifier")
            .first()
            .and_then(|i| str_at(i, &["value"]))
            .or_else(|| str_at(self.claim, &["id"]))
            .map(str::to_string)
    }
}
