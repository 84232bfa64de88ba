//! PID / PD1 / NK1 → Patient; A40 merge.

use serde_json::{Map, Value, json};

use super::dtm::parse_dtm;
use super::types::{
    Seg, address, codeable, contact_point, cx, human_name, nonempty, opt, put, rc, xcn_reference,
};
use super::{BundleBuilder, Ctx, MapError, MergeInstruction};

const BIRTH_TIME: &str = "http://hl7.org/fhir/StructureDefinition/patient-birthTime";
const MAIDEN: &str = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName";

/// Table 0001 → AdministrativeGender.
fn gender(code: &str) -> Option<&'static str> {
    match code {
        "M" => Some("male"),
        "F" => Some("female"),
        "O" | "A" => Some("other"),
        "U" | "N" => Some("unknown"),
        _ => None,
    }
}

/// Table 0002 → v3 MaritalStatus (UNK/OTH from v3 NullFlavor).
fn marital(code: &str) -> Option<(&'static str, &'static str)> {
    const MS: &str = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus";
    const NF: &str = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor";
    Some(match code {
        "A" | "E" => (MS, "L"),
        "B" => (MS, "U"),
        "C" => (MS, "C"),
        "D" => (MS, "D"),
        "I" => (MS, "I"),
        "M" => (MS, "M"),
        "N" => (MS, "A"),
        "P" | "R" | "G" => (MS, "T"),
        "S" => (MS, "S"),
        "W" => (MS, "W"),
        "U" => (NF, "UNK"),
        "O" => (NF, "OTH"),
        _ => return None,
    })
}

/// Builds the Patient resource from a PID (plus PD1/NK1 of the message when
/// `with_related`). Returns the resource and its key (PID-3 first identifier).
pub(crate) fn patient_resource(
    ctx: &mut Ctx<'_>,
    pid: Seg<'_>,
    with_related: bool,
) -> Result<(Value, (String, String)), MapError> {
    let mut p = Map::new();
    p.insert("resourceType".into(), json!("Patient"));
    let mut ids = Vec::new();
    let mut key = None;
    for r in pid.f(3).repetitions() {
        if let Some((id, sys, val)) = cx(ctx, &r) {
            key.get_or_insert((sys, val));
            ids.push(id);
        }
    }
    let key = key.ok_or_else(|| {
        pid.err(
            3,
            Some(1),
            101,
            "PID-3 (patient identifier list) has no identifier".into(),
        )
    })?;
    for n in [2, 4] {
        for r in pid.f(n).repetitions() {
            ids.extend(cx(ctx, &r).map(|x| x.0));
        }
    }
    if let Some(ssn) = pid.v(19) {
        ids.push(json!({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS"}]},
            "system": "http://hl7.org/fhir/sid/us-ssn", "value": ssn
        }));
    }
    put(&mut p, "identifier", Value::Array(ids));
    let names: Vec<Value> = pid
        .f(5)
        .repetitions()
        .filter_map(|r| human_name(&r, 0))
        .collect();
    put(&mut p, "name", Value::Array(names));
    let telecom: Vec<Value> = pid
        .f(13)
        .repetitions()
        .filter_map(|r| contact_point(&r, "home"))
        .chain(
            pid.f(14)
                .repetitions()
                .filter_map(|r| contact_point(&r, "work")),
        )
        .collect();
    put(&mut p, "telecom", Value::Array(telecom));
    if let Some(g) = pid.v(8) {
        let fhir = gender(&g)
            .ok_or_else(|| pid.err(8, None, 103, format!("PID-8 {g:?} is not in table 0001")))?;
        p.insert("gender".into(), json!(fhir));
    }
    if let Some(b) = pid.v(7) {
        let d =
            parse_dtm(&b).map_err(|e| pid.err(7, None, 102, format!("PID-7 birth date: {e}")))?;
        p.insert("birthDate".into(), json!(d.fhir_date()));
        if d.has_time() {
            // FHIR date cannot hold a time: keep it in the standard birthTime extension.
            p.insert(
                "_birthDate".into(),
                json!({"extension": [{"url": BIRTH_TIME, "valueDateTime": d.fhir_datetime(&ctx.cfg.default_offset)}]}),
            );
        }
    }
    if let Some(dt) = pid.v(29) {
        let d = parse_dtm(&dt)
            .map_err(|e| pid.err(29, None, 102, format!("PID-29 death date: {e}")))?;
        p.insert(
            "deceasedDateTime".into(),
            json!(d.fhir_datetime(&ctx.cfg.default_offset)),
        );
    } else if let Some(flag) = pid.v(30) {
        p.insert("deceasedBoolean".into(), json!(flag == "Y"));
    }
    let addresses: Vec<Value> = pid
        .f(11)
        .repetitions()
        .filter_map(|r| address(&r))
        .collect();
    put(&mut p, "address", Value::Array(addresses));
    if let Some(m) = rc(&pid.f(16).repetition(1), 1) {
        let mut cc = Map::new();
        if let Some((sys, code)) = marital(&m) {
            cc.insert("coding".into(), json!([{"system": sys, "code": code}]));
        } else {
            ctx.warnings
                .push(format!("PID-16 {m:?} not in table 0002; kept as text"));
        }
        put(
            &mut cc,
            "text",
            opt(rc(&pid.f(16).repetition(1), 2).or(Some(m))),
        );
        p.insert("maritalStatus".into(), Value::Object(cc));
    }
    match (pid.v(24).as_deref(), pid.v(25)) {
        (Some("N"), _) => {
            p.insert("multipleBirthBoolean".into(), json!(false));
        }
        (_, Some(order)) => match order.parse::<u32>() {
            Ok(n) => {
                p.insert("multipleBirthInteger".into(), json!(n));
            }
            Err(_) => {
                return Err(pid.err(25, None, 102, format!("PID-25 {order:?} is not a number")));
            }
        },
        (Some("Y"), None) => {
            p.insert("multipleBirthBoolean".into(), json!(true));
        }
        _ => {}
    }
    if let Some(family) = nonempty(pid.f(6).component(1).subcomponent(1).value()) {
        p.insert(
            "extension".into(),
            json!([{"url": MAIDEN, "valueString": family}]),
        );
    }
    if with_related {
        related(ctx, &mut p);
    }
    Ok((Value::Object(p), key))
}

/// PD1-4 → generalPractitioner; NK1 → contact.
fn related(ctx: &Ctx<'_>, p: &mut Map<String, Value>) {
    if let Some(pd1) = ctx.seg("PD1") {
        let gps: Vec<Value> = pd1
            .f(4)
            .repetitions()
            .filter_map(|r| xcn_reference(ctx, &r))
            .collect();
        put(p, "generalPractitioner", Value::Array(gps));
    }
    let mut contacts = Vec::new();
    for seg in ctx.msg.segments("NK1") {
        let mut c = Map::new();
        let mut rel = Vec::new();
        rel.extend(codeable(
            &seg.field(3).repetition(1),
            Some("http://terminology.hl7.org/CodeSystem/v2-0063"),
        ));
        rel.extend(codeable(
            &seg.field(7).repetition(1),
            Some("http://terminology.hl7.org/CodeSystem/v2-0131"),
        ));
        put(&mut c, "relationship", Value::Array(rel));
        put(
            &mut c,
            "name",
            human_name(&seg.field(2).repetition(1), 0).unwrap_or(Value::Null),
        );
        let telecom: Vec<Value> = seg
            .field(5)
            .repetitions()
            .filter_map(|r| contact_point(&r, "home"))
            .chain(
                seg.field(6)
                    .repetitions()
                    .filter_map(|r| contact_point(&r, "work")),
            )
            .collect();
        put(&mut c, "telecom", Value::Array(telecom));
        put(
            &mut c,
            "address",
            address(&seg.field(4).repetition(1)).unwrap_or(Value::Null),
        );
        if let Some(g) = nonempty(seg.field(15).component(1).value()).and_then(|g| gender(&g)) {
            c.insert("gender".into(), json!(g));
        }
        if let Some(org) = nonempty(seg.field(13).component(1).value()) {
            c.insert("organization".into(), json!({"display": org}));
        }
        let start = nonempty(seg.field(8).value()).and_then(|v| parse_dtm(&v).ok());
        let end = nonempty(seg.field(9).value()).and_then(|v| parse_dtm(&v).ok());
        let mut period = Map::new();
        put(
            &mut period,
            "start",
            opt(start.map(|d| d.fhir_datetime(&ctx.cfg.default_offset))),
        );
        put(
            &mut period,
            "end",
            opt(end.map(|d| d.fhir_datetime(&ctx.cfg.default_offset))),
        );
        put(&mut c, "period", Value::Object(period));
        if !c.is_empty() {
            contacts.push(Value::Object(c));
        }
    }
    put(p, "contact", Value::Array(contacts));
}

/// Upserts the patient of `pid`; returns its key and urn:uuid.
pub(crate) fn upsert_patient(
    ctx: &mut Ctx<'_>,
    b: &mut BundleBuilder,
    pid: Seg<'_>,
    links: &[Value],
) -> Result<((String, String), String), MapError> {
    let (mut res, key) = patient_resource(ctx, pid, true)?;
    if !links.is_empty()
        && let Some(o) = res.as_object_mut()
    {
        o.insert("link".into(), Value::Array(links.to_vec()));
    }
    let urn = b.upsert("Patient", &key.0, &key.1, res);
    Ok((key, urn))
}

/// A40: each PID/MRG pair → target upsert (link replaces → source), source
/// conditional JSON Patch (active=false, link replaced-by → target) and a
/// [`MergeInstruction`] for moving references.
pub(crate) fn merge(
    ctx: &mut Ctx<'_>,
    b: &mut BundleBuilder,
) -> Result<((String, String), Vec<MergeInstruction>), MapError> {
    let msg = ctx.msg;
    let segs: Vec<_> = msg.all_segments().collect();
    let mut merges = Vec::new();
    let mut first = None;
    let mut pid_seq = 0;
    let mut mrg_seq = 0;
    let mut i = 0;
    while let Some(seg) = segs.get(i) {
        i += 1;
        if seg.id() != "PID" {
            continue;
        }
        pid_seq += 1;
        let pid = Seg { seg, seq: pid_seq };
        let Some(mrg_seg) = segs.get(i).filter(|s| s.id() == "MRG") else {
            return Err(pid.err(0, None, 100, "PID not followed by MRG in A40".into()));
        };
        mrg_seq += 1;
        let mrg = Seg {
            seg: mrg_seg,
            seq: mrg_seq,
        };
        let source = cx(ctx, &mrg.f(1).repetition(1))
            .map(|x| (x.1, x.2))
            .ok_or_else(|| {
                mrg.err(
                    1,
                    Some(1),
                    101,
                    "MRG-1 (prior patient identifier) is empty".into(),
                )
            })?;
        let (target_res, target) = patient_resource(ctx, pid, false)?;
        let logical = |k: &(String, String)| json!({"identifier": {"system": k.0, "value": k.1}});
        let mut target_res = target_res;
        if let Some(o) = target_res.as_object_mut() {
            o.insert("active".into(), json!(true));
            o.insert(
                "link".into(),
                json!([{"other": logical(&source), "type": "replaces"}]),
            );
        }
        b.upsert("Patient", &target.0, &target.1, target_res);
        // JSON Patch `add` on object members sets them: replaying is idempotent.
        let ops = json!([
            {"op": "add", "path": "/active", "value": false},
            {"op": "add", "path": "/link", "value": [{"other": logical(&target), "type": "replaced-by"}]}
        ]);
        b.patch("Patient", &source.0, &source.1, &ops);
        first.get_or_insert(target.clone());
        merges.push(MergeInstruction { source, target });
    }
    let key = first.ok_or_else(|| MapError {
        segment: "PID".into(),
        sequence: 1,
        field: 0,
        component: None,
        code: 100,
        message: "A40 without PID/MRG".into(),
    })?;
    Ok((key, merges))
}
