//! 835 (005010X221A1) remittance import.

use crate::decimal::Decimal;
use crate::error::X12Error;
use crate::reader::{TransactionSet, read};
use crate::segment::Segment;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// CAS01 group code: CO, PR, OA, PI, CR.
    pub group: String,
    /// Claim adjustment reason code (CARC).
    pub reason: String,
    pub amount: Decimal,
    pub quantity: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePayment {
    /// SVC01-1 qualifier (HC, NU, ...), SVC01-2 code, SVC01-3.. modifiers.
    pub qualifier: String,
    pub code: String,
    pub modifiers: Vec<String>,
    pub charge: Decimal,
    pub paid: Decimal,
    pub units: Option<Decimal>,
    /// DTM*472 or DTM*150 (FHIR date).
    pub service_date: Option<String>,
    pub adjustments: Vec<Adjustment>,
    /// REF*6R line item control number.
    pub line_control_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPayment {
    /// CLP01: our patient control number (CLM01 we sent) — links to our Claim.
    pub patient_control_number: String,
    /// CLP02: 1 primary, 2 secondary, 3 tertiary, 4 denied, 19-21 forwarded, 22 reversal, 23 not our claim.
    pub status: String,
    pub charge: Decimal,
    pub paid: Decimal,
    pub patient_responsibility: Option<Decimal>,
    /// CLP07 payer claim control number.
    pub payer_claim_control_number: Option<String>,
    /// CLP08 facility type code (institutional claims only).
    pub facility_type: Option<String>,
    pub patient_name: Option<String>,
    pub patient_id: Option<String>,
    pub adjustments: Vec<Adjustment>,
    pub services: Vec<ServicePayment>,
    /// Segment position of the CLP (for error reporting).
    pub position: usize,
}

impl ClaimPayment {
    pub fn is_reversal(&self) -> bool {
        self.status == "22"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAdjustment {
    pub provider_id: String,
    /// PLB02 fiscal period date (FHIR date).
    pub date: Option<String>,
    /// PLB03-1 reason code.
    pub reason: String,
    /// PLB03-2 reference.
    pub reference: Option<String>,
    /// Positive reduces the payment.
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remittance {
    /// ST02.
    pub control_number: String,
    /// BPR01 handling code (C payment+advice, H advice only, I remittance info, ...).
    pub handling: String,
    /// BPR02 total actual provider payment.
    pub amount: Decimal,
    /// BPR03 C credit / D debit.
    pub credit_debit: String,
    /// BPR04 ACH, CHK, FWT, BOP, NON.
    pub method: String,
    /// BPR16 check issue or EFT effective date (FHIR date), if valid.
    pub payment_date: Option<String>,
    /// TRN02 check or EFT trace number.
    pub trace_number: String,
    /// TRN03 payer's originating company id.
    pub trace_originator: Option<String>,
    /// DTM*405 production date.
    pub production_date: Option<String>,
    pub payer_name: Option<String>,
    pub payer_id: Option<String>,
    pub payee_name: Option<String>,
    /// N1*PE N103 qualifier and N104 id (XX = NPI, FI = TIN).
    pub payee_id_qualifier: Option<String>,
    pub payee_id: Option<String>,
    pub claims: Vec<ClaimPayment>,
    pub provider_adjustments: Vec<ProviderAdjustment>,
}

impl Remittance {
    /// BPR02 − (Σ CLP04 − Σ PLB); zero for a balanced remittance.
    pub fn balance_difference(&self) -> Option<Decimal> {
        let clp = self
            .claims
            .iter()
            .try_fold(Decimal::ZERO, |a, c| a.checked_add(c.paid))?;
        let plb = self
            .provider_adjustments
            .iter()
            .try_fold(Decimal::ZERO, |a, p| a.checked_add(p.amount))?;
        self.amount.checked_sub(clp.checked_sub(plb)?)
    }
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// CAS: group, then up to six (reason, amount, quantity) triples.
fn cas(seg: &Segment) -> Result<Vec<Adjustment>, X12Error> {
    let group = seg.required(1)?.to_string();
    let mut out = Vec::new();
    for k in 0..6 {
        let r = 2 + k * 3;
        let reason = seg.el(r);
        if reason.is_empty() {
            continue;
        }
        out.push(Adjustment {
            group: group.clone(),
            reason: reason.to_string(),
            amount: seg.decimal(r + 1)?,
            quantity: seg.decimal_opt(r + 2)?,
        });
    }
    Ok(out)
}

fn person_name(seg: &Segment) -> Option<String> {
    let parts: Vec<&str> = [seg.el(4), seg.el(5), seg.el(3)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Parse the first 835 transaction set in `text` (strict envelope).
pub fn parse_835(text: &str) -> Result<Remittance, X12Error> {
    let ics = read(text)?;
    let set = ics
        .iter()
        .flat_map(|i| i.sets())
        .next()
        .ok_or_else(|| X12Error::UnexpectedEnd("no transaction set".into()))?;
    if set.code() != "835" {
        return Err(X12Error::WrongTransaction {
            expected: "835".into(),
            found: set.code().into(),
        });
    }
    parse_835_set(set)
}

pub fn parse_835_set(set: &TransactionSet) -> Result<Remittance, X12Error> {
    let mut r = Remittance {
        control_number: set.st.el(2).to_string(),
        handling: String::new(),
        amount: Decimal::ZERO,
        credit_debit: String::new(),
        method: String::new(),
        payment_date: None,
        trace_number: String::new(),
        trace_originator: None,
        production_date: None,
        payer_name: None,
        payer_id: None,
        payee_name: None,
        payee_id_qualifier: None,
        payee_id: None,
        claims: Vec::new(),
        provider_adjustments: Vec::new(),
    };
    let mut saw_bpr = false;
    let mut n1_entity = String::new();
    for seg in &set.body {
        match seg.id.as_str() {
            "BPR" => {
                saw_bpr = true;
                r.handling = seg.required(1)?.to_string();
                r.amount = seg.decimal(2)?;
                r.credit_debit = seg.el(3).to_string();
                r.method = seg.el(4).to_string();
                // An invalid BPR16 (e.g. 20002316 in a corpus file) is kept
                // out rather than failing the whole remittance.
                r.payment_date = opt(seg.el(16)).and_then(|d| crate::dates::x12_to_fhir_date(&d));
            }
            "TRN" if r.trace_number.is_empty() => {
                r.trace_number = seg.required(2)?.to_string();
                r.trace_originator = opt(seg.el(3));
            }
            "DTM" if r.claims.is_empty() && seg.el(1) == "405" => {
                r.production_date = Some(seg.date(2)?);
            }
            "N1" if r.claims.is_empty() => {
                n1_entity = seg.el(1).to_string();
                match seg.el(1) {
                    "PR" => {
                        r.payer_name = opt(seg.el(2));
                        r.payer_id = opt(seg.el(4));
                    }
                    "PE" => {
                        r.payee_name = opt(seg.el(2));
                        r.payee_id_qualifier = opt(seg.el(3));
                        r.payee_id = opt(seg.el(4));
                    }
                    _ => {}
                }
            }
            // Payer id may come as REF*2U after N1*PR.
            "REF"
                if r.claims.is_empty()
                    && n1_entity == "PR"
                    && seg.el(1) == "2U"
                    && r.payer_id.is_none() =>
            {
                r.payer_id = opt(seg.el(2));
            }
            "CLP" => r.claims.push(ClaimPayment {
                patient_control_number: seg.required(1)?.to_string(),
                status: seg.required(2)?.to_string(),
                charge: seg.decimal(3)?,
                paid: seg.decimal(4)?,
                patient_responsibility: seg.decimal_opt(5)?,
                payer_claim_control_number: opt(seg.el(7)),
                facility_type: opt(seg.el(8)),
                patient_name: None,
                patient_id: None,
                adjustments: Vec::new(),
                services: Vec::new(),
                position: seg.position,
            }),
            "SVC" => {
                let claim = r.claims.last_mut().ok_or_else(|| {
                    X12Error::segment(seg.position, "SVC", "service line before any CLP")
                })?;
                let el = seg.get(1);
                let qualifier = seg.comp(1, 1).to_string();
                let code = seg.comp(1, 2);
                // A composite not split by ISA16 (e.g. "HC>12345>26" in one
                // corpus file) keeps its whole text as the code.
                let code = if code.is_empty() {
                    qualifier.clone()
                } else {
                    code.to_string()
                };
                let modifiers = el
                    .and_then(|e| e.0.first())
                    .map(|c| {
                        c.iter()
                            .skip(2)
                            .filter(|m| !m.is_empty())
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                claim.services.push(ServicePayment {
                    qualifier,
                    code,
                    modifiers,
                    charge: seg.decimal(2)?,
                    paid: seg.decimal(3)?,
                    units: seg.decimal_opt(5)?,
                    service_date: None,
                    adjustments: Vec::new(),
                    line_control_number: None,
                });
            }
            "CAS" => {
                let adj = cas(seg)?;
                let claim = r.claims.last_mut().ok_or_else(|| {
                    X12Error::segment(seg.position, "CAS", "adjustment before any CLP")
                })?;
                match claim.services.last_mut() {
                    Some(svc) => svc.adjustments.extend(adj),
                    None => claim.adjustments.extend(adj),
                }
            }
            "NM1" if seg.el(1) == "QC" => {
                if let Some(c) = r.claims.last_mut() {
                    c.patient_name = person_name(seg);
                    c.patient_id = opt(seg.el(9));
                }
            }
            "DTM" if matches!(seg.el(1), "472" | "150") => {
                let date = seg.date(2)?;
                if let Some(svc) = r.claims.last_mut().and_then(|c| c.services.last_mut()) {
                    svc.service_date.get_or_insert(date);
                }
            }
            "REF" if seg.el(1) == "6R" => {
                if let Some(svc) = r.claims.last_mut().and_then(|c| c.services.last_mut()) {
                    svc.line_control_number = opt(seg.el(2));
                }
            }
            "PLB" => {
                let provider_id = seg.required(1)?.to_string();
                let date = opt(seg.el(2)).and_then(|d| crate::dates::x12_to_fhir_date(&d));
                for k in 0..6 {
                    let n = 3 + k * 2;
                    let reason = seg.comp(n, 1);
                    if reason.is_empty() {
                        continue;
                    }
                    r.provider_adjustments.push(ProviderAdjustment {
                        provider_id: provider_id.clone(),
                        date: date.clone(),
                        reason: reason.to_string(),
                        reference: opt(seg.comp(n, 2)),
                        amount: seg.decimal(n + 1)?,
                    });
                }
            }
            _ => {}
        }
    }
    if !saw_bpr {
        return Err(X12Error::segment(
            set.st.position,
            "ST",
            "835 has no BPR segment",
        ));
    }
    if r.trace_number.is_empty() {
        return Err(X12Error::segment(
            set.st.position,
            "ST",
            "835 has no TRN segment",
        ));
    }
    Ok(r)
}
