//! Index rows for a resource: every SearchParameter of its type evaluated with FHIRPath, and each
//! result turned into rows by the parameter's kind and the value's FHIR type.

use hms_fhirpath::{EvalContext, Item};
use serde_json::Value;

use crate::fhir::time::{Zone, parse_fhir_range};
use crate::fhir::types::R4Types;
use crate::store::index::IndexRow;

use super::custom::Custom;
use super::normalize::normalize;
use super::registry::{BUILTIN, Kind, Registry, SearchParam, implicit_system};

/// All index rows of `resource` (its current version); dates without an offset are read in `zone`.
pub fn index_rows(resource: &Value, custom: &[Custom], zone: &Zone) -> Vec<IndexRow> {
    let Some(t) = resource.get("resourceType").and_then(Value::as_str) else {
        return Vec::new();
    };
    let params = Registry::r4()
        .params_for(t)
        .into_iter()
        .filter(|p| !BUILTIN.contains(&p.code.as_str()))
        .map(|p| p.as_ref())
        .chain(
            custom
                .iter()
                .filter(|c| c.applies_to(t))
                .map(|c| c.param.as_ref()),
        );
    rows_for_params(resource, params, zone)
}

/// Index rows of `resource` for the given parameters only (used by reindexing).
pub fn rows_for_params<'p>(
    resource: &Value,
    params: impl Iterator<Item = &'p SearchParam>,
    zone: &Zone,
) -> Vec<IndexRow> {
    let res_type = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let types = R4Types;
    let mut ctx = EvalContext::new(resource);
    ctx.types = Some(&types);
    let mut rows = Vec::new();
    for p in params {
        // An expression that fails on this resource indexes nothing for that parameter; the
        // resource itself is valid (the validator passed it), so we do not refuse the write.
        let Ok(items) = hms_fhirpath::evaluate(&p.expression, resource, &ctx) else {
            continue;
        };
        if p.kind == Kind::Composite {
            composite_rows(p, &items, &ctx, zone, &mut rows);
        } else {
            let at = Row {
                param: &p.code,
                grp: None,
                zone,
                implicit_system: implicit_system(res_type, &p.url),
            };
            for item in &items {
                rows_for(p.kind, &at, item, &mut rows);
            }
        }
    }
    rows.dedup();
    rows
}

fn composite_rows<'a>(
    p: &SearchParam,
    items: &[Item<'a>],
    ctx: &EvalContext<'a>,
    zone: &Zone,
    rows: &mut Vec<IndexRow>,
) {
    for (g, item) in items.iter().enumerate() {
        let Item::Node(node) = item else { continue };
        for (pos, c) in p.components.iter().enumerate() {
            let Ok(parts) = hms_fhirpath::evaluate(&c.expression, node.value, ctx) else {
                continue;
            };
            let at = Row {
                param: &p.code,
                grp: Some((g as i32, pos as i32)),
                zone,
                implicit_system: None,
            };
            for part in &parts {
                rows_for(c.kind, &at, part, rows);
            }
        }
    }
}

fn base(param: &str, grp: Option<(i32, i32)>) -> IndexRow {
    IndexRow {
        param: param.to_string(),
        grp: grp.map(|g| g.0),
        pos: grp.map(|g| g.1),
        ..IndexRow::default()
    }
}

fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn strings<'v>(v: &'v Value, key: &str) -> Vec<&'v str> {
    match v.get(key) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Where the rows of one parameter value go and how to read it.
struct Row<'a> {
    param: &'a str,
    grp: Option<(i32, i32)>,
    zone: &'a Zone,
    /// The CodeSystem of a bare `code` (required binding), see `registry::implicit_system`.
    implicit_system: Option<&'static str>,
}

fn rows_for(kind: Kind, at: &Row<'_>, item: &Item<'_>, out: &mut Vec<IndexRow>) {
    let (param, grp) = (at.param, at.grp);
    let ty = item.type_name().unwrap_or("").to_string();
    let value: Value = match item {
        Item::Node(n) => n.value.clone(),
        other => other.to_json(),
    };
    match kind {
        Kind::String => string_rows(param, grp, &ty, &value, out),
        Kind::Token => token_rows(param, grp, &ty, &value, at.implicit_system, out),
        Kind::Date => {
            if let Some((lo, hi)) = date_range(&ty, &value, at.zone) {
                out.push(IndexRow {
                    lo: Some(lo),
                    hi: Some(hi),
                    ..base(param, grp)
                });
            }
        }
        Kind::Number => {
            if let Some(n) = number(&value) {
                out.push(IndexRow {
                    num: Some(n),
                    ..base(param, grp)
                });
            }
        }
        Kind::Quantity => quantity_rows(param, grp, &ty, &value, out),
        Kind::Reference => reference_rows(param, grp, &value, out),
        Kind::Uri => {
            if let Some(s) = value.as_str() {
                out.push(IndexRow {
                    uri: Some(s.to_string()),
                    ..base(param, grp)
                });
            }
        }
        Kind::Composite | Kind::Special => {}
    }
}

fn string_row(param: &str, grp: Option<(i32, i32)>, s: &str) -> IndexRow {
    IndexRow {
        s_norm: Some(normalize(s)),
        s_exact: Some(s.to_string()),
        ..base(param, grp)
    }
}

fn string_rows(param: &str, grp: Option<(i32, i32)>, ty: &str, v: &Value, out: &mut Vec<IndexRow>) {
    match v {
        Value::String(s) => out.push(string_row(param, grp, s)),
        Value::Object(_)
            if ty == "HumanName" || v.get("family").is_some() || v.get("given").is_some() =>
        {
            for key in ["family", "given", "prefix", "suffix", "text"] {
                for s in strings(v, key) {
                    out.push(string_row(param, grp, s));
                }
            }
        }
        Value::Object(_) => {
            // Address (and anything else with these parts).
            for key in [
                "text",
                "line",
                "city",
                "district",
                "state",
                "postalCode",
                "country",
            ] {
                for s in strings(v, key) {
                    out.push(string_row(param, grp, s));
                }
            }
        }
        _ => {}
    }
}

fn token(
    param: &str,
    grp: Option<(i32, i32)>,
    system: Option<&str>,
    code: Option<&str>,
    text: Option<&str>,
) -> IndexRow {
    IndexRow {
        system: system.map(str::to_string),
        code: code.map(str::to_string),
        s_norm: text.map(normalize),
        ..base(param, grp)
    }
}

fn token_rows(
    param: &str,
    grp: Option<(i32, i32)>,
    ty: &str,
    v: &Value,
    implicit_system: Option<&str>,
    out: &mut Vec<IndexRow>,
) {
    match v {
        Value::String(s) => out.push(token(param, grp, implicit_system, Some(s), None)),
        Value::Bool(b) => out.push(token(
            param,
            grp,
            None,
            Some(if *b { "true" } else { "false" }),
            None,
        )),
        Value::Object(_) if ty == "CodeableConcept" || v.get("coding").is_some() => {
            for c in v
                .get("coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(token(
                    param,
                    grp,
                    str_of(c, "system"),
                    str_of(c, "code"),
                    str_of(c, "display"),
                ));
            }
            if let Some(text) = str_of(v, "text") {
                out.push(token(param, grp, None, None, Some(text)));
            }
        }
        Value::Object(_) if ty == "ContactPoint" => {
            out.push(token(
                param,
                grp,
                str_of(v, "system"),
                str_of(v, "value"),
                None,
            ));
        }
        Value::Object(_) if ty == "Coding" || v.get("code").is_some() => {
            out.push(token(
                param,
                grp,
                str_of(v, "system"),
                str_of(v, "code"),
                str_of(v, "display"),
            ));
        }
        Value::Object(_) if ty == "Identifier" || v.get("value").is_some() => {
            let type_text = v.get("type").and_then(|t| str_of(t, "text"));
            out.push(token(
                param,
                grp,
                str_of(v, "system"),
                str_of(v, "value"),
                type_text,
            ));
            let codings = v
                .get("type")
                .and_then(|t| t.get("coding"))
                .and_then(Value::as_array);
            if let (Some(value), Some(codings)) = (str_of(v, "value"), codings) {
                for c in codings {
                    let mut row = token(
                        &format!("{param}:of-type"),
                        grp,
                        str_of(c, "system"),
                        str_of(c, "code"),
                        None,
                    );
                    row.s_exact = Some(value.to_string());
                    out.push(row);
                }
            }
        }
        _ => {}
    }
}

fn date_range(ty: &str, v: &Value, zone: &Zone) -> Option<(i64, i64)> {
    let range = |s: &str| parse_fhir_range(s, zone);
    match v {
        Value::String(s) => range(s),
        Value::Object(_) if ty == "Timing" || v.get("event").is_some() => {
            let events = strings(v, "event");
            let ranges: Vec<(i64, i64)> = events.iter().filter_map(|e| range(e)).collect();
            let lo = ranges.iter().map(|r| r.0).min()?;
            let hi = ranges.iter().map(|r| r.1).max()?;
            Some((lo, hi))
        }
        Value::Object(_) => {
            // Period: open ends reach to the end of time.
            let lo = str_of(v, "start").and_then(range).map(|r| r.0);
            let hi = str_of(v, "end").and_then(range).map(|r| r.1);
            if lo.is_none() && hi.is_none() {
                return None;
            }
            Some((lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX)))
        }
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.to_string().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn quantity_rows(
    param: &str,
    grp: Option<(i32, i32)>,
    ty: &str,
    v: &Value,
    out: &mut Vec<IndexRow>,
) {
    let Some(n) = v.get("value").and_then(number) else {
        return;
    };
    let mut row = IndexRow {
        num: Some(n),
        ..base(param, grp)
    };
    if ty == "Money" || v.get("currency").is_some() {
        row.system = Some("urn:iso:std:iso:4217".into());
        row.code = str_of(v, "currency").map(str::to_string);
    } else {
        row.system = str_of(v, "system").map(str::to_string);
        row.code = str_of(v, "code")
            .or_else(|| str_of(v, "unit"))
            .map(str::to_string);
        row.s_exact = str_of(v, "unit").map(str::to_string);
    }
    out.push(row);
}

/// Splits `Type/id`, `Type/id/_history/n` or an absolute URL ending in them.
pub fn split_reference(reference: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = reference.split('/').collect();
    let n = parts.len();
    let (t, id) = if n >= 4 && parts[n - 2] == "_history" {
        (parts[n - 4], parts[n - 3])
    } else if n >= 2 {
        (parts[n - 2], parts[n - 1])
    } else {
        return None;
    };
    if t.chars().next().is_some_and(char::is_uppercase) && crate::fhir::ids::is_valid_id(id) {
        Some((t.to_string(), id.to_string()))
    } else {
        None
    }
}

fn reference_rows(param: &str, grp: Option<(i32, i32)>, v: &Value, out: &mut Vec<IndexRow>) {
    match v {
        Value::Object(_) => {
            if let Some(r) = str_of(v, "reference") {
                if r.starts_with('#') {
                    return;
                }
                let mut row = IndexRow {
                    uri: Some(r.to_string()),
                    ..base(param, grp)
                };
                if let Some((t, id)) = split_reference(r) {
                    row.ref_type = Some(t);
                    row.ref_id = Some(id);
                }
                out.push(row);
            }
            if let Some(ident) = v.get("identifier") {
                out.push(token(
                    &format!("{param}:identifier"),
                    grp,
                    str_of(ident, "system"),
                    str_of(ident, "value"),
                    None,
                ));
            }
        }
        // canonical / uri used as a reference
        Value::String(s) => {
            let mut row = IndexRow {
                uri: Some(s.clone()),
                ..base(param, grp)
            };
            if let Some((t, id)) = split_reference(s) {
                row.ref_type = Some(t);
                row.ref_id = Some(id);
            }
            out.push(row);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows_of(v: Value, param: &str) -> Vec<IndexRow> {
        index_rows(&v, &[], &Zone::Utc)
            .into_iter()
            .filter(|r| r.param == param)
            .collect()
    }

    #[test]
    fn patient_rows() {
        let p = json!({"resourceType":"Patient","id":"p","identifier":[{"system":"urn:s","value":"1","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]}}],
            "name":[{"family":"Müller","given":["Anna","Lena"]}],"birthDate":"1970-03","gender":"female",
            "address":[{"city":"Zürich","postalCode":"8000"}],"telecom":[{"system":"phone","value":"555"}],
            "generalPractitioner":[{"reference":"Practitioner/dr1"}]});
        let names: Vec<String> = rows_of(p.clone(), "name")
            .into_iter()
            .map(|r| r.s_norm.unwrap())
            .collect();
        assert_eq!(names, vec!["muller", "anna", "lena"]);
        let bd = &rows_of(p.clone(), "birthdate")[0];
        assert_eq!(
            crate::fhir::time::fhir_instant(bd.lo.unwrap()),
            "1970-03-01T00:00:00.000Z"
        );
        assert_eq!(
            crate::fhir::time::fhir_instant(bd.hi.unwrap()),
            "1970-04-01T00:00:00.000Z"
        );
        let id = &rows_of(p.clone(), "identifier")[0];
        assert_eq!(
            (id.system.as_deref(), id.code.as_deref()),
            (Some("urn:s"), Some("1"))
        );
        let of_type = &rows_of(p.clone(), "identifier:of-type")[0];
        assert_eq!(
            (of_type.code.as_deref(), of_type.s_exact.as_deref()),
            (Some("MR"), Some("1"))
        );
        assert_eq!(
            rows_of(p.clone(), "gender")[0].code.as_deref(),
            Some("female")
        );
        assert_eq!(
            rows_of(p.clone(), "address-city")[0].s_norm.as_deref(),
            Some("zurich")
        );
        let gp = &rows_of(p.clone(), "general-practitioner")[0];
        assert_eq!(
            (gp.ref_type.as_deref(), gp.ref_id.as_deref()),
            (Some("Practitioner"), Some("dr1"))
        );
        let tel = &rows_of(p, "phone")[0];
        assert_eq!(tel.code.as_deref(), Some("555"));
    }

    #[test]
    fn observation_rows() {
        let o = json!({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7","display":"Body Weight"}],"text":"Weight"},
            "subject":{"reference":"Patient/p1"},"effectivePeriod":{"start":"2020-01-01"},"valueQuantity":{"value":72.50,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"},
            "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"code":"mm[Hg]","system":"http://unitsofmeasure.org"}}]});
        let code = rows_of(o.clone(), "code");
        assert_eq!(code.len(), 2);
        assert_eq!(code[0].code.as_deref(), Some("29463-7"));
        assert_eq!(code[1].s_norm.as_deref(), Some("weight"));
        let q = &rows_of(o.clone(), "value-quantity")[0];
        assert_eq!((q.num, q.code.as_deref()), (Some(72.5), Some("kg")));
        let d = &rows_of(o.clone(), "date")[0];
        assert_eq!(d.hi, Some(i64::MAX));
        let subj = &rows_of(o.clone(), "patient")[0];
        assert_eq!(subj.ref_id.as_deref(), Some("p1"));
        let cvq = rows_of(o, "component-code-value-quantity");
        assert_eq!(cvq.len(), 2);
        assert_eq!(
            (cvq[0].grp, cvq[0].pos, cvq[0].code.as_deref()),
            (Some(0), Some(0), Some("8480-6"))
        );
        assert_eq!(
            (cvq[1].grp, cvq[1].pos, cvq[1].num),
            (Some(0), Some(1), Some(120.0))
        );
    }

    #[test]
    fn references_split() {
        assert_eq!(
            split_reference("Patient/1"),
            Some(("Patient".into(), "1".into()))
        );
        assert_eq!(
            split_reference("http://x/fhir/Patient/1/_history/2"),
            Some(("Patient".into(), "1".into()))
        );
        assert_eq!(split_reference("urn:uuid:abc"), None);
        assert_eq!(split_reference("#c1"), None);
    }
}
