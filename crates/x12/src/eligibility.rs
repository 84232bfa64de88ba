//! 270 eligibility inquiry from FHIR and 271 response to FHIR
//! (005010X279A1).

use serde_json::{Value, json};

use crate::dates::fhir_to_x12_date;
use crate::decimal::Decimal;
use crate::delimiters::Delimiters;
use crate::error::X12Error;
use crate::fhir::{self, arr, codings, str_at};
use crate::ids::stable_id;
use crate::p837::{ExportError, clean};
use crate::reader::read_lenient;
use crate::segment::{Element, Segment};
use crate::writer::{EnvelopeParams, SetBody, write_interchange};

pub const VERSION_270: &str = "005010X279A1";
pub const SERVICE_TYPE_SYSTEM: &str = "https://x12.org/codes/service-type-codes";
pub const EB01_SYSTEM: &str = "urn:hms:x12:eligibility-benefit-information-code";
pub const AAA_SYSTEM: &str = "urn:hms:x12:aaa-reject-reason-code";

fn seg(id: &str, els: &[&str]) -> Segment {
    Segment::new(id, els.iter().map(|s| s.to_string()))
}

fn name_nm1(code: &str, res: &Value, qual: &str, id: &str, d: &Delimiters) -> Segment {
    let n = fhir::name_parts(res);
    let (kind, last, first, middle) = match &n {
        Some(n) => (
            if n.is_person { "1" } else { "2" },
            clean(&n.last, 60, d),
            clean(&n.first, 35, d),
            clean(&n.middle, 25, d),
        ),
        None => ("1", String::new(), String::new(), String::new()),
    };
    seg(
        "NM1",
        &[
            code,
            kind,
            &last,
            &first,
            &middle,
            "",
            "",
            if id.is_empty() { "" } else { qual },
            &clean(id, 80, d),
        ],
    )
}

fn dmg(res: &Value) -> Option<Segment> {
    let b = str_at(res, &["birthDate"]).and_then(fhir_to_x12_date)?;
    let g = match str_at(res, &["gender"]) {
        Some("male") => "M",
        Some("female") => "F",
        Some(_) => "U",
        None => "",
    };
    Some(seg("DMG", &["D8", &b, g]))
}

/// Build a 270 inquiry. The patient is the subscriber unless
/// Coverage.subscriber points elsewhere (then a 2000D dependent loop is used
/// and the subscriber is identified by member id only).
pub fn build_270(
    request: &Value,
    patient: &Value,
    coverage: &Value,
    provider: &Value,
    env: &EnvelopeParams,
) -> Result<String, ExportError> {
    let d = Delimiters::default();
    let trace = arr(request, "identifier")
        .first()
        .and_then(|i| str_at(i, &["value"]))
        .or_else(|| str_at(request, &["id"]))
        .ok_or(ExportError::Missing(
            "CoverageEligibilityRequest.identifier or id",
        ))?;
    let trace = clean(trace, 50, &d);
    let today = fhir_to_x12_date(&env.date)
        .or_else(|| crate::dates::x12_to_fhir_date(&env.date).map(|_| env.date.clone()))
        .ok_or(ExportError::Missing("envelope date"))?;
    let time: String = env.time.chars().filter(char::is_ascii_digit).collect();
    // Payer: request.insurer, else Coverage.payor[0].
    let insurer = request
        .get("insurer")
        .or_else(|| arr(coverage, "payor").first())
        .ok_or(ExportError::Missing("CoverageEligibilityRequest.insurer"))?;
    let payer_name =
        str_at(insurer, &["display"]).ok_or(ExportError::Missing("insurer.display"))?;
    let payer_id = str_at(insurer, &["identifier", "value"])
        .ok_or(ExportError::Missing("insurer.identifier"))?;
    let member = str_at(coverage, &["subscriberId"])
        .or_else(|| {
            arr(coverage, "identifier")
                .first()
                .and_then(|i| str_at(i, &["value"]))
        })
        .ok_or(ExportError::Missing("Coverage.subscriberId"))?;
    let dependent = match str_at(coverage, &["subscriber", "reference"]) {
        Some(r) => !fhir::refers_to(r, patient),
        None => false,
    } && !coverage
        .get("relationship")
        .is_some_and(|r| fhir::has_code(r, "self"));

    let mut s = vec![
        seg("BHT", &["0022", "13", &trace, &today, &time]),
        seg("HL", &["1", "", "20", "1"]),
        seg(
            "NM1",
            &[
                "PR",
                "2",
                &clean(payer_name, 60, &d),
                "",
                "",
                "",
                "",
                "PI",
                &clean(payer_id, 80, &d),
            ],
        ),
        seg("HL", &["2", "1", "21", "1"]),
    ];
    // Provider: NPI (XX) when present, else its first identifier as SV.
    let (pq, pid) = match fhir::npi(provider) {
        Some(n) => ("XX", n.to_string()),
        None => (
            "SV",
            arr(provider, "identifier")
                .first()
                .and_then(|i| str_at(i, &["value"]))
                .ok_or(ExportError::Missing("provider identifier"))?
                .to_string(),
        ),
    };
    s.push(name_nm1("1P", provider, pq, &pid, &d));
    s.push(seg(
        "HL",
        &["3", "2", "22", if dependent { "1" } else { "0" }],
    ));
    let originator = fhir::tin(provider)
        .map(|t| format!("1{}", t.replace('-', "")))
        .unwrap_or_else(|| clean(env.sender_id.trim(), 10, &d));
    let trn = seg("TRN", &["1", &trace, &originator]);
    let date = str_at(request, &["servicedDate"])
        .or_else(|| str_at(request, &["servicedPeriod", "start"]))
        .or_else(|| str_at(request, &["created"]))
        .and_then(fhir_to_x12_date);
    // EQ01: X12 service type codes from item.category, else 30 (health benefit plan coverage).
    let mut stc: Vec<String> = arr(request, "item")
        .iter()
        .filter_map(|i| i.get("category"))
        .flat_map(|c| codings(c).into_iter())
        .filter(|(sys, _)| *sys == SERVICE_TYPE_SYSTEM)
        .map(|(_, c)| c.to_string())
        .collect();
    if stc.is_empty() {
        stc.push("30".into());
    }
    let eq = Segment {
        id: "EQ".into(),
        elements: vec![Element(stc.into_iter().map(|c| vec![c]).collect())],
        position: 0,
    };
    if dependent {
        s.push(seg(
            "NM1",
            &["IL", "1", "", "", "", "", "", "MI", &clean(member, 80, &d)],
        ));
        s.push(seg("HL", &["4", "3", "23", "0"]));
        s.push(trn);
        let mut nm = name_nm1("03", patient, "", "", &d);
        nm.elements.truncate(5);
        s.push(nm);
    } else {
        s.push(trn);
        s.push(name_nm1("IL", patient, "MI", member, &d));
    }
    if let Some(dm) = dmg(patient) {
        s.push(dm);
    }
    if let Some(dt) = date {
        s.push(seg("DTP", &["291", "D8", &dt]));
    }
    s.push(eq);
    Ok(write_interchange(
        env,
        "HS",
        VERSION_270,
        &[SetBody {
            code: "270".into(),
            segments: s,
        }],
        &d,
    )?)
}

fn benefit_type(eb01: &str) -> Option<&'static str> {
    match eb01 {
        "1" | "6" => Some("benefit"),
        "A" => Some("copay-percent"),
        "B" => Some("copay"),
        "C" => Some("deductible"),
        "G" => Some("copay-maximum"),
        _ => None,
    }
}

fn network(eb12: &str) -> Option<Value> {
    let code = match eb12 {
        "Y" => "in",
        "N" => "out",
        _ => return None,
    };
    Some(
        json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/benefit-network", "code": code}]}),
    )
}

fn eb_item(eb: &Segment) -> Result<Value, X12Error> {
    let code = eb.required(1)?;
    let mut types = vec![json!({"system": EB01_SYSTEM, "code": code})];
    if let Some(t) = benefit_type(code) {
        types.push(
            json!({"system": "http://terminology.hl7.org/CodeSystem/benefit-type", "code": t}),
        );
    }
    let mut benefit = json!({"type": {"coding": types}});
    if let Some(b) = benefit.as_object_mut() {
        if let Some(m) = eb.decimal_opt(7)? {
            b.insert(
                "allowedMoney".into(),
                json!({"value": m.to_json(2), "currency": "USD"}),
            );
        } else if let Some(p) = eb.decimal_opt(8)? {
            // EB08 is a fraction (0.2 = 20%).
            b.insert(
                "allowedString".into(),
                json!(format!(
                    "{}%",
                    p.checked_mul(Decimal::from_int(100)).unwrap_or(p).to_x12()
                )),
            );
        }
    }
    let mut item = json!({"benefit": [benefit]});
    if let Some(o) = item.as_object_mut() {
        let stc: Vec<Value> = eb
            .repeats(3)
            .into_iter()
            .map(|c| json!({"system": SERVICE_TYPE_SYSTEM, "code": c}))
            .collect();
        if !stc.is_empty() {
            o.insert("category".into(), json!({"coding": stc}));
        }
        if !eb.el(5).is_empty() {
            o.insert("name".into(), json!(eb.el(5)));
        }
        if let Some(n) = network(eb.el(12)) {
            o.insert("network".into(), n);
        }
        match eb.el(2) {
            "IND" => {
                o.insert("unit".into(), json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/benefit-unit", "code": "individual"}]}));
            }
            "FAM" => {
                o.insert("unit".into(), json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/benefit-unit", "code": "family"}]}));
            }
            _ => {}
        }
        if eb.el(1) == "6" || eb.el(1) == "E" {
            o.insert("excluded".into(), json!(true));
        }
    }
    Ok(item)
}

/// Parse a 271 into a FHIR R4 CoverageEligibilityResponse. Envelope
/// control-number/count mismatches are tolerated (a rejection must still be
/// surfaced); syntax errors are not.
pub fn parse_271(text: &str) -> Result<Value, X12Error> {
    let doc = read_lenient(text)?;
    let set = doc
        .interchanges
        .iter()
        .flat_map(|i| i.sets())
        .next()
        .ok_or_else(|| X12Error::UnexpectedEnd("no transaction set".into()))?;
    if set.code() != "271" {
        return Err(X12Error::WrongTransaction {
            expected: "271".into(),
            found: set.code().into(),
        });
    }
    let mut created = None;
    let mut payer = json!({});
    let mut patient = json!({});
    let mut member: Option<String> = None;
    let mut trace: Option<String> = None;
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut inforce = None;
    let mut in_2120 = false;
    let mut last_nm1 = String::new();
    for s in &set.body {
        match s.id.as_str() {
            "BHT" => created = Some(s.date(4)?),
            "LS" => in_2120 = true,
            "LE" => in_2120 = false,
            "NM1" if !in_2120 => {
                last_nm1 = s.el(1).to_string();
                let name: Vec<&str> = [s.el(4), s.el(3)]
                    .into_iter()
                    .filter(|x| !x.is_empty())
                    .collect();
                match s.el(1) {
                    "PR" => payer = json!({"display": s.el(3), "identifier": {"value": s.el(9)}}),
                    "IL" => {
                        member = Some(s.el(9).to_string()).filter(|m| !m.is_empty());
                        patient =
                            json!({"identifier": {"value": s.el(9)}, "display": name.join(" ")});
                    }
                    // Dependent: the patient is NM1*03 (member id stays the subscriber's).
                    "03" => patient = json!({"display": name.join(" ")}),
                    _ => {}
                }
            }
            "TRN" if trace.is_none() => trace = Some(s.el(2).to_string()),
            "EB" if !in_2120 => {
                match s.el(1) {
                    "1" => inforce = Some(true),
                    "6" if inforce.is_none() => inforce = Some(false),
                    _ => {}
                }
                items.push(eb_item(s)?);
            }
            "AAA" => {
                let reason = s.required(3)?;
                errors.push(json!({"code": {
                    "coding": [{"system": AAA_SYSTEM, "code": reason}],
                    "text": format!("AAA at loop of NM1*{last_nm1}: valid request {}, reject reason {reason}, follow-up {}", s.el(1), s.el(4))
                }}));
            }
            _ => {}
        }
    }
    let created =
        created.ok_or_else(|| X12Error::segment(set.st.position, "ST", "271 has no BHT"))?;
    let id = stable_id(
        "x271-",
        &[
            payer["identifier"]["value"].as_str().unwrap_or(""),
            trace.as_deref().unwrap_or(""),
            set.st.el(2),
        ],
    );
    let mut out = json!({
        "resourceType": "CoverageEligibilityResponse",
        "id": id,
        "status": "active",
        "purpose": ["benefits"],
        "patient": patient,
        "created": created,
        "request": {"identifier": {"value": trace.clone().unwrap_or_default()}},
        "outcome": if errors.is_empty() { "complete" } else if items.is_empty() { "error" } else { "partial" },
        "insurer": payer,
    });
    if let Some(o) = out.as_object_mut() {
        if !items.is_empty() || member.is_some() {
            let mut ins =
                json!({"coverage": {"identifier": {"value": member.clone().unwrap_or_default()}}});
            if let Some(io) = ins.as_object_mut() {
                if let Some(f) = inforce {
                    io.insert("inforce".into(), json!(f));
                }
                if !items.is_empty() {
                    io.insert("item".into(), json!(items));
                }
            }
            o.insert("insurance".into(), json!([ins]));
        }
        if !errors.is_empty() {
            o.insert("error".into(), json!(errors));
        }
    }
    Ok(out)
}
