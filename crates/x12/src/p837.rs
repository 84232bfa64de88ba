//! FHIR Claim -> 837P (005010X222A1).

use serde_json::Value;
use thiserror::Error;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::claim::{ClaimExportInput, ClaimView};
use crate::dates::fhir_to_x12_date;
use crate::delimiters::Delimiters;
use crate::error::WriteError;
use crate::fhir::{self, NUCC_TAXONOMY, arr, codings, has_code, str_at};
use crate::scrub::{Edit, Severity, scrub_claim};
use crate::segment::{Element, Segment};
use crate::writer::{EnvelopeParams, SetBody, write_interchange};

pub const VERSION_837P: &str = "005010X222A1";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExportError {
    #[error("claim has {} error edit(s); first: {}", .0.len(), .0.first().map(|e| format!("{} at {}: {}", e.code, e.expression, e.message)).unwrap_or_default())]
    Rejected(Vec<Edit>),
    #[error("cannot write 837P: {0}")]
    Write(#[from] WriteError),
    #[error("missing {0}")]
    Missing(&'static str),
}

/// Folds text into X12's extended character set (printable ASCII): accents are dropped
/// ("Godínez" → "Godinez"), a few letters are spelled out (ß → ss, æ → ae, ø → o), anything
/// else becomes a space. pyx12 (and payers) reject other bytes.
fn fold_to_x12_charset(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfd().filter(|c| !is_combining_mark(*c)) {
        match c {
            ' '..='~' => out.push(c),
            'ß' => out.push_str("ss"),
            'æ' => out.push_str("ae"),
            'Æ' => out.push_str("AE"),
            'œ' => out.push_str("oe"),
            'Œ' => out.push_str("OE"),
            'ø' => out.push('o'),
            'Ø' => out.push('O'),
            'đ' => out.push('d'),
            'Đ' => out.push('D'),
            'ł' => out.push('l'),
            'Ł' => out.push('L'),
            _ => out.push(' '),
        }
    }
    out
}

/// Make free text safe for X12: folded to the X12 character set, delimiters and control
/// characters become spaces, runs of spaces collapse, and the text is cut to `max` characters.
pub fn clean(s: &str, max: usize, d: &Delimiters) -> String {
    let replaced: String = fold_to_x12_charset(s)
        .chars()
        .map(|c| {
            if d.is_reserved(c) || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    replaced
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect()
}

fn seg(id: &str, els: &[&str]) -> Segment {
    Segment::new(id, els.iter().map(|s| s.to_string()))
}

fn gender(res: &Value) -> &'static str {
    match str_at(res, &["gender"]) {
        Some("male") => "M",
        Some("female") => "F",
        _ => "U",
    }
}

/// NM1 for a person or organization: NM1*code*1|2*last*first*middle***qual*id.
fn nm1(
    code: &str,
    res: &Value,
    qual: &str,
    id: &str,
    d: &Delimiters,
) -> Result<Segment, ExportError> {
    let n = fhir::name_parts(res).ok_or(ExportError::Missing("name"))?;
    let kind = if n.is_person { "1" } else { "2" };
    Ok(seg(
        "NM1",
        &[
            code,
            kind,
            &clean(&n.last, 60, d),
            &clean(&n.first, 35, d),
            &clean(&n.middle, 25, d),
            "",
            "",
            if id.is_empty() { "" } else { qual },
            &clean(id, 80, d),
        ],
    ))
}

/// N3/N4 from the first usable address.
fn address(res: &Value, d: &Delimiters, out: &mut Vec<Segment>) {
    let Some(a) = fhir::address(res) else {
        return;
    };
    let lines: Vec<&str> = arr(a, "line").iter().filter_map(Value::as_str).collect();
    if let Some(l1) = lines.first() {
        let l2 = lines.get(1).copied().unwrap_or("");
        out.push(seg("N3", &[&clean(l1, 55, d), &clean(l2, 55, d)]));
    }
    let zip: String = str_at(a, &["postalCode"])
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let country = str_at(a, &["country"]).unwrap_or("");
    // Country code only for non-US addresses (N404 is situational).
    let us = country.is_empty() || matches!(country, "US" | "USA" | "United States");
    out.push(seg(
        "N4",
        &[
            &clean(str_at(a, &["city"]).unwrap_or(""), 30, d),
            &clean(str_at(a, &["state"]).unwrap_or(""), 2, d),
            &zip,
            if us { "" } else { country },
        ],
    ));
}

fn taxonomy(res: &Value) -> Option<String> {
    arr(res, "qualification").iter().find_map(|q| {
        let cc = q.get("code")?;
        codings(cc)
            .into_iter()
            .find(|(s, _)| *s == NUCC_TAXONOMY)
            .map(|(_, c)| c.to_string())
    })
}

/// SBR02/PAT01 individual relationship code from Coverage.relationship.
fn relationship_code(coverage: &Value) -> &'static str {
    let Some(r) = coverage.get("relationship") else {
        return "21";
    };
    if has_code(r, "spouse") {
        "01"
    } else if has_code(r, "child") {
        "19"
    } else if has_code(r, "common") {
        "53"
    } else {
        "G8"
    }
}

/// SBR09 claim filing indicator: an X12 code given directly in Coverage.type,
/// else a small mapping, else CI (commercial).
fn filing_indicator(coverage: &Value) -> String {
    const X12: &[&str] = &[
        "11", "12", "13", "14", "15", "16", "17", "AM", "BL", "CH", "CI", "DS", "FI", "HM", "LM",
        "MA", "MB", "MC", "OF", "TV", "VA", "WC", "ZZ",
    ];
    let cs = coverage.get("type").map(codings).unwrap_or_default();
    if let Some((_, c)) = cs.iter().find(|(_, c)| X12.contains(c)) {
        return c.to_string();
    }
    for (_, c) in &cs {
        match *c {
            "MCPOL" | "medicare" => return "MB".into(),
            "MCDPOL" | "medicaid" => return "MC".into(),
            "HMO" => return "HM".into(),
            _ => {}
        }
    }
    "CI".into()
}

/// SBR01 payer responsibility from Coverage.order (1 P, 2 S, 3 T).
fn responsibility(coverage: &Value) -> &'static str {
    match coverage.get("order").and_then(Value::as_u64) {
        Some(2) => "S",
        Some(3) => "T",
        _ => "P",
    }
}

fn group_number(coverage: &Value) -> Option<String> {
    arr(coverage, "class").iter().find_map(|c| {
        c.get("type")
            .is_some_and(|t| has_code(t, "group"))
            .then(|| str_at(c, &["value"]).map(str::to_string))
            .flatten()
    })
}

fn date_or_range(from: &str, to: Option<&str>) -> Option<(&'static str, String)> {
    let f = fhir_to_x12_date(from)?;
    match to.and_then(fhir_to_x12_date) {
        Some(t) if t != f => Some(("RD8", format!("{f}-{t}"))),
        _ => Some(("D8", f)),
    }
}

/// Build an 837P interchange for one claim. Refuses claims with error edits.
pub fn build_837p(input: &ClaimExportInput, env: &EnvelopeParams) -> Result<String, ExportError> {
    let today = if env.date.len() == 8 && !env.date.contains('-') {
        crate::dates::x12_to_fhir_date(&env.date).unwrap_or_default()
    } else {
        env.date.clone()
    };
    let edits = scrub_claim(input, &today);
    let errors: Vec<Edit> = edits
        .into_iter()
        .filter(|e| e.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        return Err(ExportError::Rejected(errors));
    }
    let d = Delimiters::default();
    let v = ClaimView::new(input);
    let billing = v.billing.ok_or(ExportError::Missing("billing provider"))?;
    let patient = v.patient.ok_or(ExportError::Missing("patient"))?;
    let coverage = v.coverage.ok_or(ExportError::Missing("coverage"))?;
    let subscriber = v.subscriber.ok_or(ExportError::Missing("subscriber"))?;
    let pcn = v
        .patient_control_number()
        .ok_or(ExportError::Missing("patient control number"))?;
    let pcn = clean(&pcn, 20, &d);
    let (payer_name, payer_id) = v.payer_name_id();
    let payer_name = payer_name.ok_or(ExportError::Missing("payer name"))?;
    let payer_id = payer_id.ok_or(ExportError::Missing("payer id"))?;
    let total = v.line_total().ok_or(ExportError::Missing("line charges"))?;
    let (claim_pos, _) = v
        .claim_pos
        .clone()
        .ok_or(ExportError::Missing("place of service"))?;
    let date8 = fhir_to_x12_date(&today).ok_or(ExportError::Missing("envelope date"))?;
    let time: String = env.time.chars().filter(char::is_ascii_digit).collect();

    let mut s: Vec<Segment> = Vec::new();
    s.push(seg("BHT", &["0019", "00", &pcn, &date8, &time, "CH"]));

    // 1000A submitter = billing provider; 1000B receiver = payer.
    let bill_name =
        fhir::name_parts(billing).ok_or(ExportError::Missing("billing provider name"))?;
    let submitter_kind = if bill_name.is_person { "1" } else { "2" };
    s.push(seg(
        "NM1",
        &[
            "41",
            submitter_kind,
            &clean(&bill_name.last, 60, &d),
            &clean(&bill_name.first, 35, &d),
            "",
            "",
            "",
            "46",
            &clean(env.sender_id.trim(), 80, &d),
        ],
    ));
    let (cq, cv) = fhir::contact(billing).ok_or(ExportError::Missing("submitter contact"))?;
    s.push(seg(
        "PER",
        &[
            "IC",
            &clean(&bill_name.last, 60, &d),
            cq,
            &clean(&cv, 256, &d),
        ],
    ));
    s.push(seg(
        "NM1",
        &[
            "40",
            "2",
            &clean(&payer_name, 60, &d),
            "",
            "",
            "",
            "",
            "46",
            &clean(env.receiver_id.trim(), 80, &d),
        ],
    ));

    // 2000A / 2010AA billing provider.
    s.push(seg("HL", &["1", "", "20", "1"]));
    if let Some(t) = taxonomy(billing) {
        s.push(seg("PRV", &["BI", "PXC", &t]));
    }
    let npi = fhir::npi(billing).ok_or(ExportError::Missing("billing NPI"))?;
    s.push(nm1("85", billing, "XX", npi, &d)?);
    address(billing, &d, &mut s);
    match fhir::tin(billing) {
        Some(t) => s.push(seg("REF", &["EI", &t.replace('-', "")])),
        // A sole practitioner may bill under an SSN.
        None => {
            if let Some(ssn) = fhir::identifier(billing, &["http://hl7.org/fhir/sid/us-ssn"]) {
                s.push(seg("REF", &["SY", &ssn.replace('-', "")]));
            }
        }
    }

    // 2000B subscriber.
    let has_patient_loop = !v.subscriber_is_patient;
    s.push(seg(
        "HL",
        &["2", "1", "22", if has_patient_loop { "1" } else { "0" }],
    ));
    let group = group_number(coverage).unwrap_or_default();
    s.push(seg(
        "SBR",
        &[
            responsibility(coverage),
            if v.subscriber_is_patient { "18" } else { "" },
            &clean(&group, 50, &d),
            "",
            "",
            "",
            "",
            "",
            &filing_indicator(coverage),
        ],
    ));
    let member = v.member_id().ok_or(ExportError::Missing("member id"))?;
    s.push(nm1("IL", subscriber, "MI", &member, &d)?);
    if v.subscriber_is_patient {
        address(subscriber, &d, &mut s);
        if let Some(b) = str_at(subscriber, &["birthDate"]).and_then(fhir_to_x12_date) {
            s.push(seg("DMG", &["D8", &b, gender(subscriber)]));
        }
    }
    s.push(seg(
        "NM1",
        &[
            "PR",
            "2",
            &clean(&payer_name, 60, &d),
            "",
            "",
            "",
            "",
            "PI",
            &clean(&payer_id, 80, &d),
        ],
    ));

    // 2000C patient, only when the patient is not the subscriber.
    if has_patient_loop {
        s.push(seg("HL", &["3", "2", "23", "0"]));
        s.push(seg("PAT", &[relationship_code(coverage)]));
        s.push(nm1("QC", patient, "", "", &d)?);
        address(patient, &d, &mut s);
        if let Some(b) = str_at(patient, &["birthDate"]).and_then(fhir_to_x12_date) {
            s.push(seg("DMG", &["D8", &b, gender(patient)]));
        }
    }

    // 2300 claim.
    s.push(Segment {
        id: "CLM".into(),
        elements: vec![
            Element::simple(pcn.clone()),
            Element::simple(total.to_x12()),
            Element::default(),
            Element::default(),
            Element::composite([claim_pos.as_str(), "B", "1"]),
            Element::simple("Y"),
            Element::simple("A"),
            Element::simple("Y"),
            Element::simple("Y"),
        ],
        position: 0,
    });
    // Onset of current illness from the principal diagnosis' Condition.
    if let Some(onset) = principal_onset(&v) {
        s.push(seg("DTP", &["431", "D8", &onset]));
    }
    if let Some(pa) = v
        .claim
        .get("insurance")
        .and_then(Value::as_array)
        .and_then(|i| i.iter().find_map(|x| arr(x, "preAuthRef").first()))
        .and_then(Value::as_str)
    {
        s.push(seg("REF", &["G1", &clean(pa, 50, &d)]));
    }
    let hi: Vec<Element> = v
        .diagnoses
        .iter()
        .map(|dx| {
            let code: String = dx.code.clone().unwrap_or_default().replace('.', "");
            Element::composite([if dx.principal { "ABK" } else { "ABF" }.to_string(), code])
        })
        .collect();
    s.push(Segment {
        id: "HI".into(),
        elements: hi,
        position: 0,
    });

    // 2310B rendering provider when it is not the billing provider.
    if let Some(r) = v.rendering {
        let rnpi = fhir::npi(r).unwrap_or("");
        if rnpi != npi {
            s.push(nm1("82", r, "XX", rnpi, &d)?);
            if let Some(t) = taxonomy(r) {
                s.push(seg("PRV", &["PE", "PXC", &t]));
            }
        }
    }

    // 2400 service lines.
    for (n, l) in v.lines.iter().enumerate() {
        s.push(seg("LX", &[&(n + 1).to_string()]));
        let mut proc = vec!["HC".to_string(), l.code.clone().unwrap_or_default()];
        proc.extend(l.modifiers.iter().take(4).cloned());
        let ptrs: Vec<String> = v
            .pointers(l)
            .into_iter()
            .flatten()
            .take(4)
            .map(|p| p.to_string())
            .collect();
        let charge = l.charge.ok_or(ExportError::Missing("line charge"))?;
        // SV105 only when the line's place differs from CLM05-1 (IG rule).
        let pos = l
            .pos
            .clone()
            .filter(|p| *p != claim_pos)
            .unwrap_or_default();
        s.push(Segment {
            id: "SV1".into(),
            elements: vec![
                Element::composite(proc),
                Element::simple(charge.to_x12()),
                Element::simple("UN"),
                Element::simple(l.units.to_x12()),
                Element::simple(pos),
                Element::default(),
                Element::composite(ptrs),
            ],
            position: 0,
        });
        let from = l
            .service_from
            .as_deref()
            .ok_or(ExportError::Missing("service date"))?;
        let (fmt, val) = date_or_range(from, l.service_to.as_deref())
            .ok_or(ExportError::Missing("service date"))?;
        s.push(seg("DTP", &["472", fmt, &val]));
    }

    Ok(write_interchange(
        env,
        "HC",
        VERSION_837P,
        &[SetBody {
            code: "837".into(),
            segments: s,
        }],
        &d,
    )?)
}

fn principal_onset(v: &ClaimView<'_>) -> Option<String> {
    let principal = v.diagnoses.iter().find(|d| d.principal)?;
    let dx = arr(v.claim, "diagnosis")
        .iter()
        .find(|d| d.get("sequence").and_then(Value::as_u64) == Some(principal.sequence))?;
    let r = str_at(dx, &["diagnosisReference", "reference"])?;
    let cond = v.conditions.iter().find(|c| fhir::refers_to(r, c))?;
    str_at(cond, &["onsetDateTime"])
        .or_else(|| str_at(cond, &["onsetPeriod", "start"]))
        .and_then(fhir_to_x12_date)
}
