//! Independent validation of our 837P output with pyx12's x12valid.
//! Skips (with a message) when pyx12 is not installed; CI installs it
//! (see crates/x12/README.md for the pinned pip command).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use hms_x12::build_837p;
use std::process::Command;

fn python() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import pyx12.scripts.x12valid"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// x12valid's exit status does not reflect validity (the console script exits
/// 1 on success, the module 0 on failure), so we read its log: each file ends
/// with "<file>: OK" or "<file>: Failure", and every finding is an " ERROR " line.
fn x12valid(py: &str, file: &std::path::Path) -> (bool, Vec<String>) {
    let out = Command::new(py)
        .args(["-m", "pyx12.scripts.x12valid", "--quiet"])
        .arg(file)
        .current_dir(file.parent().unwrap())
        .output()
        .expect("run x12valid");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let name = file.display().to_string();
    let ok = text.lines().any(|l| l.trim() == format!("{name}: OK"));
    let errors = text
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains("Traceback") || l.contains("Failure"))
        .map(str::to_string)
        .collect();
    (ok, errors)
}

#[test]
fn pyx12_accepts_our_837p_outputs() {
    let Some(py) = python() else {
        println!(
            "SKIPPED pyx12_accepts_our_837p_outputs: pyx12 is not installed \
             (pip install pyx12==4.0.0)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("hms-x12-pyx12-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, input) in common::all_inputs() {
        let text = build_837p(&input, &common::env()).expect(name);
        let file = dir.join(format!("{name}.837"));
        std::fs::write(&file, text).unwrap();
        let (ok, errors) = x12valid(py, &file);
        assert!(
            ok && errors.is_empty(),
            "{name}: pyx12 reported {errors:#?}"
        );
        println!("pyx12 x12valid: {name}.837 OK, 0 errors");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pyx12_rejects_a_broken_837p() {
    // Guard against a validator harness that passes everything.
    let Some(py) = python() else {
        println!("SKIPPED pyx12_rejects_a_broken_837p: pyx12 is not installed");
        return;
    };
    let dir = std::env::temp_dir().join(format!("hms-x12-pyx12-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = build_837p(&common::med_00050(), &common::env())
        .unwrap()
        .replace("SE*25*0001~", "SE*26*0001~")
        .replace("DMG*D8*19540611*F~", "DMG*D8*19541311*F~");
    let file = dir.join("broken.837");
    std::fs::write(&file, text).unwrap();
    let (ok, errors) = x12valid(py, &file);
    assert!(!ok, "pyx12 should fail the broken file");
    assert!(errors.iter().any(|e| e.contains("SE count")), "{errors:#?}");
    assert!(
        errors.iter().any(|e| e.contains("invalid date")),
        "{errors:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
