//! OperationOutcome resources.

use hms_fhir::outcome::{Issue, Severity};
use serde_json::{Value, json};

pub fn operation_outcome(issues: &[Issue]) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(Issue::to_json).collect::<Vec<_>>(),
    })
}

/// The outcome for a successful interaction (Prefer: return=OperationOutcome).
pub fn success(message: &str) -> Value {
    operation_outcome(&[Issue {
        severity: Severity::Information,
        code: "informational",
        expression: None,
        diagnostics: message.to_string(),
    }])
}
