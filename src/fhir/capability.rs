//! The CapabilityStatement: it lists exactly what this build implements, nothing more.

use hms_fhir::model::Model;

use crate::search::registry::{BUILTIN, Kind, Registry};
use serde_json::{Value, json};

/// A FHIR operation the server routes, for `rest[.resource].operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// Resource type for a type/instance-level operation; None for a system-level one.
    pub resource: Option<&'static str>,
    /// Name without the `$`.
    pub name: &'static str,
    /// Canonical URL of its OperationDefinition.
    pub definition: &'static str,
}

fn operation_entry(o: &Operation) -> Value {
    json!({"name": o.name, "definition": o.definition})
}

/// `zone`: what the search index reads dates without an offset in (see `time::Zone`), stated in
/// the search documentation. `operations` are the ones the API layer actually routes (passed in
/// so the statement cannot advertise an operation that has no route).
pub fn statement(base: &str, date: &str, zone: &str, operations: &[Operation]) -> Value {
    let model = Model::r4();
    let rev = revinclude_sources();
    let resources: Vec<Value> = model
        .resource_types()
        .into_iter()
        .map(|t| {
            let params: Vec<Value> = Registry::r4()
                .params_for(t)
                .into_iter()
                .map(|p| {
                    // _id and _lastUpdated are answered from the resource table and take no modifier.
                    let mods: &[&str] = if BUILTIN.contains(&p.code.as_str()) { &[] } else { p.kind.modifiers() };
                    let mut doc = String::new();
                    if !mods.is_empty() {
                        doc = format!("modifiers: {}", mods.iter().map(|m| format!(":{m}")).collect::<Vec<_>>().join(" "));
                    }
                    if matches!(p.kind, Kind::Date | Kind::Number | Kind::Quantity) {
                        doc.push_str("; prefixes: eq ne gt lt ge le sa eb ap");
                    }
                    if p.kind == Kind::Reference {
                        doc.push_str("; chaining (multi-level) and _has");
                    }
                    json!({"name": p.code, "definition": p.url, "type": p.kind.as_str(), "documentation": doc.trim_start_matches("; ")})
                })
                .collect();
            let interactions: Vec<Value> =
                ["read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"]
                    .iter()
                    .map(|c| json!({"code": c}))
                    .collect();
            let ops: Vec<Value> = BUILTIN_OPERATIONS
                .iter()
                .chain(operations)
                .filter(|o| o.resource == Some(t))
                .map(operation_entry)
                .collect();
            let mut entry = json!({
                "type": t,
                "profile": format!("http://hl7.org/fhir/StructureDefinition/{t}"),
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "full-support",
                "conditionalUpdate": true,
                "conditionalDelete": "single",
                "searchParam": params,
                "searchInclude": search_includes(t),
                "searchRevInclude": rev.get(t).cloned().unwrap_or_default(),
            });
            if !ops.is_empty() {
                entry["operation"] = Value::Array(ops);
            }
            entry
        })
        .collect();
    let system_ops: Vec<Value> = operations
        .iter()
        .filter(|o| o.resource.is_none())
        .map(operation_entry)
        .collect();
    let mut cs = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "HMS Interop",
        "kind": "instance",
        "software": {"name": "HMS Interop", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "HMS Interop FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": format!("Search: every R4 SearchParameter listed per type, with _sort, _count, _include/_revinclude (:iterate), _total, _summary, _elements, chaining, _has and compartment search. Unknown parameters are ignored (reported in an OperationOutcome entry) unless Prefer: handling=strict, which makes them a 400. A date or dateTime without an offset is read in the time zone {zone}."),
            "resource": resources,
            "interaction": [
                {"code": "transaction"},
                {"code": "batch"},
                {"code": "search-system"},
                {"code": "history-system"}
            ],
            "searchParam": [
                {"name": "_id", "type": "token"},
                {"name": "_lastUpdated", "type": "date"},
                {"name": "_type", "type": "token"}
            ],
        }],
    });
    if !system_ops.is_empty() {
        cs["rest"][0]["operation"] = Value::Array(system_ops);
    }
    cs
}

/// `_include` values accepted on `t`: `t:*` and every reference parameter of `t` (a bare `*` is
/// refused by the parser, so it is not listed).
fn search_includes(t: &str) -> Vec<String> {
    let mut v = vec![format!("{t}:*")];
    v.extend(
        Registry::r4()
            .params_for(t)
            .into_iter()
            .filter(|p| p.kind == Kind::Reference)
            .map(|p| format!("{t}:{}", p.code)),
    );
    v
}

/// `_revinclude` values that can match resources of each type: `Source:param` for every
/// reference parameter whose targets include the type.
fn revinclude_sources() -> std::collections::HashMap<String, Vec<String>> {
    let mut m: std::collections::HashMap<String, Vec<String>> = Default::default();
    for s in Model::r4().resource_types() {
        for p in Registry::r4().params_for(s) {
            if p.kind != Kind::Reference {
                continue;
            }
            for target in &p.targets {
                m.entry(target.clone())
                    .or_default()
                    .push(format!("{s}:{}", p.code));
            }
        }
    }
    m
}

/// Operations of the FHIR core this build implements (src/interactions/everything.rs); the API
/// layer passes its own (billing) to [`statement`].
const BUILTIN_OPERATIONS: &[Operation] = &[Operation {
    resource: Some("Patient"),
    name: "everything",
    definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything",
}];

#[cfg(test)]
mod tests {
    use super::*;

    fn resource<'a>(cs: &'a Value, t: &str) -> &'a Value {
        cs["rest"][0]["resource"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["type"] == t))
            .unwrap_or(&Value::Null)
    }

    #[test]
    fn states_what_is_implemented() {
        let cs = statement("http://x/fhir", "2026-01-01T00:00:00Z", "UTC", &[]);
        assert_eq!(
            cs["rest"][0]["interaction"],
            json!([{"code": "transaction"}, {"code": "batch"}, {"code": "search-system"}, {"code": "history-system"}])
        );
        let p = resource(&cs, "Patient");
        assert_eq!(
            p["operation"],
            json!([{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}])
        );
        assert!(
            p["interaction"]
                .as_array()
                .is_some_and(|a| a.contains(&json!({"code": "patch"})))
        );
        assert_eq!(p["conditionalCreate"], true);
        assert_eq!(p["conditionalUpdate"], true);
        assert_eq!(p["conditionalDelete"], "single");
        let inc = p["searchInclude"].as_array().cloned().unwrap_or_default();
        assert_eq!(inc[0], "Patient:*");
        for v in [
            "Patient:general-practitioner",
            "Patient:organization",
            "Patient:link",
        ] {
            assert!(inc.contains(&json!(v)), "{v} in {inc:?}");
        }
        assert!(!inc.contains(&json!("Patient:name")));
        let rev = p["searchRevInclude"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for v in [
            "Observation:subject",
            "Observation:patient",
            "Encounter:subject",
        ] {
            assert!(rev.contains(&json!(v)), "{v} in {rev:?}");
        }
        assert!(!rev.contains(&json!("Observation:performer:Device")));
        let o = resource(&cs, "Observation");
        assert!(o.get("operation").is_none());
        assert!(
            o["interaction"]
                .as_array()
                .is_some_and(|a| a.contains(&json!({"code": "patch"})))
        );
    }
}
