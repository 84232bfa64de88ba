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
                ["read", "vread", "update", "delete", "history-instance", "history-type", "create", "search-type"]
                    .iter()
                    .map(|c| json!({"code": c}))
                    .collect();
            let ops: Vec<Value> = operations
                .iter()
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
            "interaction": [{"code": "history-system"}, {"code": "search-system"}],
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
