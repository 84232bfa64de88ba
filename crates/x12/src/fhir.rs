//! Small read helpers over FHIR JSON (serde_json Values).

use serde_json::Value;

use crate::decimal::Decimal;

pub const NPI_SYSTEM: &str = "http://hl7.org/fhir/sid/us-npi";
pub const TIN_SYSTEMS: &[&str] = &[
    "urn:oid:2.16.840.1.113883.4.4",
    "http://hl7.org/fhir/sid/us-ein",
];
pub const ICD10_SYSTEMS: &[&str] = &[
    "http://hl7.org/fhir/sid/icd-10-cm",
    "http://hl7.org/fhir/sid/icd-10",
];
pub const CPT_HCPCS_SYSTEMS: &[&str] = &[
    "http://www.ama-assn.org/go/cpt",
    "urn:oid:2.16.840.1.113883.6.12",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "urn:oid:2.16.840.1.113883.6.285",
    "http://terminology.hl7.org/CodeSystem/HCPCS",
];
pub const NUCC_TAXONOMY: &str = "http://nucc.org/provider-taxonomy";

/// `v.a.b.c` for object keys.
pub fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(*k))
}

pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

pub fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Codings of a CodeableConcept as (system, code).
pub fn codings(cc: &Value) -> Vec<(&str, &str)> {
    arr(cc, "coding")
        .iter()
        .filter_map(|c| {
            let code = c.get("code").and_then(Value::as_str)?;
            Some((c.get("system").and_then(Value::as_str).unwrap_or(""), code))
        })
        .collect()
}

/// Code from a preferred system, else the first code.
pub fn pick_code<'a>(cc: &'a Value, systems: &[&str]) -> Option<(usize, &'a str)> {
    let cs: Vec<(usize, &Value)> = arr(cc, "coding").iter().enumerate().collect();
    let code_of = |c: &'a Value| c.get("code").and_then(Value::as_str);
    cs.iter()
        .find(|(_, c)| {
            c.get("system")
                .and_then(Value::as_str)
                .is_some_and(|s| systems.contains(&s))
        })
        .or_else(|| cs.first())
        .and_then(|(i, c)| code_of(c).map(|code| (*i, code)))
}

pub fn has_code(cc: &Value, code: &str) -> bool {
    codings(cc).iter().any(|(_, c)| *c == code)
}

/// Identifier value by system.
pub fn identifier<'a>(res: &'a Value, systems: &[&str]) -> Option<&'a str> {
    arr(res, "identifier").iter().find_map(|i| {
        let sys = i.get("system").and_then(Value::as_str)?;
        if systems.contains(&sys) {
            i.get("value").and_then(Value::as_str)
        } else {
            None
        }
    })
}

/// Identifier value by type code (v2-0203, e.g. "TAX", "NPI", "MB").
pub fn identifier_by_type<'a>(res: &'a Value, type_code: &str) -> Option<&'a str> {
    arr(res, "identifier").iter().find_map(|i| {
        if i.get("type").is_some_and(|t| has_code(t, type_code)) {
            i.get("value").and_then(Value::as_str)
        } else {
            None
        }
    })
}

pub fn npi(res: &Value) -> Option<&str> {
    identifier(res, &[NPI_SYSTEM]).or_else(|| identifier_by_type(res, "NPI"))
}

pub fn tin(res: &Value) -> Option<&str> {
    identifier(res, TIN_SYSTEMS).or_else(|| identifier_by_type(res, "TAX"))
}

pub fn resource_type(res: &Value) -> &str {
    res.get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Money/Quantity `.value` exactly.
pub fn decimal_at(v: &Value, path: &[&str]) -> Option<Decimal> {
    get(v, path).and_then(Decimal::from_json)
}

/// A person's or organization's name parts: (last or org name, first, middle).
pub struct NameParts {
    pub last: String,
    pub first: String,
    pub middle: String,
    pub is_person: bool,
}

pub fn name_parts(res: &Value) -> Option<NameParts> {
    if let Some(n) = res.get("name").and_then(Value::as_str) {
        return Some(NameParts {
            last: n.to_string(),
            first: String::new(),
            middle: String::new(),
            is_person: false,
        });
    }
    let names = arr(res, "name");
    let pick = names
        .iter()
        .find(|n| n.get("use").and_then(Value::as_str) == Some("official"))
        .or_else(|| {
            names.iter().find(|n| {
                n.get("family").is_some() && n.get("use").and_then(Value::as_str) != Some("old")
            })
        })
        .or_else(|| names.first())?;
    let given: Vec<&str> = arr(pick, "given")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Some(NameParts {
        last: pick
            .get("family")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        first: given.first().copied().unwrap_or("").to_string(),
        middle: given.get(1).copied().unwrap_or("").to_string(),
        is_person: true,
    })
}

/// First address (home/work preferred over old/billing-less ones).
pub fn address(res: &Value) -> Option<&Value> {
    let all = arr(res, "address");
    all.iter()
        .find(|a| a.get("use").and_then(Value::as_str) != Some("old"))
        .or_else(|| all.first())
}

/// The id part of a reference: "Patient/1" -> "1", "#p1" -> "p1", "urn:uuid:x" -> "x".
pub fn ref_id(reference: &str) -> &str {
    let r = reference.split("/_history/").next().unwrap_or(reference);
    r.rsplit(['/', '#', ':']).next().unwrap_or(r)
}

/// Whether `reference` points at `res` (by type/id, contained id or uuid).
pub fn refers_to(reference: &str, res: &Value) -> bool {
    let Some(id) = res.get("id").and_then(Value::as_str) else {
        return false;
    };
    if reference.starts_with('#') || reference.starts_with("urn:uuid:") {
        return ref_id(reference) == id;
    }
    let rt = resource_type(res);
    reference == format!("{rt}/{id}") || reference.ends_with(&format!("/{rt}/{id}"))
}

/// A contained resource of `res` referenced as "#id".
pub fn contained<'a>(res: &'a Value, reference: &str) -> Option<&'a Value> {
    let id = reference.strip_prefix('#')?;
    arr(res, "contained")
        .iter()
        .find(|c| c.get("id").and_then(Value::as_str) == Some(id))
}

/// Phone digits or e-mail from telecom: ("TE"|"EM", value).
pub fn contact(res: &Value) -> Option<(&'static str, String)> {
    let tel = arr(res, "telecom");
    let phone = tel.iter().find_map(|t| {
        (t.get("system").and_then(Value::as_str) == Some("phone"))
            .then(|| t.get("value").and_then(Value::as_str))
            .flatten()
    });
    if let Some(p) = phone {
        let digits: String = p.chars().filter(char::is_ascii_digit).collect();
        // NANP: drop a leading country code 1 to get 10 digits.
        let digits = if digits.len() == 11 && digits.starts_with('1') {
            digits.get(1..).unwrap_or_default().to_string()
        } else {
            digits
        };
        if !digits.is_empty() {
            return Some(("TE", digits));
        }
    }
    tel.iter().find_map(|t| {
        (t.get("system").and_then(Value::as_str) == Some("email"))
            .then(|| t.get("value").and_then(Value::as_str))
            .flatten()
            .map(|e| ("EM", e.to_string()))
    })
}
