//! 835 Remittance -> FHIR R4 ClaimResponse (one per CLP) + PaymentReconciliation.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::decimal::Decimal;
use crate::ids::stable_id;
use crate::r835::{Adjustment, ClaimPayment, Remittance};

pub const PCN_SYSTEM: &str = "urn:hms:x12:patient-control-number";
pub const PAYER_CLAIM_SYSTEM: &str = "urn:hms:x12:payer-claim-control-number";
pub const CARC_SYSTEM: &str = "https://x12.org/codes/claim-adjustment-reason-codes";
pub const GROUP_SYSTEM: &str = "https://x12.org/codes/claim-adjustment-group-codes";
pub const ADJUDICATION_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/adjudication";
pub const CLAIM_STATUS_EXT: &str = "urn:hms:x12:StructureDefinition:claim-status";
pub const CLAIM_STATUS_SYSTEM: &str = "urn:hms:x12:claim-status-code";
pub const PAYMENT_METHOD_EXT: &str = "urn:hms:x12:StructureDefinition:payment-method";

/// Caller-supplied context: the import timestamp and how to link.
#[derive(Debug, Clone, Default)]
pub struct RemitContext {
    /// ClaimResponse.created / PaymentReconciliation.created (FHIR dateTime).
    pub created: String,
    /// CLP01 patient control number -> reference to our Claim ("Claim/123").
    /// Unresolved numbers become logical references by identifier.
    pub claim_refs: BTreeMap<String, String>,
    /// Reference to the payer Organization, if known.
    pub insurer: Option<String>,
    /// Reference to our billing Organization, if known.
    pub requestor: Option<String>,
}

fn money(d: Decimal) -> Value {
    json!({"value": d.to_json(2), "currency": "USD"})
}

fn adj_category(code: &str) -> Value {
    json!({"coding": [{"system": ADJUDICATION_SYSTEM, "code": code}]})
}

fn cas_adjudication(a: &Adjustment) -> Value {
    let mut v = json!({
        "category": {"coding": [{"system": GROUP_SYSTEM, "code": a.group}]},
        "reason": {"coding": [{"system": CARC_SYSTEM, "code": a.reason}]},
        "amount": money(a.amount),
    });
    if let (Some(q), Some(o)) = (a.quantity, v.as_object_mut()) {
        o.insert("value".into(), q.to_json(0));
    }
    v
}

fn status_text(code: &str) -> &'static str {
    match code {
        "1" => "Processed as primary",
        "2" => "Processed as secondary",
        "3" => "Processed as tertiary",
        "4" => "Denied",
        "19" => "Processed as primary, forwarded to additional payer(s)",
        "20" => "Processed as secondary, forwarded to additional payer(s)",
        "21" => "Processed as tertiary, forwarded to additional payer(s)",
        "22" => "Reversal of previous payment",
        "23" => "Not our claim, forwarded to additional payer(s)",
        "25" => "Predetermination pricing only - no payment",
        _ => "Unknown claim status",
    }
}

/// Deterministic ClaimResponse id: payer (TRN03), trace (TRN02), CLP01,
/// CLP07 and the occurrence number of that CLP01 within the remittance.
pub fn claim_response_id(r: &Remittance, c: &ClaimPayment, occurrence: usize) -> String {
    stable_id(
        "x835-cr-",
        &[
            r.trace_originator.as_deref().unwrap_or(""),
            &r.trace_number,
            &c.patient_control_number,
            c.payer_claim_control_number.as_deref().unwrap_or(""),
            &occurrence.to_string(),
        ],
    )
}

/// Deterministic PaymentReconciliation id: payer (TRN03) and trace (TRN02).
pub fn payment_reconciliation_id(r: &Remittance) -> String {
    stable_id(
        "x835-pr-",
        &[r.trace_originator.as_deref().unwrap_or(""), &r.trace_number],
    )
}

fn claim_request(c: &ClaimPayment, ctx: &RemitContext) -> Value {
    match ctx.claim_refs.get(&c.patient_control_number) {
        Some(r) => json!({"reference": r}),
        None => json!({"identifier": {"system": PCN_SYSTEM, "value": c.patient_control_number}}),
    }
}

fn insurer(r: &Remittance, ctx: &RemitContext) -> Value {
    let mut v = json!({});
    if let Some(o) = v.as_object_mut() {
        if let Some(i) = &ctx.insurer {
            o.insert("reference".into(), json!(i));
        }
        if let Some(id) = &r.payer_id {
            o.insert("identifier".into(), json!({"value": id}));
        }
        if let Some(n) = &r.payer_name {
            o.insert("display".into(), json!(n));
        }
    }
    v
}

fn claim_response(r: &Remittance, c: &ClaimPayment, id: &str, ctx: &RemitContext) -> Value {
    let claim_type = if c.facility_type.is_some() {
        "institutional"
    } else {
        "professional"
    };
    let mut patient = json!({});
    if let Some(o) = patient.as_object_mut() {
        if let Some(pid) = &c.patient_id {
            o.insert("identifier".into(), json!({"value": pid}));
        }
        if let Some(n) = &c.patient_name {
            o.insert("display".into(), json!(n));
        }
    }
    let mut identifiers = vec![json!({"system": PCN_SYSTEM, "value": c.patient_control_number})];
    if let Some(p) = &c.payer_claim_control_number {
        identifiers.push(json!({"system": PAYER_CLAIM_SYSTEM, "value": p}));
    }
    let mut adjudication: Vec<Value> = c.adjustments.iter().map(cas_adjudication).collect();
    if let Some(pr) = c.patient_responsibility {
        adjudication.push(json!({"category": adj_category("deductible"), "reason": {"text": "CLP05 patient responsibility"}, "amount": money(pr)}));
    }
    let items: Vec<Value> = c
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut adj = vec![
                json!({"category": adj_category("submitted"), "amount": money(s.charge)}),
                json!({"category": adj_category("benefit"), "amount": money(s.paid)}),
            ];
            adj.extend(s.adjustments.iter().map(cas_adjudication));
            json!({"itemSequence": i + 1, "adjudication": adj})
        })
        .collect();
    let mut cr = json!({
        "resourceType": "ClaimResponse",
        "id": id,
        "extension": [{
            "url": CLAIM_STATUS_EXT,
            "valueCoding": {"system": CLAIM_STATUS_SYSTEM, "code": c.status, "display": status_text(&c.status)}
        }],
        "identifier": identifiers,
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": claim_type}]},
        "use": "claim",
        "patient": patient,
        "created": ctx.created,
        "insurer": insurer(r, ctx),
        "request": claim_request(c, ctx),
        "outcome": "complete",
        "disposition": status_text(&c.status),
        "total": [
            {"category": adj_category("submitted"), "amount": money(c.charge)},
            {"category": adj_category("benefit"), "amount": money(c.paid)}
        ],
        "payment": {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/ex-paymenttype", "code": "complete"}]},
            "amount": money(c.paid),
            "identifier": {"value": r.trace_number}
        }
    });
    if let Some(o) = cr.as_object_mut() {
        if let Some(req) = &ctx.requestor {
            o.insert("requestor".into(), json!({"reference": req}));
        }
        if !items.is_empty() {
            o.insert("item".into(), json!(items));
        }
        if !adjudication.is_empty() {
            o.insert("adjudication".into(), json!(adjudication));
        }
        if let (Some(d), Some(p)) = (
            &r.payment_date,
            o.get_mut("payment").and_then(Value::as_object_mut),
        ) {
            p.insert("date".into(), json!(d));
        }
    }
    cr
}

/// ClaimResponses (one per CLP, in order) followed by one PaymentReconciliation.
pub fn remittance_to_fhir(r: &Remittance, ctx: &RemitContext) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut details = Vec::new();
    for c in &r.claims {
        let n = seen.entry(c.patient_control_number.as_str()).or_insert(0);
        *n += 1;
        let id = claim_response_id(r, c, *n);
        details.push(json!({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/payment-type", "code": "payment"}]},
            "request": claim_request(c, ctx),
            "response": {"reference": format!("ClaimResponse/{id}")},
            "amount": money(c.paid)
        }));
        out.push(claim_response(r, c, &id, ctx));
    }
    // PLB: a positive amount reduces the payment, so the detail is its negation.
    for p in &r.provider_adjustments {
        let amount = Decimal::ZERO.checked_sub(p.amount).unwrap_or(Decimal::ZERO);
        let mut d = json!({
            "identifier": {"system": "urn:hms:x12:plb-reference", "value": p.reference.clone().unwrap_or_default()},
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/payment-type", "code": "adjustment"}], "text": format!("PLB {}", p.reason)},
            "payee": {"identifier": {"value": p.provider_id}},
            "amount": money(amount)
        });
        if let (Some(date), Some(o)) = (&p.date, d.as_object_mut()) {
            o.insert("date".into(), json!(date));
        }
        if p.reference.is_none()
            && let Some(o) = d.as_object_mut()
        {
            o.remove("identifier");
        }
        details.push(d);
    }
    let payment_date = r
        .payment_date
        .clone()
        .or_else(|| r.production_date.clone())
        .unwrap_or_else(|| ctx.created.get(0..10).unwrap_or(&ctx.created).to_string());
    let mut pr = json!({
        "resourceType": "PaymentReconciliation",
        "id": payment_reconciliation_id(r),
        "extension": [{
            "url": PAYMENT_METHOD_EXT,
            "valueCoding": {"system": "urn:hms:x12:payment-method-code", "code": r.method}
        }],
        "identifier": [{"system": "urn:hms:x12:trn02", "value": r.trace_number}],
        "status": "active",
        "created": ctx.created,
        "paymentIssuer": insurer(r, ctx),
        "outcome": "complete",
        "paymentDate": payment_date,
        "paymentAmount": money(r.amount),
        "paymentIdentifier": {"value": r.trace_number},
        "detail": details
    });
    if let (Some(req), Some(o)) = (&ctx.requestor, pr.as_object_mut()) {
        o.insert("requestor".into(), json!({"reference": req}));
    }
    out.push(pr);
    out
}
