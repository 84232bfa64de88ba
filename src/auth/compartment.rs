//! Patient-compartment membership of a resource body (patient-context tokens), decided with the
//! same search-parameter extraction that builds the index, so it agrees with compartment search.

use serde_json::Value;

/// True when `resource` is in Patient `patient`'s compartment, or is of a type outside the Patient
/// compartment altogether (Practitioner, Organization, Medication, ...: not patient data).
pub fn contains(resource: &Value, patient: &str) -> bool {
    let Some(t) = resource.get("resourceType").and_then(Value::as_str) else {
        return false;
    };
    if t == "Patient" {
        return resource.get("id").and_then(Value::as_str) == Some(patient);
    }
    let params = hms_fhir::model::Model::r4().compartment_params("Patient", t);
    if params.is_empty() {
        return true;
    }
    // Only reference rows are read here, so the zone of dates does not matter.
    crate::search::extract::index_rows(resource, &[], &crate::fhir::time::Zone::Utc)
        .iter()
        .any(|r| {
            params.iter().any(|p| p == &r.param)
                && r.ref_type.as_deref() == Some("Patient")
                && r.ref_id.as_deref() == Some(patient)
        })
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
