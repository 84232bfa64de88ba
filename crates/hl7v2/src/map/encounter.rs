//! PV1 / PV2 → Encounter, status driven by the ADT event.

use serde_json::{Map, Value, json};

use super::dtm::parse_dtm;
use super::types::{Seg, codeable, cx, location, put, rc, xcn_reference};
use super::{BundleBuilder, Ctx, MapError};

const ACT: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

/// PV1-2 (table 0004) → v3 ActCode. R (recurring) is mapped to AMB: a series of
/// outpatient visits. B (obstetrics) to IMP. Unknown classes → v3 NullFlavor UNK.
fn class_code(pv1_2: &str) -> Option<(&'static str, &'static str)> {
    Some(match pv1_2 {
        "I" | "B" => ("IMP", "inpatient encounter"),
        "O" | "R" => ("AMB", "ambulatory"),
        "E" => ("EMER", "emergency"),
        "P" => ("PRENC", "pre-admission"),
        _ => return None,
    })
}

fn participant(ctx: &Ctx<'_>, pv1: Seg<'_>, field: usize, code: &str, display: &str) -> Vec<Value> {
    pv1.f(field)
        .repetitions()
        .filter_map(|r| xcn_reference(ctx, &r))
        .map(|who| {
            json!({
                "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": code, "display": display}]}],
                "individual": who
            })
        })
        .collect()
}

pub(crate) fn upsert_encounter(
    ctx: &mut Ctx<'_>,
    b: &mut BundleBuilder,
    patient_ref: &str,
) -> Result<(), MapError> {
    let event = ctx.event.clone();
    let Some(pv1) = ctx.seg("PV1") else {
        if event == "A08" {
            return Ok(());
        }
        return Err(MapError {
            segment: "PV1".into(),
            sequence: 1,
            field: 0,
            component: None,
            code: 100,
            message: format!("PV1 segment missing in {event}"),
        });
    };
    let Some((ident, sys, val)) = cx(ctx, &pv1.f(19).repetition(1)) else {
        // Without a visit number there is no idempotent key.
        if matches!(event.as_str(), "A01" | "A04" | "A05" | "A08") {
            ctx.warnings.push(format!(
                "PV1-19 (visit number) empty: no Encounter upserted for {event}"
            ));
            return Ok(());
        }
        return Err(pv1.err(
            19,
            None,
            101,
            "PV1-19 (visit number) is required for this event".into(),
        ));
    };
    let off = ctx.cfg.default_offset.clone();
    let dt = |n: usize, what: &str| -> Result<Option<String>, MapError> {
        match pv1.v(n) {
            None => Ok(None),
            Some(v) => parse_dtm(&v)
                .map(|d| Some(d.fhir_datetime(&off)))
                .map_err(|e| pv1.err(n, None, 102, format!("PV1-{n} {what}: {e}"))),
        }
    };
    let start = dt(44, "admit date/time")?;
    let mut end = dt(45, "discharge date/time")?;
    let status = match event.as_str() {
        "A01" | "A02" | "A06" | "A07" | "A12" | "A13" => "in-progress",
        "A04" => "arrived",
        "A05" => "planned",
        "A03" => "finished",
        "A11" => "cancelled",
        // A08: no event semantics, derive from the data.
        _ if end.is_some() => "finished",
        _ if start.is_some() => "in-progress",
        _ if pv1.v(2).as_deref() == Some("P") => "planned",
        _ => "unknown",
    };
    if event == "A03"
        && end.is_none()
        && let Some(evn) = ctx.seg("EVN")
        && let Some(v) = evn.v(2)
    {
        let d = parse_dtm(&v).map_err(|e| evn.err(2, None, 102, format!("EVN-2: {e}")))?;
        end = Some(d.fhir_datetime(&off));
    }
    if event == "A13" {
        end = None; // cancel discharge: the encounter is open again
    }
    let mut e = Map::new();
    e.insert("resourceType".into(), json!("Encounter"));
    let mut contained = Vec::new();
    let mut locations = Vec::new();
    let loc_status = if status == "finished" {
        "completed"
    } else {
        "active"
    };
    for (n, st) in [(3, loc_status), (6, "completed")] {
        // PV1-6 prior location is only meaningful for transfers.
        if n == 6 && !matches!(event.as_str(), "A02" | "A12") {
            continue;
        }
        if let Some(mut l) = location(ctx, &pv1.f(n).repetition(1)) {
            let id = format!("loc{}", contained.len() + 1);
            if let Some(o) = l.as_object_mut() {
                o.insert("id".into(), json!(id));
            }
            let name = l.get("name").cloned().unwrap_or(Value::Null);
            contained.push(l);
            locations.push(
                json!({"location": {"reference": format!("#{id}"), "display": name}, "status": st}),
            );
        }
    }
    put(&mut e, "contained", Value::Array(contained));
    put(&mut e, "identifier", json!([ident]));
    e.insert("status".into(), json!(status));
    let pc = pv1.v(2).unwrap_or_default();
    let class = match ctx.cfg.class_overrides.get(&pc) {
        Some(code) => json!({"system": ACT, "code": code}),
        None => match class_code(&pc) {
            Some((code, display)) => json!({"system": ACT, "code": code, "display": display}),
            None => {
                if !pc.is_empty() {
                    ctx.warnings
                        .push(format!("PV1-2 {pc:?} not in table 0004: class UNK"));
                }
                json!({"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "UNK"})
            }
        },
    };
    e.insert("class".into(), class);
    if let Some(svc) = rc(&pv1.f(10).repetition(1), 1) {
        e.insert(
            "serviceType".into(),
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0069", "code": svc}]}),
        );
    }
    e.insert("subject".into(), json!({"reference": patient_ref}));
    let mut parts = Vec::new();
    parts.extend(participant(ctx, pv1, 7, "ATND", "attender"));
    parts.extend(participant(ctx, pv1, 8, "REF", "referrer"));
    parts.extend(participant(ctx, pv1, 9, "CON", "consultant"));
    parts.extend(participant(ctx, pv1, 17, "ADM", "admitter"));
    put(&mut e, "participant", Value::Array(parts));
    let mut period = Map::new();
    put(
        &mut period,
        "start",
        start.map_or(Value::Null, Value::String),
    );
    put(&mut period, "end", end.map_or(Value::Null, Value::String));
    put(&mut e, "period", Value::Object(period));
    if let Some(pv2) = ctx.seg("PV2") {
        let reason: Vec<Value> = codeable(&pv2.f(3).repetition(1), None)
            .into_iter()
            .collect();
        put(&mut e, "reasonCode", Value::Array(reason));
    }
    let mut hosp = Map::new();
    if let Some(src) = rc(&pv1.f(14).repetition(1), 1) {
        hosp.insert("admitSource".into(), json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0023", "code": src}]}));
    }
    if let Some(dd) = rc(&pv1.f(36).repetition(1), 1) {
        hosp.insert(
            "dischargeDisposition".into(),
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0112", "code": dd}]}),
        );
    }
    put(&mut e, "hospitalization", Value::Object(hosp));
    put(&mut e, "location", Value::Array(locations));
    b.upsert("Encounter", &sys, &val, Value::Object(e));
    Ok(())
}
