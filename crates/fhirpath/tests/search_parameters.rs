//! Every R4 SearchParameter expression parses, and evaluates without error
//! against every fixture resource of a matching base type.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use hms_fhirpath::{EvalContext, evaluate, parse};
use serde_json::Value;

fn search_parameters() -> Vec<Value> {
    let path = common::repo_root().join("fhir-profiles/search-parameters/search-parameters.json");
    let bundle: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .collect()
}

fn fixtures() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(common::fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        out.push((path.file_name().unwrap().to_string_lossy().into_owned(), v));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn all_search_parameter_expressions_parse_and_evaluate() {
    let params = search_parameters();
    let fixtures = fixtures();
    let (mut parsed, mut skipped, mut evaluations, mut non_empty) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for sp in &params {
        let Some(expr) = sp["expression"].as_str() else {
            skipped += 1;
            continue;
        };
        let code = sp["code"].as_str().unwrap_or("?");
        let e = match parse(expr) {
            Ok(e) => e,
            Err(err) => {
                failures.push(format!("parse {code}: {expr}: {err}"));
                continue;
            }
        };
        parsed += 1;
        let bases: Vec<&str> = sp["base"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for (name, res) in &fixtures {
            let rt = res["resourceType"].as_str().unwrap_or_default();
            let domain = !matches!(rt, "Bundle" | "Binary" | "Parameters");
            let applies = bases
                .iter()
                .any(|b| *b == rt || *b == "Resource" || (*b == "DomainResource" && domain));
            if !applies {
                continue;
            }
            evaluations += 1;
            let ctx = EvalContext::new(res);
            match evaluate(&e, res, &ctx) {
                Ok(out) => {
                    if !out.is_empty() {
                        non_empty += 1;
                    }
                }
                Err(err) => failures.push(format!("eval {code} on {name}: {expr}: {err}")),
            }
        }
    }
    println!(
        "search parameters: {} total, {parsed} parsed, {skipped} without expression; \
         {evaluations} evaluations on {} fixtures, {non_empty} non-empty",
        params.len(),
        fixtures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(parsed + skipped, params.len());
    assert!(parsed >= 1372);
    assert!(non_empty > 300, "suspiciously few results: {non_empty}");
}

/// Spot checks of values the search indexer will get.
#[test]
fn search_parameter_values() {
    let params = search_parameters();
    let expr_of = |id: &str| -> String {
        params
            .iter()
            .find(|p| p["id"].as_str() == Some(id))
            .and_then(|p| p["expression"].as_str())
            .unwrap_or_else(|| panic!("no SearchParameter {id}"))
            .to_string()
    };
    let run = |file: &str, id: &str| -> Vec<(Option<String>, Value)> {
        let r = common::fixture(file);
        let e = parse(&expr_of(id)).unwrap();
        let ctx = EvalContext::new(&r);
        evaluate(&e, &r, &ctx)
            .unwrap()
            .iter()
            .map(|i| (i.type_name().map(str::to_string), i.to_json()))
            .collect()
    };
    // clinical-patient on Observation: subject.where(resolve() is Patient)
    let out = run("Observation-example.json", "clinical-patient");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1["reference"], "Patient/example");
    // Observation value-quantity: (Observation.value as Quantity) | (Observation.value as SampledData)
    let out = run("Observation-example.json", "Observation-value-quantity");
    assert_eq!(out[0].0.as_deref(), Some("Quantity"));
    assert_eq!(out[0].1["value"].to_string(), "185");
    // clinical-date on Observation: Observation.effective is a dateTime.
    let out = run("Observation-example.json", "clinical-date");
    assert_eq!(out[0].0.as_deref(), Some("dateTime"));
    assert_eq!(out[0].1, "2016-03-28");
    let out = run("Patient-example.json", "individual-birthdate");
    assert_eq!(out[0].1, "1974-12-25");
    let out = run("Patient-example.json", "individual-phone");
    assert_eq!(out.len(), 3);
    let out = run("Patient-example.json", "Patient-name");
    assert_eq!(out.len(), 3);
    let out = run("Claim-MED-00050.json", "Claim-patient");
    assert_eq!(out[0].1["reference"], "#patient-1");
    let out = run("Patient-example.json", "Resource-id");
    assert_eq!(out[0].1, "example");
}
