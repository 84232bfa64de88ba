//! One `OperationOutcome.issue`: the common currency of the parser and the validator.

use serde_json::{Value, json};

/// `OperationOutcome.issue.severity` (required binding `issue-severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    /// The FHIR code of this severity.
    pub fn as_code(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }

    /// True for severities that make a resource unacceptable.
    pub fn is_error(self) -> bool {
        matches!(self, Severity::Fatal | Severity::Error)
    }
}

impl serde::Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_code())
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_code())
    }
}

/// One problem found in a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    /// FHIR `issue-type` code: "structure", "invalid", "value", "required",
    /// "code-invalid", "too-long", "not-supported", "invariant", "too-costly".
    pub code: &'static str,
    /// FHIRPath-like location, e.g. `Claim.item[1].detail[0].bogus`.
    pub expression: Option<String>,
    pub diagnostics: String,
}

impl Issue {
    /// An error-severity issue.
    pub fn error(
        code: &'static str,
        expression: Option<String>,
        diagnostics: impl Into<String>,
    ) -> Self {
        Issue {
            severity: Severity::Error,
            code,
            expression,
            diagnostics: diagnostics.into(),
        }
    }

    /// One `OperationOutcome.issue` entry.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "severity": self.severity.as_code(),
            "code": self.code,
            "diagnostics": self.diagnostics,
        });
        if let (Some(expr), Some(obj)) = (&self.expression, v.as_object_mut()) {
            obj.insert("expression".to_string(), json!([expr]));
        }
        v
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]", self.severity, self.code)?;
        if let Some(expr) = &self.expression {
            write!(f, " at {expr}")?;
        }
        write!(f, ": {}", self.diagnostics)
    }
}

impl std::error::Error for Issue {}
