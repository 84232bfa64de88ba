//! Runs TestScripts against the in-test mock FHIR server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hms_conformance::{
    ActionResult, LoadError, ReportResult, RunOptions, TestReport, junit_xml, load_each,
    load_script_file, load_scripts, run_script, run_scripts_blocking, summary_table,
};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

fn opts(server: &str) -> RunOptions {
    RunOptions {
        server: server.to_string(),
        variables: Vec::new(),
        timeout: Duration::from_secs(10),
    }
}

async fn run(name: &str, server: &str) -> TestReport {
    let s = load_script_file(&script(name)).unwrap();
    run_script(&s, &opts(server)).await
}

fn dump(r: &TestReport) -> String {
    let mut s = format!("{} {:?} score {}\n", r.name, r.result, r.score);
    for a in &r.setup {
        s += &format!("  setup {:?} {} — {}\n", a.result, a.name, a.message);
    }
    for t in &r.tests {
        s += &format!(" test {} {:?}\n", t.name, t.result);
        for a in &t.actions {
            s += &format!("   {:?} {} — {}\n", a.result, a.name, a.message);
        }
    }
    for a in &r.teardown {
        s += &format!("  teardown {:?} {} — {}\n", a.result, a.name, a.message);
    }
    s
}

#[actix_web::test]
async fn crud_script_passes() {
    let server = common::start();
    let r = run("pass_crud.json", &server).await;
    assert_eq!(r.result, ReportResult::Pass, "{}", dump(&r));
    assert_eq!(r.tests.len(), 7);
    assert_eq!(r.score, 100.0);
    // The warningOnly assert failed as a warning without failing the test.
    let read = &r.tests[1];
    let warn = read.actions.iter().find(|a| a.name == "warn-only").unwrap();
    assert_eq!(warn.result, ActionResult::Warning);
    assert_eq!(read.result, ReportResult::Pass);
    // autocreate before setup, autodelete after teardown.
    assert!(r.setup[0].name.starts_with("autocreate fixture-bob"));
    assert_eq!(r.teardown.last().unwrap().name, "autodelete fixture-bob");
    assert_eq!(r.teardown.last().unwrap().result, ActionResult::Pass);
    // FHIR TestReport resource.
    assert_eq!(r.resource["resourceType"], "TestReport");
    assert_eq!(r.resource["result"], "pass");
    assert_eq!(r.resource["score"].to_string(), "100");
    assert_eq!(r.resource["status"], "completed");
    assert_eq!(r.resource["testScript"]["reference"], "urn:test:pass-crud");
    assert_eq!(r.resource["test"].as_array().unwrap().len(), 7);
    assert_eq!(
        r.resource["test"][1]["action"][0]["operation"]["result"],
        "pass"
    );
    assert_eq!(
        r.resource["test"][1]["action"][1]["assert"]["result"],
        "pass"
    );
    assert_eq!(r.resource["participant"][0]["uri"], server.as_str());
}

#[actix_web::test]
async fn cli_variable_overrides_default() {
    let server = common::start();
    let s = load_script_file(&script("pass_crud.json")).unwrap();
    let mut o = opts(&server);
    o.variables.push(("familyName".into(), "Override".into()));
    let r = run_script(&s, &o).await;
    // The fixture body and the asserts both use ${familyName}, except the two
    // literal 'Testperson' asserts in the read test.
    assert_eq!(r.tests[0].result, ReportResult::Pass, "{}", dump(&r));
    assert_eq!(r.tests[1].result, ReportResult::Fail, "{}", dump(&r));
    let failed: Vec<&str> = r.tests[1]
        .actions
        .iter()
        .filter(|a| a.result == ActionResult::Fail)
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(failed, vec!["fhirpath-bool", "jsonpath"]);
}

#[actix_web::test]
async fn failures_are_reported_with_assert_names() {
    let server = common::start();
    let r = run("fail_asserts.json", &server).await;
    assert_eq!(r.result, ReportResult::Fail, "{}", dump(&r));
    let expect = [
        (
            "wrong status",
            "expect-201",
            "expected responseCode equals '201' but got 200",
        ),
        (
            "wrong value",
            "family-is-X",
            "Patient.name.family = 'Y', expected equals 'X'",
        ),
        (
            "missing header",
            "needs-location",
            "response header 'Location' is absent",
        ),
    ];
    for (i, (test, assert, msg)) in expect.iter().enumerate() {
        let t = &r.tests[i];
        assert_eq!(t.name, *test);
        assert_eq!(t.result, ReportResult::Fail, "{}", dump(&r));
        let p = t.first_problem().unwrap();
        assert_eq!(p.name, *assert);
        assert_eq!(p.result, ActionResult::Fail);
        assert!(p.message.contains(msg), "{}", p.message);
    }
    assert_eq!(r.tests[3].result, ReportResult::Pass);
    assert_eq!(r.score, 25.0);
    assert_eq!(r.resource["result"], "fail");
    assert_eq!(r.resource["score"].to_string(), "25");

    let table = summary_table(std::slice::from_ref(&r));
    assert!(table.contains("FailAsserts"), "{table}");
    assert!(table.contains("FAIL"), "{table}");
    assert!(table.contains("needs-location"), "{table}");
    let line = table
        .lines()
        .find(|l| l.starts_with("FailAsserts"))
        .unwrap();
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    assert_eq!(cells, vec!["FailAsserts", "1", "3", "0", "0", "FAIL"]);
}

#[actix_web::test]
async fn unsupported_elements_are_errors() {
    let server = common::start();
    let r = run("unsupported.json", &server).await;
    assert_eq!(r.result, ReportResult::Error, "{}", dump(&r));
    assert_eq!(r.resource["result"], "fail");
    let expect = [
        ("xpath-predicate", "assert.compareToSourcePath: XPath"),
        (
            "unknown operation type",
            "operation.type 'foo' is not supported",
        ),
        ("profile", "assert.validateProfileId"),
        ("filter", "assert.path: JSONPath"),
        ("odd", "assert.result is not a TestScript assert element"),
        ("like", "assert.operator 'like' is not supported"),
    ];
    for (i, (name, msg)) in expect.iter().enumerate() {
        let t = &r.tests[i];
        assert_eq!(t.result, ReportResult::Error, "{}", dump(&r));
        let p = t.first_problem().unwrap();
        assert_eq!(p.result, ActionResult::Error);
        if i != 1 {
            assert_eq!(p.name, *name);
        }
        assert!(p.message.contains(msg), "{}: {}", p.name, p.message);
    }
    // After the operation error, the assert is skipped, not passed.
    assert_eq!(r.tests[1].actions[1].result, ActionResult::Skip);
}

#[actix_web::test]
async fn connection_refused_is_error() {
    // Bind then drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = run("fail_asserts.json", &format!("http://127.0.0.1:{port}")).await;
    assert_eq!(r.result, ReportResult::Error, "{}", dump(&r));
    assert!(r.setup[0].message.contains("autocreate"), "{}", dump(&r));
    assert!(r.tests.iter().all(|t| t.result == ReportResult::Pending));
    assert!(r.error.is_some());
    assert_eq!(r.score, 0.0);
}

#[actix_web::test]
async fn junit_is_well_formed() {
    let server = common::start();
    let reports = vec![
        run("pass_crud.json", &server).await,
        run("fail_asserts.json", &server).await,
        run("unsupported.json", &server).await,
        TestReport::from_error("broken.json", None, "invalid JSON: <oops> & co", &server),
    ];
    let xml = junit_xml(&reports);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "));
    assert!(xml.contains(
        "<testsuites name=\"hms conformance\" tests=\"18\" failures=\"3\" errors=\"7\" skipped=\"0\">"
    ), "{xml}");
    assert!(xml.contains(
        "<testsuite name=\"PassCrud\" tests=\"7\" failures=\"0\" errors=\"0\" skipped=\"0\">"
    ));
    assert!(xml.contains("<testcase classname=\"PassCrud\" name=\"create\"/>"));
    assert!(xml.contains(
        "<failure message=\"expect-201: expected responseCode equals &apos;201&apos; but got 200\" type=\"assert\">"
    ), "{xml}");
    assert!(xml.contains("read must return 201"), "{xml}");
    assert!(
        xml.contains("<error message=\"invalid JSON: &lt;oops&gt; &amp; co\" type=\"error\"/>")
    );
    check_xml(&xml);
}

/// Minimal well-formedness check: balanced tags, quoted attributes, known entities.
fn check_xml(xml: &str) {
    let body = xml.split_once("?>").unwrap().1;
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        check_text(text);
        let gt = rest[lt..].find('>').unwrap() + lt;
        let tag = &rest[lt + 1..gt];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else {
            let self_closing = tag.ends_with('/');
            let inner = tag.trim_end_matches('/');
            let name = inner.split_whitespace().next().unwrap().to_string();
            let attrs = inner[name.len()..].trim();
            // attributes: name="value" pairs
            let mut a = attrs;
            while !a.is_empty() {
                let eq = a.find("=\"").unwrap();
                let close = a[eq + 2..].find('"').unwrap() + eq + 2;
                check_text(&a[eq + 2..close]);
                a = a[close + 1..].trim_start();
            }
            if !self_closing {
                stack.push(name);
            }
        }
        rest = &rest[gt + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
}

fn check_text(t: &str) {
    assert!(!t.contains('<') && !t.contains('>'));
    let mut rest = t;
    while let Some(i) = rest.find('&') {
        let semi = rest[i..].find(';').unwrap() + i;
        assert!(
            ["amp", "lt", "gt", "quot", "apos"].contains(&&rest[i + 1..semi]),
            "bad entity in {t}"
        );
        rest = &rest[semi + 1..];
    }
}

fn public_dir() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/testscripts");
    p.canonicalize().unwrap_or(p)
}

#[test]
fn public_testscripts_load_or_explain() {
    let dir = public_dir();
    let results = load_each(std::slice::from_ref(&dir)).unwrap();
    let loaded = results.iter().filter(|(_, r)| r.is_ok()).count();
    let failed: Vec<(String, String)> = results
        .iter()
        .filter_map(|(p, r)| {
            r.as_ref()
                .err()
                .map(|e| (p.display().to_string(), e.to_string()))
        })
        .collect();
    println!(
        "public TestScripts: {loaded} loaded, {} failed",
        failed.len()
    );
    for (p, e) in &failed {
        println!("  {p}: {e}");
    }
    // Directory walking only considers *.json; the one invalid JSON file fails clearly.
    assert_eq!(loaded, 24);
    assert_eq!(failed.len(), 1);
    assert!(failed[0].1.contains("invalid JSON"), "{}", failed[0].1);

    // The XML script, given explicitly, is a clear LoadError.
    let xml = dir.join("testscript-engine/spec/examples/testscript/read_testscript.xml");
    assert!(matches!(load_script_file(&xml), Err(LoadError::Xml { .. })));
    // load_scripts (strict) stops at the invalid file.
    assert!(matches!(
        load_scripts(std::slice::from_ref(&dir)),
        Err(LoadError::Json { .. })
    ));
    // Spec fixtures `Patient/example` resolve to fixtures/Patient-example.json.
    let spec =
        load_script_file(&dir.join("fhir-spec-r4/TestScript-testscript-example.json")).unwrap();
    assert!(
        spec.unresolved_fixtures().is_empty(),
        "{:?}",
        spec.unresolved_fixtures()
    );
    // Server-side references without files are reported per fixture.
    let xa = load_script_file(
        &dir.join("testscript-engine/spec/examples/testscript/TestScript-XA9eSGbRZR7Nrz2Gd.json"),
    )
    .unwrap();
    assert_eq!(xa.unresolved_fixtures().len(), 2);
}

#[actix_web::test]
async fn public_testscripts_against_mock() {
    let server = common::start();
    let results = load_each(&[public_dir()]).unwrap();
    let mut reports = Vec::new();
    for (path, r) in results {
        match r {
            Ok(s) => reports.push(run_script(&s, &opts(&server)).await),
            Err(e) => reports.push(TestReport::from_error(
                &path.file_name().unwrap().to_string_lossy(),
                Some(path.clone()),
                &e.to_string(),
                &server,
            )),
        }
    }
    let table = summary_table(&reports);
    println!("{table}");
    for r in &reports {
        assert_eq!(r.resource["resourceType"], "TestReport");
        // Scripts that use profile validation can never pass here.
        let uses_profiles = r
            .tests
            .iter()
            .flat_map(|t| &t.actions)
            .any(|a| a.message.contains("validateProfileId"));
        if uses_profiles {
            assert_ne!(r.result, ReportResult::Pass, "{}", r.name);
        }
    }
    check_xml(&junit_xml(&reports));
}

#[test]
fn blocking_runner_works_from_sync_code() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            tx.send(common::start()).unwrap();
            actix_rt::time::sleep(Duration::from_secs(60)).await;
        });
    });
    let url = rx.recv().unwrap();
    let s = load_script_file(&script("fail_asserts.json")).unwrap();
    let reports = run_scripts_blocking(vec![s], opts(&url));
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0].result,
        ReportResult::Fail,
        "{}",
        dump(&reports[0])
    );
    assert_eq!(reports[0].counts().passed, 1);
    assert_eq!(reports[0].counts().failed, 3);
}

#[actix_web::test]
async fn placeholder_urls_and_missing_variables_are_errors() {
    let server = common::start();
    let raw = serde_json::json!({
        "resourceType": "TestScript", "name": "Placeholders", "status": "active",
        "contained": [{"resourceType": "Patient", "id": "loop", "name": [{"family": "${selfRef}"}]}],
        "fixture": [{"id": "loop", "resource": {"reference": "#loop"}}],
        "variable": [{"name": "family", "hint": "[Family name]"},
                     {"name": "selfRef", "expression": "Patient.name.family", "sourceId": "loop"}],
        "test": [
            {"name": "no operation yet", "action": [
                {"assert": {"label": "too-early", "response": "okay"}}]},
            {"name": "mustache", "action": [
                {"operation": {"type": {"code": "read"}, "url": "{{hostname}}/Patient/1"}}]},
            {"name": "unset variable", "action": [
                {"operation": {"type": {"code": "search"}, "resource": "Patient", "params": "?family=${family}"}}]},
            {"name": "self reference", "action": [
                {"operation": {"type": {"code": "create"}, "resource": "Patient", "sourceId": "loop"}},
                {"assert": {"label": "literal", "expression": "Patient.name.family", "value": "${selfRef}"}}]}

        ]
    });
    let path = script("inline.json");
    let s = hms_conformance::load_script_value(raw, &path).unwrap();
    let r = run_script(&s, &opts(&server)).await;
    assert_eq!(r.result, ReportResult::Error, "{}", dump(&r));
    let problem = |i: usize| r.tests[i].first_problem().unwrap().message.clone();
    assert!(
        problem(0).contains("no operation has been executed yet"),
        "{}",
        dump(&r)
    );
    assert!(
        problem(1).contains("placeholder '{{hostname}}'"),
        "{}",
        dump(&r)
    );
    assert!(problem(2).contains("--var family=VALUE"), "{}", dump(&r));
    // A variable evaluated over the fixture that mentions it does not recurse.
    assert_eq!(r.tests[3].result, ReportResult::Pass, "{}", dump(&r));
}
