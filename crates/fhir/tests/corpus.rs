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
