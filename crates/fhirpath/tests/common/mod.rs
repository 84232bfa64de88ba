//! Shared helpers for integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hms_fhirpath::{EvalContext, evaluate, parse};
use serde_json::Value;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixtures_dir() -> PathBuf {
    repo_root().join("tests/fixtures/fhir-examples")
}

pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join(name)).expect(name);
    serde_json::from_str(&text).expect(name)
}

/// Evaluates and returns results as JSON.
pub fn eval_json(resource: &Value, expr: &str) -> Vec<Value> {
    let e = parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    let ctx = EvalContext::new(resource);
    evaluate(&e, resource, &ctx)
        .unwrap_or_else(|err| panic!("{expr}: {err}"))
        .iter()
        .map(|i| i.to_json())
        .collect()
}

/// Evaluates and returns results as their JSON text (strings unquoted).
pub fn eval_text(resource: &Value, expr: &str) -> Vec<String> {
    eval_json(resource, expr)
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .collect()
}
