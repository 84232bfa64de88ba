//! The official R4 examples and the Synthea bundles must validate cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hms_fhir::{Issue, Model, json, validate};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn errors(bytes: &[u8]) -> Vec<Issue> {
    let value = json::parse_resource(bytes).map_err(|i| vec![i]);
    match value {
        Ok(v) => validate::validate_resource(Model::r4(), &v)
            .into_iter()
            .filter(|i| i.severity.is_error())
            .collect(),
        Err(issues) => issues,
    }
}

#[test]
fn official_examples_are_valid() {
    let files = fixtures("fhir-examples");
    assert_eq!(files.len(), 62);
    let mut failures = Vec::new();
    for f in &files {
        let issues = errors(&std::fs::read(f).unwrap());
        for i in issues {
            failures.push(format!("{}: {i}", f.file_name().unwrap().to_string_lossy()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn synthea_bundles_are_valid() {
    let files = fixtures("synthea");
    assert_eq!(files.len(), 7);
    let mut failures = Vec::new();
    let mut bytes_total = 0;
    let mut entries = 0;
    let mut elapsed = std::time::Duration::ZERO;
    let mut parse_time = std::time::Duration::ZERO;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        bytes_total += bytes.len();
        let start = Instant::now();
        let value = json::parse_resource(&bytes).unwrap();
        let parsed = start.elapsed();
        let issues = validate::validate_resource(Model::r4(), &value);
        elapsed += start.elapsed();
        parse_time += parsed;
        let entry_list = value["entry"].as_array().map_or(&[][..], Vec::as_slice);
        entries += entry_list.len();
        // Each entry alone, as the server validates transaction entries.
        for (i, e) in entry_list.iter().enumerate() {
            for issue in validate::validate_resource(Model::r4(), &e["resource"]) {
                failures.push(format!(
                    "{} entry {i}: {issue}",
                    f.file_name().unwrap().to_string_lossy()
                ));
            }
        }
        for i in issues {
            failures.push(format!("{}: {i}", f.file_name().unwrap().to_string_lossy()));
        }
    }
    eprintln!(
        "synthea (debug build): {bytes_total} bytes, {entries} entries: parse+validate {elapsed:?} (parse {parse_time:?})"
    );
    assert!(entries > 1000);
    failures.truncate(50);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Adds `zzBogus` to every object; returns how many objects were touched.
fn poison(v: &mut serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => {
            let inner: usize = m.values_mut().map(poison).sum();
            m.insert("zzBogus".into(), true.into());
            inner + 1
        }
        serde_json::Value::Array(a) => a.iter_mut().map(poison).sum(),
        _ => 0,
    }
}

/// No part of a real resource is skipped: an unknown key planted in every
/// object of every example is reported once per object, at the right place.
#[test]
fn every_object_of_the_examples_is_walked() {
    for f in fixtures("fhir-examples") {
        let mut v = json::parse_resource(&std::fs::read(&f).unwrap()).unwrap();
        let planted = poison(&mut v);
        let issues = validate::validate_resource(Model::r4(), &v);
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let bogus = issues
            .iter()
            .filter(|i| i.diagnostics == "unknown element 'zzBogus'")
            .count();
        assert_eq!(bogus, planted, "{name}: {issues:#?}");
        assert_eq!(
            issues.len(),
            planted,
            "{name}: only the planted keys are reported"
        );
        assert!(issues.iter().all(|i| {
            i.expression
                .as_deref()
                .is_some_and(|e| e.ends_with(".zzBogus"))
        }));
    }
}

/// Empties every string except `resourceType`; returns how many were emptied.
fn blank_strings(v: &mut serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => m
            .iter_mut()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) if k != "resourceType" => {
                    s.clear();
                    1
                }
                _ => blank_strings(v),
            })
            .sum(),
        serde_json::Value::Array(a) => a
            .iter_mut()
            .map(|v| match v {
                serde_json::Value::String(s) => {
                    s.clear();
                    1
                }
                _ => blank_strings(v),
            })
            .sum(),
        _ => 0,
    }
}

/// Every string primitive of the examples is checked: emptying each one gives
/// exactly one "value" issue per string.
#[test]
fn every_string_primitive_of_the_examples_is_checked() {
    for f in fixtures("fhir-examples") {
        let mut v = json::parse_resource(&std::fs::read(&f).unwrap()).unwrap();
        let blanked = blank_strings(&mut v);
        let issues = validate::validate_resource(Model::r4(), &v);
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(issues.len(), blanked, "{name}");
        assert!(
            issues.iter().all(|i| i.code == "value"),
            "{name}: {issues:#?}"
        );
    }
}
