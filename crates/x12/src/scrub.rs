//! Claim scrubbing: pre-submission edits on the FHIR claim.

use serde_json::Value;

use crate::claim::{ClaimExportInput, ClaimView};
use crate::dates::fhir_to_x12_date;
use crate::fhir::{self, str_at};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One scrubber finding, located by a FHIR path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub severity: Severity,
    /// Stable machine code, e.g. "npi-checksum".
    pub code: &'static str,
    /// FHIR path, e.g. "Claim.item[0].quantity".
    pub expression: String,
    pub message: String,
}

/// NPI: 10 digits whose last is the Luhn check digit over "80840" + first 9.
pub fn npi_valid(npi: &str) -> bool {
    if npi.len() != 10 || !npi.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits: Vec<u32> = "80840"
        .bytes()
        .chain(npi.bytes())
        .map(|b| u32::from(b - b'0'))
        .collect();
    // Luhn over the whole 15-digit string: double every second digit from the right.
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ICD-10-CM shape: letter, digit, alphanumeric, then optionally a dot and
/// 1-4 alphanumerics (or up to 4 alphanumerics without the dot).
pub fn icd10_shape_ok(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() < 3
        || !b[0].is_ascii_uppercase()
        || !b[1].is_ascii_digit()
        || !b[2].is_ascii_alphanumeric()
    {
        return false;
    }
    let rest = &code[3..];
    let tail = match rest.strip_prefix('.') {
        Some("") => return false,
        Some(t) => t,
        None => rest,
    };
    tail.len() <= 4
        && tail
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

struct Edits(Vec<Edit>);

impl Edits {
    fn err(&mut self, code: &'static str, expr: impl Into<String>, msg: impl Into<String>) {
        self.push(Severity::Error, code, expr, msg);
    }
    fn warn(&mut self, code: &'static str, expr: impl Into<String>, msg: impl Into<String>) {
        self.push(Severity::Warning, code, expr, msg);
    }
    fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        expr: impl Into<String>,
        msg: impl Into<String>,
    ) {
        self.0.push(Edit {
            severity,
            code,
            expression: expr.into(),
            message: msg.into(),
        });
    }
}

fn check_npi(e: &mut Edits, res: &Value, expr: &str, who: &str) {
    match fhir::npi(res) {
        None => e.err("npi-missing", expr, format!("{who} has no NPI identifier")),
        Some(n) if n.len() != 10 || !n.bytes().all(|b| b.is_ascii_digit()) => e.err(
            "npi-format",
            expr,
            format!("{who} NPI {n:?} is not 10 digits"),
        ),
        Some(n) if !npi_valid(n) => e.err(
            "npi-checksum",
            expr,
            format!("{who} NPI {n} fails the Luhn check digit (80840 prefix)"),
        ),
        Some(_) => {}
    }
}

/// Check a FHIR date: valid, not after `today`. Returns the date if valid.
fn check_date(e: &mut Edits, value: &str, expr: &str, today: &str) -> Option<String> {
    if fhir_to_x12_date(value).is_none() {
        e.err(
            "date-invalid",
            expr,
            format!("{value:?} is not a valid full date"),
        );
        return None;
    }
    let d = value.get(0..10)?.to_string();
    if d.as_str() > today {
        e.err("date-future", expr, format!("{d} is after today ({today})"));
    }
    Some(d)
}

/// Pre-submission edits; `today` is `YYYY-MM-DD` (passed in, never read).
pub fn scrub_claim(input: &ClaimExportInput, today: &str) -> Vec<Edit> {
    let v = ClaimView::new(input);
    let mut e = Edits(Vec::new());
    if fhir_to_x12_date(today).is_none() {
        e.err(
            "today-invalid",
            "today",
            format!("{today:?} is not YYYY-MM-DD"),
        );
    }
    let claim = v.claim;
    if fhir::resource_type(claim) != "Claim" {
        e.err(
            "not-a-claim",
            "Claim",
            "input.claim is not a Claim resource",
        );
    }
    let ty = claim.get("type").map(fhir::codings).unwrap_or_default();
    if !ty.iter().any(|(_, c)| *c == "professional") {
        e.warn(
            "claim-type",
            "Claim.type",
            "Claim.type is not 'professional'; exporting as 837P anyway",
        );
    }
    match v.patient_control_number() {
        Some(p) if p.len() > 20 => e.err(
            "pcn-too-long",
            if fhir::arr(claim, "identifier").is_empty() {
                "Claim.id"
            } else {
                "Claim.identifier[0].value"
            },
            format!("patient control number {p:?} is longer than 20 characters (CLM01)"),
        ),
        None => e.err(
            "pcn-missing",
            "Claim.identifier",
            "no Claim.identifier or Claim.id for CLM01",
        ),
        _ => {}
    }

    // Parties.
    match v.billing {
        None => e.err(
            "billing-provider-missing",
            "Claim.provider",
            "billing provider is not available",
        ),
        Some(b) => {
            check_npi(
                &mut e,
                b,
                "Claim.provider.resolve().identifier",
                "billing provider",
            );
            if fhir::resource_type(b) == "Organization" && fhir::tin(b).is_none() {
                e.err(
                    "tin-missing",
                    "Claim.provider.resolve().identifier",
                    "billing provider has no tax identifier (REF*EI)",
                );
            }
            let addr = fhir::address(b);
            if addr.and_then(|a| str_at(a, &["city"])).is_none()
                || addr.and_then(|a| str_at(a, &["postalCode"])).is_none()
                || addr.and_then(|a| fhir::arr(a, "line").first()).is_none()
            {
                e.err(
                    "billing-address-missing",
                    "Claim.provider.resolve().address",
                    "billing provider needs a street line, city and postal code (N3/N4)",
                );
            }
            if fhir::contact(b).is_none() {
                e.err(
                    "submitter-contact-missing",
                    "Claim.provider.resolve().telecom",
                    "billing provider has no phone or e-mail for the submitter contact (PER)",
                );
            }
        }
    }
    if let Some(r) = v.rendering {
        check_npi(
            &mut e,
            r,
            "Claim.careTeam[0].provider.resolve().identifier",
            "rendering provider",
        );
    }
    let birth = match v.patient {
        None => {
            e.err(
                "patient-missing",
                "Claim.patient",
                "patient is not available",
            );
            None
        }
        Some(p) => match str_at(p, &["birthDate"]) {
            None => {
                e.err(
                    "birthdate-missing",
                    "Patient.birthDate",
                    "patient has no birth date (DMG)",
                );
                None
            }
            Some(b) => check_date(&mut e, b, "Patient.birthDate", today),
        },
    };
    match v.coverage {
        None => e.err(
            "coverage-missing",
            "Claim.insurance.coverage",
            "no focal Coverage for the subscriber loop",
        ),
        Some(_) => {
            if v.member_id().is_none() {
                e.err(
                    "member-id-missing",
                    "Coverage.subscriberId",
                    "no subscriber member id (NM1*IL MI)",
                );
            }
            // A self-subscribed patient that is missing is already `patient-missing`.
            if !v.subscriber_is_patient && v.subscriber.is_none() {
                e.err(
                    "subscriber-missing",
                    "Coverage.subscriber",
                    "subscriber differs from the patient but was not provided",
                );
            }
        }
    }
    let (payer_name, payer_id) = v.payer_name_id();
    if payer_name.is_none() || payer_id.is_none() {
        e.err(
            "payer-missing",
            "Coverage.payor",
            "payer name and identifier are required (2010BB NM1*PR)",
        );
    }

    // Diagnoses.
    if v.diagnoses.is_empty() {
        e.err(
            "principal-dx-missing",
            "Claim.diagnosis",
            "claim has no principal diagnosis",
        );
    }
    if v.diagnoses.len() > 12 {
        e.err(
            "dx-too-many",
            "Claim.diagnosis",
            "837P allows at most 12 diagnoses",
        );
    }
    for d in &v.diagnoses {
        match &d.code {
            None => e.err("dx-code-missing", &d.expression, "diagnosis has no code"),
            Some(c) if !icd10_shape_ok(c) => e.err(
                "icd10-format",
                &d.expression,
                format!("{c:?} is not an ICD-10-CM code"),
            ),
            Some(_) => {}
        }
    }

    // Lines.
    if v.lines.is_empty() {
        e.err("no-items", "Claim.item", "claim has no service lines");
    }
    if v.lines.len() > 50 {
        e.err(
            "too-many-items",
            "Claim.item",
            "837P allows at most 50 service lines",
        );
    }
    for l in &v.lines {
        let i = l.index;
        match &l.code {
            None => e.err(
                "procedure-missing",
                &l.code_expr,
                "service line has no procedure code",
            ),
            Some(c) if c.len() != 5 || !c.bytes().all(|b| b.is_ascii_alphanumeric()) => e.err(
                "procedure-format",
                &l.code_expr,
                format!("{c:?} is not a 5-character CPT/HCPCS code"),
            ),
            Some(_) => {}
        }
        if l.modifiers.len() > 4 {
            e.err(
                "too-many-modifiers",
                format!("Claim.item[{i}].modifier"),
                "at most 4 modifiers",
            );
        }
        match l.charge {
            None => e.err(
                "line-charge-missing",
                format!("Claim.item[{i}].net"),
                "service line has neither net nor unitPrice",
            ),
            Some(c) if c.is_negative() => e.err(
                "line-charge-negative",
                format!("Claim.item[{i}].net"),
                format!("charge {c} is negative"),
            ),
            Some(c) if !c.fits_scale(2) => e.err(
                "line-charge-precision",
                format!("Claim.item[{i}].net"),
                format!("charge {c} has more than 2 decimal places"),
            ),
            _ => {}
        }
        if let (Some(n), Some(u)) = (l.net, l.unit_price)
            && u.checked_mul(l.units) != Some(n)
        {
            e.warn(
                "line-net-mismatch",
                format!("Claim.item[{i}].net"),
                format!("net {n} differs from unitPrice {u} × quantity {}", l.units),
            );
        }
        if !l.units.is_positive() {
            e.err(
                "units-not-positive",
                format!("Claim.item[{i}].quantity"),
                format!("units {} must be > 0", l.units),
            );
        }
        let pos = l.pos.as_ref().or(v.claim_pos.as_ref().map(|(p, _)| p));
        match pos {
            None => e.err(
                "pos-missing",
                format!("Claim.item[{i}].locationCodeableConcept"),
                "no place of service for the line or the claim",
            ),
            Some(p) if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) => e.err(
                "pos-format",
                format!("Claim.item[{i}].locationCodeableConcept"),
                format!("place of service {p:?} is not a 2-digit code"),
            ),
            _ => {}
        }
        match &l.service_from {
            None => e.err(
                "service-date-missing",
                &l.date_expr,
                "service line has no date",
            ),
            Some(from) => {
                if let Some(f) = check_date(&mut e, from, &l.date_expr, today)
                    && let Some(b) = &birth
                    && f.as_str() < b.as_str()
                {
                    e.err(
                        "birthdate-after-service",
                        &l.date_expr,
                        format!("service date {f} is before the birth date {b}"),
                    );
                }
                if let Some(to) = &l.service_to
                    && let Some(t) = check_date(&mut e, to, &l.date_expr, today)
                    && t.as_str() < from.get(0..10).unwrap_or(from)
                {
                    e.err(
                        "period-reversed",
                        &l.date_expr,
                        "service period ends before it starts",
                    );
                }
            }
        }
        if l.dx_sequences.is_empty() {
            e.err(
                "dx-pointer-missing",
                format!("Claim.item[{i}].diagnosisSequence"),
                "service line points at no diagnosis (SV107)",
            );
        }
        if l.dx_sequences.len() > 4 {
            e.err(
                "dx-pointer-too-many",
                format!("Claim.item[{i}].diagnosisSequence"),
                "at most 4 diagnosis pointers per line",
            );
        }
        for (k, p) in v.pointers(l).iter().enumerate() {
            if p.is_none() {
                e.err(
                    "dx-pointer-range",
                    format!("Claim.item[{i}].diagnosisSequence[{k}]"),
                    format!(
                        "diagnosis sequence {} does not match any Claim.diagnosis",
                        l.dx_sequences.get(k).copied().unwrap_or_default()
                    ),
                );
            }
        }
    }
    if let Some(created) = str_at(claim, &["created"]) {
        check_date(&mut e, created, "Claim.created", today);
    }
    if let Some(start) = str_at(claim, &["billablePeriod", "start"]) {
        check_date(&mut e, start, "Claim.billablePeriod.start", today);
    }

    // CLM02 = Σ line charges; Claim.total must agree when present.
    if let (Some(sum), Some(total)) = (v.line_total(), fhir::decimal_at(claim, &["total", "value"]))
        && sum != total
    {
        e.err(
            "total-mismatch",
            "Claim.total",
            format!("Claim.total {total} differs from the sum of line charges {sum}"),
        );
    }
    e.0
}
