//! v2 data types → FHIR data types (CX, XPN, XAD, XTN, XCN, CWE, PL, EI).

use serde_json::{Map, Value, json};

use super::{Ctx, MapError};
use crate::message::{Component, Field, Repetition, Segment, Subcomponent};

/// A segment plus its occurrence number, for error positions.
#[derive(Clone, Copy)]
pub(crate) struct Seg<'a> {
    pub seg: &'a Segment,
    pub seq: usize,
}

impl<'a> Seg<'a> {
    pub fn f(&self, n: usize) -> Field<'a> {
        self.seg.field(n)
    }
    /// Decoded, trimmed, non-empty value of field `n` (first repetition).
    pub fn v(&self, n: usize) -> Option<String> {
        nonempty(self.seg.field(n).repetition(1).value())
    }
    pub fn err(
        &self,
        field: usize,
        component: Option<usize>,
        code: u16,
        message: String,
    ) -> MapError {
        MapError {
            segment: self.seg.id().to_owned(),
            sequence: self.seq,
            field,
            component,
            code,
            message,
        }
    }
}

pub(crate) fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

pub(crate) fn cv(c: Component<'_>) -> Option<String> {
    nonempty(c.value())
}

pub(crate) fn sv(c: Subcomponent<'_>) -> Option<String> {
    nonempty(c.value())
}

/// First sub-component of component `n` (the value of a primitive component).
pub(crate) fn rc(r: &Repetition<'_>, n: usize) -> Option<String> {
    sv(r.component(n).subcomponent(1))
}

/// Inserts `v` under `k` unless it is null / empty array / empty object.
pub(crate) fn put(obj: &mut Map<String, Value>, k: &str, v: Value) {
    let empty = match &v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    if !empty {
        obj.insert(k.to_owned(), v);
    }
}

pub(crate) fn opt(v: Option<String>) -> Value {
    v.map_or(Value::Null, Value::String)
}

/// System URI for an assigning authority given as HD parts (namespace, universal id, type).
pub(crate) fn authority_system(
    ctx: &Ctx,
    ns: Option<&str>,
    uid: Option<&str>,
    uid_type: Option<&str>,
) -> String {
    let map = &ctx.cfg.assigning_authority_systems;
    if let Some(sys) = ns
        .and_then(|n| map.get(n))
        .or_else(|| uid.and_then(|u| map.get(u)))
    {
        return sys.clone();
    }
    match (uid, uid_type.map(str::to_ascii_uppercase).as_deref()) {
        (Some(u), Some("ISO")) => return format!("urn:oid:{u}"),
        (Some(u), Some("UUID")) => return format!("urn:uuid:{u}"),
        (Some(u), Some("URI")) => return u.to_owned(),
        _ => {}
    }
    // Unknown authority: scope the value by namespace, else by the sending facility.
    let scope = ns.or(uid).unwrap_or(ctx.facility.as_str());
    format!("{}{}", ctx.cfg.default_system_prefix, scope)
}

/// CX → Identifier; `None` when CX.1 is empty.
pub(crate) fn cx(ctx: &Ctx, r: &Repetition<'_>) -> Option<(Value, String, String)> {
    let value = rc(r, 1)?;
    let hd = r.component(4);
    let system = authority_system(
        ctx,
        nonempty(hd.subcomponent(1).value()).as_deref(),
        nonempty(hd.subcomponent(2).value()).as_deref(),
        nonempty(hd.subcomponent(3).value()).as_deref(),
    );
    let mut o = Map::new();
    if let Some(t) = rc(r, 5) {
        put(
            &mut o,
            "type",
            json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": t}]}),
        );
    }
    put(&mut o, "system", json!(system));
    put(&mut o, "value", json!(value));
    Some((Value::Object(o), system, value))
}

/// EI (SCH-1/SCH-2) → (system, value).
pub(crate) fn ei(ctx: &Ctx, r: &Repetition<'_>) -> Option<(String, String)> {
    let value = rc(r, 1)?;
    let system = authority_system(
        ctx,
        rc(r, 2).as_deref(),
        rc(r, 3).as_deref(),
        rc(r, 4).as_deref(),
    );
    Some((system, value))
}

/// XPN/XCN name part → HumanName (offset: 0 for XPN, 1 for XCN whose name starts at .2).
pub(crate) fn human_name(r: &Repetition<'_>, off: usize) -> Option<Value> {
    let family = sv(r.component(1 + off).subcomponent(1));
    let given: Vec<String> = [2, 3].iter().filter_map(|i| rc(r, i + off)).collect();
    let prefix: Vec<String> = rc(r, 5 + off).into_iter().collect();
    let suffix: Vec<String> = [4, 6].iter().filter_map(|i| rc(r, i + off)).collect();
    if family.is_none() && given.is_empty() {
        return None;
    }
    let mut o = Map::new();
    let use_code = rc(r, 7 + off).and_then(|u| name_use(&u));
    put(&mut o, "use", opt(use_code.map(str::to_owned)));
    put(&mut o, "family", opt(family));
    put(&mut o, "given", json!(given));
    put(&mut o, "prefix", json!(prefix));
    put(&mut o, "suffix", json!(suffix));
    Some(Value::Object(o))
}

/// Table 0200 → FHIR name-use (v2-to-FHIR IG NameType map, common codes).
fn name_use(code: &str) -> Option<&'static str> {
    match code {
        "L" => Some("official"),
        "D" | "A" => Some("usual"),
        "M" => Some("maiden"),
        "N" => Some("nickname"),
        "S" => Some("anonymous"),
        "T" => Some("temp"),
        "BAD" | "NB" => Some("old"),
        _ => None,
    }
}

/// "Given Family" for Reference.display.
pub(crate) fn display_name(r: &Repetition<'_>, off: usize) -> Option<String> {
    let parts: Vec<String> = [2 + off, 3 + off, 1 + off]
        .iter()
        .filter_map(|i| sv(r.component(*i).subcomponent(1)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// XCN → logical Reference (identifier + display); practitioners are not upserted.
pub(crate) fn xcn_reference(ctx: &Ctx, r: &Repetition<'_>) -> Option<Value> {
    let mut o = Map::new();
    if let Some(id) = rc(r, 1) {
        let hd = r.component(9);
        let system = authority_system(
            ctx,
            nonempty(hd.subcomponent(1).value()).as_deref(),
            nonempty(hd.subcomponent(2).value()).as_deref(),
            nonempty(hd.subcomponent(3).value()).as_deref(),
        );
        put(&mut o, "identifier", json!({"system": system, "value": id}));
    }
    put(&mut o, "display", opt(display_name(r, 1)));
    (!o.is_empty()).then_some(Value::Object(o))
}

/// XAD → Address.
pub(crate) fn address(r: &Repetition<'_>) -> Option<Value> {
    let sad = r.component(1);
    let street: Vec<String> = (1..=3).filter_map(|i| sv(sad.subcomponent(i))).collect();
    let mut line = Vec::new();
    if !street.is_empty() {
        line.push(street.join(" "));
    }
    line.extend(rc(r, 2));
    let mut o = Map::new();
    let (use_, kind) = match rc(r, 7).as_deref() {
        Some("H") | Some("P") => (Some("home"), None),
        Some("B") | Some("O") => (Some("work"), None),
        Some("C") => (Some("temp"), None),
        Some("BA") => (Some("old"), None),
        Some("M") => (None, Some("postal")),
        Some("SH") => (None, Some("physical")),
        _ => (None, None),
    };
    put(&mut o, "use", opt(use_.map(str::to_owned)));
    put(&mut o, "type", opt(kind.map(str::to_owned)));
    put(&mut o, "line", json!(line));
    put(&mut o, "city", opt(rc(r, 3)));
    put(&mut o, "district", opt(rc(r, 9)));
    put(&mut o, "state", opt(rc(r, 4)));
    put(&mut o, "postalCode", opt(rc(r, 5)));
    put(&mut o, "country", opt(rc(r, 6)));
    (!o.is_empty()).then_some(Value::Object(o))
}

/// XTN → ContactPoint; `default_use` applies when XTN.2 says nothing.
pub(crate) fn contact_point(r: &Repetition<'_>, default_use: &str) -> Option<Value> {
    let equip = rc(r, 3).unwrap_or_default();
    let system = match equip.as_str() {
        "Internet" | "X.400" => "email",
        "FX" => "fax",
        "BP" => "pager",
        "MD" | "TDD" | "TTY" => "other",
        _ => "phone",
    };
    let value = if system == "email" {
        rc(r, 4).or_else(|| rc(r, 1))
    } else {
        rc(r, 12)
            .or_else(|| {
                let local = rc(r, 7)?;
                let mut s = String::new();
                if let Some(c) = rc(r, 5) {
                    s.push_str(&format!("+{c} "));
                }
                if let Some(a) = rc(r, 6) {
                    s.push_str(&format!("({a}) "));
                }
                s.push_str(&local);
                if let Some(x) = rc(r, 8) {
                    s.push_str(&format!(" ext. {x}"));
                }
                Some(s)
            })
            .or_else(|| rc(r, 1))
    }?;
    let use_ = match (rc(r, 2).as_deref(), equip.as_str()) {
        (_, "CP") => "mobile",
        (Some("PRN" | "ORN" | "VHN"), _) => "home",
        (Some("WPN"), _) => "work",
        _ => default_use,
    };
    Some(json!({"system": system, "value": value, "use": use_}))
}

/// CWE → CodeableConcept with the given default system for v2 tables.
pub(crate) fn codeable(r: &Repetition<'_>, table_system: Option<&str>) -> Option<Value> {
    let code = rc(r, 1);
    let text = rc(r, 2);
    if code.is_none() && text.is_none() {
        return None;
    }
    let mut o = Map::new();
    if let Some(code) = code {
        let mut c = Map::new();
        let sys = match rc(r, 3).as_deref() {
            Some("SCT") => Some("http://snomed.info/sct".to_owned()),
            Some("LN") => Some("http://loinc.org".to_owned()),
            Some(t) if t.starts_with("HL7") && t.len() == 7 => Some(format!(
                "http://terminology.hl7.org/CodeSystem/v2-{}",
                &t[3..]
            )),
            _ => table_system.map(str::to_owned),
        };
        put(&mut c, "system", opt(sys));
        put(&mut c, "code", json!(code));
        put(&mut c, "display", opt(text.clone()));
        put(&mut o, "coding", json!([c]));
    }
    put(&mut o, "text", opt(text));
    Some(Value::Object(o))
}

/// PL → contained Location (returned without id); `None` when empty.
pub(crate) fn location(ctx: &Ctx, r: &Repetition<'_>) -> Option<Value> {
    // PL.1 point of care, .2 room, .3 bed, .4 facility (HD), .7 building, .8 floor.
    let facility = sv(r.component(4).subcomponent(1));
    let parts: Vec<String> = [1, 2, 3]
        .iter()
        .filter_map(|i| sv(r.component(*i).subcomponent(1)))
        .collect();
    let building: Vec<String> = [7, 8].iter().filter_map(|i| rc(r, *i)).collect();
    if parts.is_empty() && facility.is_none() && building.is_empty() {
        return None;
    }
    let mut all = Vec::new();
    all.extend(facility.clone());
    all.extend(building.iter().cloned());
    all.extend(parts.iter().cloned());
    let mut o = Map::new();
    o.insert("resourceType".into(), json!("Location"));
    put(
        &mut o,
        "identifier",
        json!([{"system": format!("{}location", ctx.cfg.default_system_prefix), "value": all.join("/")}]),
    );
    put(&mut o, "name", json!(all.join(" ")));
    put(&mut o, "mode", json!("instance"));
    let (code, display) = if cv(r.component(3)).is_some() {
        ("bd", "Bed")
    } else if cv(r.component(2)).is_some() {
        ("ro", "Room")
    } else if cv(r.component(1)).is_some() {
        ("wa", "Ward")
    } else {
        ("bu", "Building")
    };
    put(
        &mut o,
        "physicalType",
        json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": code, "display": display}]}),
    );
    Some(Value::Object(o))
}
