//! SIU (SCH / TQ1 / RGS / AIS / AIG / AIL / AIP) → Appointment.

use serde_json::{Map, Value, json};

use super::dtm::{Dtm, parse_dtm};
use super::patient::upsert_patient;
use super::types::{Seg, codeable, ei, location, put, rc, xcn_reference};
use super::{BundleBuilder, Ctx, MapError};

/// Filler status (table 0278) → Appointment.status.
fn appointment_status(code: &str) -> Option<&'static str> {
    Some(match code.to_ascii_lowercase().as_str() {
        "booked" | "overbook" | "confirmed" => "booked",
        "pending" => "pending",
        "waitlist" => "waitlist",
        "cancelled" | "canceled" => "cancelled",
        "noshow" => "noshow",
        "complete" => "fulfilled",
        "started" => "arrived",
        "deleted" => "entered-in-error",
        _ => return None,
    })
}

/// Resource filler status (AIx-12, table 0278) → participant status.
fn participant_status(code: Option<&str>, appt: &str) -> &'static str {
    match code.map(str::to_ascii_lowercase).as_deref() {
        Some("booked" | "confirmed" | "complete" | "started" | "overbook") => "accepted",
        Some("pending" | "waitlist") => "tentative",
        Some("cancelled" | "canceled" | "deleted" | "noshow") => "declined",
        _ if matches!(appt, "cancelled" | "noshow") => "declined",
        _ => "accepted",
    }
}

/// Duration in minutes from a value and CNE units (min, h, s, d).
fn minutes(value: Option<String>, units: Option<String>) -> Option<i64> {
    let v: i64 = value?.trim().parse().ok()?;
    match units.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("min" | "m" | "minutes" | "minute") => Some(v),
        Some("h" | "hr" | "hour" | "hours") => Some(v * 60),
        Some("d" | "day" | "days") => Some(v * 1440),
        Some("s" | "sec" | "seconds") if v % 60 == 0 => Some(v / 60),
        _ => None,
    }
}

pub(crate) fn upsert_appointment(
    ctx: &mut Ctx<'_>,
    b: &mut BundleBuilder,
) -> Result<Option<(String, String)>, MapError> {
    let msg = ctx.msg;
    let Some(sch) = ctx.seg("SCH") else {
        return Err(MapError {
            segment: "SCH".into(),
            sequence: 1,
            field: 0,
            component: None,
            code: 100,
            message: "SCH segment missing".into(),
        });
    };
    let placer = ei(ctx, &sch.f(1).repetition(1));
    let filler = ei(ctx, &sch.f(2).repetition(1));
    // Filler id (the scheduling system's own id) is the upsert key, placer the fallback.
    let (sys, val) = filler.clone().or_else(|| placer.clone()).ok_or_else(|| {
        sch.err(
            2,
            None,
            101,
            "SCH-1 and SCH-2 (appointment ids) are both empty".into(),
        )
    })?;
    let off = ctx.cfg.default_offset.clone();
    let parse = |seg: &Seg<'_>, n: usize, c: Option<usize>| -> Result<Option<Dtm>, MapError> {
        let raw = match c {
            None => seg.v(n),
            Some(c) => rc(&seg.f(n).repetition(1), c),
        };
        raw.map(|v| {
            parse_dtm(&v).map_err(|e| seg.err(n, c, 102, format!("{}-{n}: {e}", seg.seg.id())))
        })
        .transpose()
    };
    // Start/end: TQ1-7/8, else SCH-11.4/.5 (TQ), else first AIS/AIG/AIL/AIP start + duration.
    let mut start = None;
    let mut end = None;
    if let Some(tq1) = ctx.seg("TQ1") {
        start = parse(&tq1, 7, None)?;
        end = parse(&tq1, 8, None)?;
    }
    if start.is_none() {
        start = parse(&sch, 11, Some(4))?;
        end = parse(&sch, 11, Some(5))?;
    }
    if start.is_none() {
        for (id, s, d, u) in [
            ("AIS", 4, 7, 8),
            ("AIG", 8, 11, 12),
            ("AIL", 6, 9, 10),
            ("AIP", 6, 9, 10),
        ] {
            if let Some(seg) = msg.segment(id) {
                let seg = Seg { seg, seq: 1 };
                if let Some(st) = parse(&seg, s, None)? {
                    end = minutes(seg.v(d), rc(&seg.f(u).repetition(1), 1))
                        .map(|m| st.add_minutes(m));
                    start = Some(st);
                    break;
                }
            }
        }
    }
    let event = ctx.event.clone();
    let status = match event.as_str() {
        "S15" => "cancelled",
        "S26" => "noshow",
        _ => sch
            .v(25)
            .and_then(|s| appointment_status(&s))
            .filter(|s| !matches!(*s, "cancelled" | "noshow"))
            .unwrap_or("booked"),
    };
    let mut a = Map::new();
    a.insert("resourceType".into(), json!("Appointment"));
    let mut ids = Vec::new();
    let ty = |code: &str| json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": code}]});
    if let Some((s, v)) = &placer {
        ids.push(json!({"type": ty("PLAC"), "system": s, "value": v}));
    }
    if let Some((s, v)) = &filler {
        ids.push(json!({"type": ty("FILL"), "system": s, "value": v}));
    }
    a.insert("identifier".into(), Value::Array(ids));
    a.insert("status".into(), json!(status));
    put(
        &mut a,
        "appointmentType",
        codeable(
            &sch.f(8).repetition(1),
            Some("http://terminology.hl7.org/CodeSystem/v2-0277"),
        )
        .unwrap_or(Value::Null),
    );
    let reason: Vec<Value> = codeable(
        &sch.f(7).repetition(1),
        Some("http://terminology.hl7.org/CodeSystem/v2-0276"),
    )
    .into_iter()
    .collect();
    put(&mut a, "reasonCode", Value::Array(reason));
    if let Some(st) = &start {
        a.insert("start".into(), json!(st.fhir_instant(&off)));
    }
    if let Some(en) = &end {
        a.insert("end".into(), json!(en.fhir_instant(&off)));
    }
    if let Some(m) = minutes(sch.v(9), rc(&sch.f(10).repetition(1), 1)) {
        a.insert("minutesDuration".into(), json!(m));
    }
    let comments: Vec<String> = msg
        .all_segments()
        .skip_while(|s| s.id() != "SCH")
        .skip(1)
        .take_while(|s| matches!(s.id(), "TQ1" | "NTE"))
        .filter(|s| s.id() == "NTE")
        .filter_map(|s| s.field(3).value())
        .collect();
    if !comments.is_empty() {
        a.insert("comment".into(), json!(comments.join("\n")));
    }
    let mut participants = Vec::new();
    let mut contained = Vec::new();
    let mut patient_key = None;
    if let Some(pid) = ctx.seg("PID") {
        let (key, urn) = upsert_patient(ctx, b, pid, &[])?;
        patient_key = Some(key);
        participants.push(json!({"actor": {"reference": urn}, "required": "required", "status": participant_status(None, status)}));
    }
    for seg in msg.segments("AIP") {
        let st = participant_status(nonempty_field(seg, 12).as_deref(), status);
        for r in seg.field(3).repetitions() {
            if let Some(actor) = xcn_reference(ctx, &r) {
                let mut p = Map::new();
                put(
                    &mut p,
                    "type",
                    json!(
                        codeable(&seg.field(4).repetition(1), None)
                            .into_iter()
                            .collect::<Vec<_>>()
                    ),
                );
                p.insert("actor".into(), actor);
                p.insert("status".into(), json!(st));
                participants.push(Value::Object(p));
            }
        }
    }
    for seg in msg.segments("AIL") {
        let st = participant_status(nonempty_field(seg, 12).as_deref(), status);
        if let Some(mut l) = location(ctx, &seg.field(3).repetition(1)) {
            let id = format!("loc{}", contained.len() + 1);
            if let Some(o) = l.as_object_mut() {
                o.insert("id".into(), json!(id));
            }
            let name = l.get("name").cloned().unwrap_or(Value::Null);
            contained.push(l);
            participants.push(
                json!({"actor": {"reference": format!("#{id}"), "display": name}, "status": st}),
            );
        }
    }
    for seg in msg.segments("AIG") {
        let st = participant_status(nonempty_field(seg, 14).as_deref(), status);
        let r = seg.field(3).repetition(1);
        if let Some(name) = rc(&r, 2).or_else(|| rc(&r, 1)) {
            let mut actor = Map::new();
            if let Some(id) = rc(&r, 1) {
                actor.insert("identifier".into(), json!({"value": id}));
            }
            actor.insert("display".into(), json!(name));
            participants.push(json!({"actor": actor, "status": st}));
        }
    }
    if !contained.is_empty() {
        // `contained` belongs before the other elements for readability only.
        let mut with = Map::new();
        with.insert("resourceType".into(), json!("Appointment"));
        with.insert("contained".into(), Value::Array(contained));
        for (k, v) in a.into_iter().skip(1) {
            with.insert(k, v);
        }
        a = with;
    }
    put(&mut a, "participant", Value::Array(participants));
    b.upsert("Appointment", &sys, &val, Value::Object(a));
    Ok(patient_key)
}

fn nonempty_field(seg: &crate::message::Segment, n: usize) -> Option<String> {
    super::types::nonempty(seg.field(n).component(1).value())
}
