#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic
#![allow(dead_code)]

use std::path::PathBuf;

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hl7v2")
}

pub fn raw(name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join(name)).unwrap()
}

/// Fixture bytes after the documented terminator normalisation.
pub fn normalized(name: &str) -> Vec<u8> {
    hms_hl7v2::normalize_segment_terminators(&raw(name)).into_owned()
}

pub fn parse(name: &str) -> hms_hl7v2::Message {
    hms_hl7v2::Message::parse(&normalized(name)).unwrap()
}

pub fn all_fixtures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".hl7"))
        .collect();
    v.sort();
    v
}
