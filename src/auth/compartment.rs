//! Patient-compartment membership of a resource body (patient-context tokens), decided with the
//! same search-parameter extraction that builds the index, so it agrees with compartment search.

use serde_json::Value;

/// True when `resource` is in Patient `patient`'s compartment, or is of a type outside the Patient
/// compartment altogether (Practitioner, Organization, Medication, ...: not patient data).
pub fn contains(resource: &Value, patient: &str) -> bool {
    let Some(t) = resource.get("resourceType").and_then(Value::as_str) else {
        return false;
    };
    if t != "Patient" && compartment_params(t).is_empty() {
        return true;
    }
    patients_of(resource).iter().any(|p| p == patient)
}

/// The Patient-compartment parameters of a type (empty: not patient data, or Patient itself).
pub fn compartment_params(resource_type: &str) -> &'static [String] {
    hms_fhir::model::Model::r4().compartment_params("Patient", resource_type)
}

/// The patients whose compartment `resource` is in: a Patient's own id, or the patients it
/// references through its type's compartment parameters (what the audit log names).
pub fn patients_of(resource: &Value) -> Vec<String> {
    let Some(t) = resource.get("resourceType").and_then(Value::as_str) else {
        return Vec::new();
    };
    if t == "Patient" {
        return resource
            .get("id")
            .and_then(Value::as_str)
            .map(|id| vec![id.to_string()])
            .unwrap_or_default();
    }
    let params = compartment_params(t);
    if params.is_empty() {
        return Vec::new();
    }
    let registry = crate::search::registry::Registry::r4();
    let defs = registry
        .params_for(t)
        .into_iter()
        .filter(|p| params.contains(&p.code));
    // Only reference rows are read here, so the zone of dates does not matter.
    let rows = crate::search::extract::rows_for_params(
        resource,
        defs.map(|p| p.as_ref()),
        &crate::fhir::time::Zone::Utc,
    );
    patients_in_rows(&rows, params)
}

/// Patient ids referenced by index `rows` through `params`, deduplicated in order.
pub fn patients_in_rows(rows: &[crate::store::index::IndexRow], params: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rows {
        if r.ref_type.as_deref() == Some("Patient")
            && params.iter().any(|p| p == &r.param)
            && let Some(id) = &r.ref_id
            && !out.contains(id)
        {
            out.push(id.clone());
        }
    }
    out
}

/// True when the type has resources in the Patient compartment (search gets the compartment
/// filter).
pub fn type_in_compartment(resource_type: &str) -> bool {
    resource_type == "Patient"
        || !hms_fhir::model::Model::r4()
            .compartment_params("Patient", resource_type)
            .is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn membership() {
        let obs = json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}});
        assert!(contains(&obs, "p1"));
        assert!(!contains(&obs, "p2"));
        assert!(contains(
            &json!({"resourceType": "Patient", "id": "p1"}),
            "p1"
        ));
        assert!(!contains(
            &json!({"resourceType": "Patient", "id": "p2"}),
            "p1"
        ));
        assert!(contains(
            &json!({"resourceType": "Organization", "id": "o"}),
            "p1"
        ));
        assert!(type_in_compartment("Observation"));
        assert!(!type_in_compartment("Organization"));
    }
}
