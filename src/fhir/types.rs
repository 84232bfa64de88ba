//! FHIRPath type information from the R4 model, so search extraction knows that
//! `Patient.birthDate` is a `date` and `Patient.contact.name` a `HumanName`.

use hms_fhir::model::Model;
use hms_fhirpath::TypeProvider;

pub struct R4Types;

impl TypeProvider for R4Types {
    fn child_type(&self, parent_type: &str, element: &str) -> Option<String> {
        let model = Model::r4();
        // Backbone elements come back to us as path-like names ("Patient.contact").
        let info = match parent_type.split_once('.') {
            Some((t, path)) => model.element(t, &format!("{path}.{element}")),
            None => model.child(parent_type, element),
        }?;
        match info.types.as_slice() {
            [one] if one == "BackboneElement" || one == "Element" => Some(info.path.clone()),
            [one] => Some(one.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_the_model() {
        let t = R4Types;
        assert_eq!(
            t.child_type("Patient", "birthDate").as_deref(),
            Some("date")
        );
        assert_eq!(
            t.child_type("Patient", "name").as_deref(),
            Some("HumanName")
        );
        assert_eq!(
            t.child_type("HumanName", "given").as_deref(),
            Some("string")
        );
        assert_eq!(
            t.child_type("Patient", "contact").as_deref(),
            Some("Patient.contact")
        );
        assert_eq!(
            t.child_type("Patient.contact", "name").as_deref(),
            Some("HumanName")
        );
        assert_eq!(t.child_type("Patient", "bogus"), None);
    }
}
