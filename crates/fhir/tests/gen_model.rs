//! Generates `fhir-profiles/r4-model.txt`, the compact model that `hms_fhir::model`
//! embeds, from the official R4 definitions in `fhir-profiles/definitions/`.
//!
//! `cargo test -p hms-fhir --test gen_model` checks that the committed file is current;
//! with `HMS_FHIR_REGEN_MODEL=1` it rewrites the file instead.
//!
//! Line format (tab separated; `-` = empty):
//! - `T name kind` with kind `resource`, `abstract`, `complex` or `primitive`
//! - `E path min max types targets binding contentReference` (types/targets comma separated)
//! - `V valueSetUrl system code...` one line per (ValueSet, system) of an expansion
//! - `X valueSetUrl` the ValueSet cannot be expanded from the package (skip its binding)
//! - `C compartment resourceType param...`
//! - `S path` the element is in the summary (`_summary=true`)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const SD_PREFIX: &str = "http://hl7.org/fhir/StructureDefinition/";
const FHIR_TYPE_EXT: &str = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fhir-profiles")
}

fn load_dir(dir: &str) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("definitions").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "-".to_string() } else { s }
}

/// The FHIR type code of one `ElementDefinition.type`, mapping FHIRPath system
/// types (used for `id`, `Extension.url`, primitive `value`) back to FHIR types.
fn type_code(t: &Value, path: &str, is_resource: bool) -> String {
    let code = s(t, "code");
    if !code.starts_with("http://hl7.org/fhirpath/System.") {
        return code.to_string();
    }
    // Resource.id is an `id` in the spec even though the snapshot says System.String.
    let segs: Vec<&str> = path.split('.').collect();
    if is_resource && segs.len() == 2 && segs[1] == "id" {
        return "id".to_string();
    }
    arr(t, "extension")
        .iter()
        .find(|e| s(e, "url") == FHIR_TYPE_EXT)
        .map(|e| s(e, "valueUrl").to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "string".to_string())
}

fn gen_types(out: &mut String) {
    for sd in load_dir("structuredefinitions") {
        if s(&sd, "derivation") == "constraint" {
            continue; // SimpleQuantity: validated as Quantity
        }
        let name = s(&sd, "id");
        let is_abstract = sd.get("abstract").and_then(Value::as_bool).unwrap_or(false);
        let kind = match (s(&sd, "kind"), is_abstract) {
            ("resource", true) => "abstract",
            ("resource", false) => "resource",
            ("complex-type", _) => "complex",
            ("primitive-type", _) => "primitive",
            (k, _) => panic!("unexpected kind {k}"),
        };
        writeln!(out, "T\t{name}\t{kind}").unwrap();
        if kind == "primitive" {
            continue; // a primitive's id/extension are those of Element
        }
        let is_resource = s(&sd, "kind") == "resource";
        for e in arr(&sd["snapshot"], "element") {
            let path = s(e, "path");
            let mut types: Vec<String> = Vec::new();
            let mut targets: BTreeSet<String> = BTreeSet::new();
            for t in arr(e, "type") {
                let code = type_code(t, path, is_resource);
                if !types.contains(&code) {
                    types.push(code);
                }
                for tp in arr(t, "targetProfile") {
                    let tp = tp.as_str().unwrap_or("");
                    targets.insert(tp.strip_prefix(SD_PREFIX).unwrap_or(tp).to_string());
                }
            }
            let binding = e
                .get("binding")
                .filter(|b| s(b, "strength") == "required")
                .map(|b| s(b, "valueSet").split('|').next().unwrap_or("").to_string())
                .unwrap_or_default();
            let cref = s(e, "contentReference").trim_start_matches('#').to_string();
            let min = e.get("min").and_then(Value::as_u64).unwrap_or(0);
            let max = s(e, "max");
            writeln!(
                out,
                "E\t{path}\t{min}\t{max}\t{}\t{}\t{}\t{}",
                or_dash(types.join(",")),
                or_dash(targets.into_iter().collect::<Vec<_>>().join(",")),
                or_dash(binding),
                or_dash(cref)
            )
            .unwrap();
            if e.get("isSummary").and_then(Value::as_bool) == Some(true) {
                writeln!(out, "S\t{path}").unwrap();
            }
        }
    }
}

/// All codes of a CodeSystem with, for each code, its descendants (for is-a filters).
struct CodeSystem {
    codes: Vec<String>,
    children: BTreeMap<String, Vec<String>>,
}

fn flatten(concepts: &[Value], parent: Option<&str>, cs: &mut CodeSystem) {
    for c in concepts {
        let code = s(c, "code").to_string();
        if let Some(p) = parent {
            cs.children
                .entry(p.to_string())
                .or_default()
                .push(code.clone());
        }
        cs.codes.push(code.clone());
        flatten(arr(c, "concept"), Some(&code), cs);
    }
}

fn descendants(cs: &CodeSystem, code: &str, out: &mut BTreeSet<String>) {
    for child in cs.children.get(code).map(Vec::as_slice).unwrap_or(&[]) {
        if out.insert(child.clone()) {
            descendants(cs, child, out);
        }
    }
}

/// Codes selected by one compose include/exclude, or None if it cannot be expanded here.
fn select(inc: &Value, systems: &BTreeMap<String, CodeSystem>) -> Option<BTreeSet<String>> {
    if inc.get("valueSet").is_some() {
        return None;
    }
    let concepts = arr(inc, "concept");
    if !concepts.is_empty() {
        return Some(concepts.iter().map(|c| s(c, "code").to_string()).collect());
    }
    let cs = systems.get(s(inc, "system"))?;
    let filters = arr(inc, "filter");
    if filters.is_empty() {
        return Some(cs.codes.iter().cloned().collect());
    }
    let mut result: Option<BTreeSet<String>> = None;
    for f in filters {
        if s(f, "property") != "concept" {
            return None;
        }
        let mut set = BTreeSet::new();
        match s(f, "op") {
            "is-a" => {
                set.insert(s(f, "value").to_string());
                descendants(cs, s(f, "value"), &mut set);
            }
            "descendent-of" => descendants(cs, s(f, "value"), &mut set),
            _ => return None,
        }
        // Several filters in one include are ANDed.
        result = Some(match result {
            None => set,
            Some(prev) => prev.intersection(&set).cloned().collect(),
        });
    }
    result
}

fn gen_value_sets(out: &mut String) {
    let mut systems = BTreeMap::new();
    for cs in load_dir("codesystems") {
        if s(&cs, "content") != "complete" {
            continue;
        }
        let mut sys = CodeSystem {
            codes: Vec::new(),
            children: BTreeMap::new(),
        };
        flatten(arr(&cs, "concept"), None, &mut sys);
        systems.insert(s(&cs, "url").to_string(), sys);
    }
    for vs in load_dir("valuesets") {
        let url = s(&vs, "url");
        let compose = &vs["compose"];
        let mut expansion: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut ok = true;
        for inc in arr(compose, "include") {
            match select(inc, &systems) {
                Some(codes) => expansion
                    .entry(s(inc, "system").to_string())
                    .or_default()
                    .extend(codes),
                None => ok = false,
            }
        }
        for exc in arr(compose, "exclude") {
            match select(exc, &systems) {
                Some(codes) => {
                    if let Some(set) = expansion.get_mut(s(exc, "system")) {
                        set.retain(|c| !codes.contains(c));
                    }
                }
                None => ok = false,
            }
        }
        if !ok || expansion.is_empty() {
            writeln!(out, "X\t{url}").unwrap();
            continue;
        }
        for (system, codes) in expansion {
            let codes: Vec<String> = codes.into_iter().collect();
            writeln!(out, "V\t{url}\t{system}\t{}", codes.join("\t")).unwrap();
        }
    }
}

fn gen_compartments(out: &mut String) {
    for cd in load_dir("compartments") {
        let comp = s(&cd, "code");
        for r in arr(&cd, "resource") {
            let params: Vec<&str> = arr(r, "param").iter().filter_map(Value::as_str).collect();
            if !params.is_empty() {
                writeln!(out, "C\t{comp}\t{}\t{}", s(r, "code"), params.join("\t")).unwrap();
            }
        }
    }
}

fn generate() -> String {
    let mut out = String::from(
        "# hms-fhir compact FHIR R4 4.0.1 model; generated by crates/fhir/tests/gen_model.rs, do not edit\n",
    );
    gen_types(&mut out);
    gen_value_sets(&mut out);
    gen_compartments(&mut out);
    out
}

#[test]
fn compact_model_is_current() {
    let path = root().join("r4-model.txt");
    let fresh = generate();
    if std::env::var_os("HMS_FHIR_REGEN_MODEL").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "fhir-profiles/r4-model.txt is stale; rerun with HMS_FHIR_REGEN_MODEL=1"
    );
}

#[test]
fn expansion_filters_and_excludes() {
    let cs_json = serde_json::json!({"concept": [
        {"code": "a", "concept": [{"code": "a1", "concept": [{"code": "a11"}]}, {"code": "a2"}]},
        {"code": "b"}
    ]});
    let mut cs = CodeSystem {
        codes: Vec::new(),
        children: BTreeMap::new(),
    };
    flatten(arr(&cs_json, "concept"), None, &mut cs);
    let systems = BTreeMap::from([("http://x".to_string(), cs)]);
    let set = |v: Value| select(&v, &systems).map(|s| s.into_iter().collect::<Vec<_>>());
    let all = set(serde_json::json!({"system": "http://x"}));
    assert_eq!(all.unwrap(), ["a", "a1", "a11", "a2", "b"]);
    let is_a = set(
        serde_json::json!({"system": "http://x", "filter": [{"property": "concept", "op": "is-a", "value": "a1"}]}),
    );
    assert_eq!(is_a.unwrap(), ["a1", "a11"]);
    let desc = set(
        serde_json::json!({"system": "http://x", "filter": [{"property": "concept", "op": "descendent-of", "value": "a"}]}),
    );
    assert_eq!(desc.unwrap(), ["a1", "a11", "a2"]);
    let listed = set(serde_json::json!({"system": "http://x", "concept": [{"code": "b"}]}));
    assert_eq!(listed.unwrap(), ["b"]);
    assert!(set(serde_json::json!({"system": "http://unknown"})).is_none());
    assert!(set(serde_json::json!({"system": "http://x", "filter": [{"property": "status", "op": "=", "value": "x"}]})).is_none());
    assert!(set(serde_json::json!({"valueSet": ["http://other"]})).is_none());
}
