//! The CapabilityStatement: it lists exactly what this build implements, nothing more.

use hms_fhir::model::Model;
use serde_json::{Value, json};

pub fn statement(base: &str, date: &str) -> Value {
    let model = Model::r4();
    let resources: Vec<Value> = model
        .resource_types()
        .into_iter()
        .map(|t| {
            let mut params = vec![json!({"name": "_id", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id", "type": "token"})];
            if model.child(t, "identifier").is_some() {
                params.push(json!({"name": "identifier", "type": "token", "documentation": "system|value, |value or value; exact match"}));
            }
            let interactions: Vec<Value> =
                ["read", "vread", "update", "delete", "history-instance", "history-type", "create", "search-type"]
                    .iter()
                    .map(|c| json!({"code": c}))
                    .collect();
            json!({
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
            })
        })
        .collect();
    json!({
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
            "documentation": "Search supports _id and identifier (token) with _count paging; unknown parameters are ignored unless Prefer: handling=strict.",
            "resource": resources,
            "interaction": [{"code": "history-system"}],
        }],
    })
}
