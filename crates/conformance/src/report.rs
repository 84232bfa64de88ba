//! Run results: the Rust view and the FHIR TestReport resource built from it.

use std::path::PathBuf;

use serde_json::{Map, Value, json};

/// Overall result of a script or of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportResult {
    Pass,
    Fail,
    /// Not run to completion (e.g. no tests at all).
    Pending,
    /// The runner could not execute something (transport error, unsupported element,
    /// unloadable script). Written as `fail` in the FHIR resource, whose value set
    /// has no `error`.
    Error,
}

impl ReportResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportResult::Pass => "pass",
            ReportResult::Fail => "fail",
            ReportResult::Pending => "pending",
            ReportResult::Error => "error",
        }
    }

    /// The R4 `TestReport.result` code (pass | fail | pending).
    pub fn fhir_code(self) -> &'static str {
        match self {
            ReportResult::Pass => "pass",
            ReportResult::Fail | ReportResult::Error => "fail",
            ReportResult::Pending => "pending",
        }
    }
}

/// Result of one action (R4 `report-action-result-codes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionResult {
    Pass,
    Skip,
    Fail,
    Warning,
    Error,
}

impl ActionResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionResult::Pass => "pass",
            ActionResult::Skip => "skip",
            ActionResult::Fail => "fail",
            ActionResult::Warning => "warning",
            ActionResult::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Operation,
    Assert,
}

/// Outcome of one setup/test/teardown action.
#[derive(Debug, Clone)]
pub struct ActionReport {
    pub kind: ActionKind,
    /// For asserts: label, else description, else `assert #n`. For operations:
    /// label, else description, else the type code.
    pub name: String,
    pub label: Option<String>,
    pub description: Option<String>,
    pub result: ActionResult,
    pub message: String,
}

/// Outcome of one `TestScript.test`.
#[derive(Debug, Clone)]
pub struct TestCaseReport {
    pub name: String,
    pub description: Option<String>,
    pub result: ReportResult,
    pub actions: Vec<ActionReport>,
}

impl TestCaseReport {
    /// The first failing or erroring action, for summaries.
    pub fn first_problem(&self) -> Option<&ActionReport> {
        self.actions
            .iter()
            .find(|a| matches!(a.result, ActionResult::Error | ActionResult::Fail))
    }
}

/// The result of running one TestScript.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// Script name (TestScript.name, else title/id/file name).
    pub name: String,
    pub path: Option<PathBuf>,
    pub result: ReportResult,
    /// Percentage of tests that passed (0–100).
    pub score: f64,
    pub setup: Vec<ActionReport>,
    pub tests: Vec<TestCaseReport>,
    pub teardown: Vec<ActionReport>,
    /// A script-level problem (load error, setup failure summary), if any.
    pub error: Option<String>,
    /// The FHIR R4 TestReport resource.
    pub resource: Value,
}

/// Per-script counts of tests by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub errored: usize,
    pub skipped: usize,
}

impl TestReport {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for t in &self.tests {
            match t.result {
                ReportResult::Pass => c.passed += 1,
                ReportResult::Fail => c.failed += 1,
                ReportResult::Error => c.errored += 1,
                ReportResult::Pending => c.skipped += 1,
            }
        }
        c
    }

    /// A report for a script that could not be loaded or run at all.
    pub fn from_error(name: &str, path: Option<PathBuf>, message: &str, server: &str) -> Self {
        let mut r = TestReport {
            name: name.to_string(),
            path,
            result: ReportResult::Error,
            score: 0.0,
            setup: Vec::new(),
            tests: Vec::new(),
            teardown: Vec::new(),
            error: Some(message.to_string()),
            resource: Value::Null,
        };
        r.resource = build_resource(&r, None, server);
        r
    }
}

/// Result of a list of actions: error beats fail beats pass; warnings/skips pass.
pub(crate) fn combine(actions: &[ActionReport]) -> ReportResult {
    if actions.iter().any(|a| a.result == ActionResult::Error) {
        ReportResult::Error
    } else if actions.iter().any(|a| a.result == ActionResult::Fail) {
        ReportResult::Fail
    } else {
        ReportResult::Pass
    }
}

fn action_json(a: &ActionReport) -> Value {
    let mut inner = Map::new();
    inner.insert("result".into(), json!(a.result.as_str()));
    if !a.message.is_empty() {
        inner.insert("message".into(), json!(a.message));
    }
    if a.kind == ActionKind::Assert {
        inner.insert("detail".into(), json!(a.name));
    }
    let key = match a.kind {
        ActionKind::Operation => "operation",
        ActionKind::Assert => "assert",
    };
    json!({ key: Value::Object(inner) })
}

/// Builds the R4 TestReport resource. `script_ref` is (reference, display).
pub(crate) fn build_resource(
    r: &TestReport,
    script_ref: Option<(String, String)>,
    server: &str,
) -> Value {
    let mut m = Map::new();
    m.insert("resourceType".into(), json!("TestReport"));
    m.insert("name".into(), json!(r.name));
    m.insert(
        "status".into(),
        json!(
            if r.error.is_some() && r.tests.is_empty() && r.setup.is_empty() {
                "entered-in-error"
            } else {
                "completed"
            }
        ),
    );
    let (reference, display) =
        script_ref.unwrap_or_else(|| (format!("TestScript/{}", r.name), r.name.clone()));
    m.insert(
        "testScript".into(),
        json!({"reference": reference, "display": display}),
    );
    m.insert("result".into(), json!(r.result.fhir_code()));
    let score: Value = serde_json::from_str(&format_score(r.score)).unwrap_or(json!(0));
    m.insert("score".into(), score);
    m.insert("tester".into(), json!("hms conformance"));
    m.insert("issued".into(), json!(now_rfc3339()));
    m.insert(
        "participant".into(),
        json!([{"type": "server", "uri": server}]),
    );
    if let Some(e) = &r.error {
        m.insert(
            "extension".into(),
            json!([{"url": "urn:hms:conformance:error", "valueString": e}]),
        );
    }
    if !r.setup.is_empty() {
        let actions: Vec<Value> = r.setup.iter().map(action_json).collect();
        m.insert("setup".into(), json!({ "action": actions }));
    }
    if !r.tests.is_empty() {
        let tests: Vec<Value> = r
            .tests
            .iter()
            .map(|t| {
                let mut tm = Map::new();
                tm.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    tm.insert("description".into(), json!(d));
                }
                if !t.actions.is_empty() {
                    let a: Vec<Value> = t.actions.iter().map(action_json).collect();
                    tm.insert("action".into(), json!(a));
                }
                Value::Object(tm)
            })
            .collect();
        m.insert("test".into(), json!(tests));
    }
    if !r.teardown.is_empty() {
        let actions: Vec<Value> = r
            .teardown
            .iter()
            .filter(|a| a.kind == ActionKind::Operation)
            .map(action_json)
            .collect();
        if !actions.is_empty() {
            m.insert("teardown".into(), json!({ "action": actions }));
        }
    }
    Value::Object(m)
}

/// Score as a JSON decimal with at most two fraction digits (`100`, `66.67`).
pub(crate) fn format_score(score: f64) -> String {
    let s = format!("{score:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() { "0".into() } else { s.into() }
}

/// Current UTC time as `YYYY-MM-DDThh:mm:ssZ`.
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn scores() {
        assert_eq!(format_score(100.0), "100");
        assert_eq!(format_score(66.666), "66.67");
        assert_eq!(format_score(0.0), "0");
        assert_eq!(format_score(50.0), "50");
    }
}
