#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! The conformance/ TestScript suite, run through the hms-conformance runner against the real
//! `hms` binary: a fresh `hms serve` on a random port with a temporary data dir, on SQLite and
//! (when HMS_TEST_DATABASE_URL is set) on a freshly created PostgreSQL database. A second test
//! runs the suite against a server configured with `--max-body-bytes 100` and checks that exactly
//! the scripts that send larger bodies fail, on the assert that sees the 413.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use hms_conformance::{
    ActionKind, ActionReport, ActionResult, ReportResult, RunOptions, TestReport, load_scripts,
    run_scripts_blocking, summary_table,
};

/// A running `hms serve` child process with its own data dir; killed and cleaned up on drop.
struct Served {
    child: Child,
    dir: PathBuf,
    base: String,
}

impl Served {
    fn start(extra: &[&str]) -> Served {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!(
            "hms-conformance-{}-{port}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hms"));
        cmd.arg("serve")
            .args(["--http", &addr, "--data-dir"])
            .arg(&dir)
            .args(["--http-workers", "2", "--no-mllp"])
            .args(extra)
            .env_remove("HMS_DATABASE_URL")
            .env_remove("HMS_CONFIG")
            .env("HMS_LOG", "error")
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().expect("start hms serve");
        let mut served = Served {
            child,
            dir,
            base: format!("http://{addr}/fhir"),
        };
        served.wait_ready(&addr);
        served
    }

    fn wait_ready(&mut self, addr: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("hms serve on {addr} exited during start-up: {status}");
            }
            if let Ok(mut s) = TcpStream::connect(addr) {
                let _ = s.write_all(b"GET /health/ready HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("hms serve on {addr} did not become ready within 30 s");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A throw-away PostgreSQL database `hms_conf_<random>`, dropped on drop.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create(admin_url: &str) -> PgDatabase {
        let name = format!("hms_conf_{}", uuid::Uuid::new_v4().simple());
        let mut c = PgConnection::establish(admin_url).expect("connect to HMS_TEST_DATABASE_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .unwrap();
        PgDatabase {
            admin_url: admin_url.to_string(),
            url: with_database(admin_url, &name),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c);
        }
    }
}

/// `postgres://u@h:p/db?x` with the database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_end = main.find("://").map_or(0, |i| i + 3);
    let root = match main[authority_end..].find('/') {
        Some(i) => &main[..authority_end + i],
        None => main,
    };
    format!("{root}/{db}{query}")
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

fn run_suite(base: &str) -> Vec<TestReport> {
    let scripts = load_scripts(&[suite_dir()]).expect("every conformance/ script loads");
    assert!(
        scripts.len() >= 60,
        "conformance/ holds {} TestScripts",
        scripts.len()
    );
    for s in &scripts {
        assert!(
            s.unresolved_fixtures().is_empty(),
            "{}: unresolved fixtures {:?}",
            s.path.display(),
            s.unresolved_fixtures()
        );
    }
    let mut opts = RunOptions::new(base);
    opts.timeout = Duration::from_secs(20);
    run_scripts_blocking(scripts, opts)
}

fn problems(r: &TestReport) -> Vec<&ActionReport> {
    r.setup
        .iter()
        .chain(r.tests.iter().flat_map(|t| t.actions.iter()))
        .filter(|a| matches!(a.result, ActionResult::Fail | ActionResult::Error))
        .collect()
}

fn assert_all_pass(reports: &[TestReport], label: &str) {
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| r.result != ReportResult::Pass)
        .map(|r| {
            let why: Vec<String> = problems(r)
                .iter()
                .map(|a| format!("{}: {}", a.name, a.message))
                .collect();
            format!(
                "{} ({}): {}",
                r.name,
                r.result.as_str(),
                r.error.clone().unwrap_or_else(|| why.join("; "))
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{label}: {} of {} scripts did not pass:\n{}\n{}",
        failed.len(),
        reports.len(),
        failed.join("\n"),
        summary_table(reports)
    );
}

#[test]
fn suite_passes_on_sqlite() {
    let srv = Served::start(&[]);
    let reports = run_suite(&srv.base);
    assert_all_pass(&reports, "SQLite");
}

#[test]
fn suite_passes_on_postgres() {
    let Ok(admin) = std::env::var("HMS_TEST_DATABASE_URL") else {
        eprintln!("note: HMS_TEST_DATABASE_URL is not set; PostgreSQL conformance run skipped");
        return;
    };
    let db = PgDatabase::create(&admin);
    let reports = {
        let srv = Served::start(&["--database-url", &db.url]);
        run_suite(&srv.base)
    };
    assert_all_pass(&reports, "PostgreSQL");
}

fn by_name<'a>(reports: &'a [TestReport], name: &str) -> &'a TestReport {
    reports
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no report for {name}"))
}

/// The assert `label` failed on a 413 in `test` (None: in setup).
fn failed_on_413(r: &TestReport, test: Option<&str>, label: &str) {
    let actions: Vec<&ActionReport> = match test {
        None => r.setup.iter().collect(),
        Some(t) => r
            .tests
            .iter()
            .find(|c| c.name == t)
            .unwrap_or_else(|| panic!("{}: no test {t}", r.name))
            .actions
            .iter()
            .collect(),
    };
    let a = actions
        .iter()
        .find(|a| a.kind == ActionKind::Assert && a.name == label)
        .unwrap_or_else(|| panic!("{}: no assert {label} in {test:?}", r.name));
    assert_eq!(a.result, ActionResult::Fail, "{}: {label}", r.name);
    assert!(
        a.message.contains("413"),
        "{}: {label}: {}",
        r.name,
        a.message
    );
}

#[test]
fn a_small_body_limit_fails_exactly_the_scripts_that_send_bodies() {
    let srv = Served::start(&["--max-body-bytes", "100"]);
    let reports = run_suite(&srv.base);
    let table = summary_table(&reports);
    // Scripts that send no body over 100 bytes pass unchanged.
    let passing = [
        "Capabilities",
        "ReadErrors",
        "UnknownType",
        "MediaTypes",
        "BadSearchValues",
        "StrictUnknownParameter",
        "ConditionalErrors",
        "UpdateIdRules",
    ];
    let mut passed: Vec<&str> = reports
        .iter()
        .filter(|r| r.result == ReportResult::Pass)
        .map(|r| r.name.as_str())
        .collect();
    passed.sort_unstable();
    let mut want = passing.to_vec();
    want.sort_unstable();
    assert_eq!(passed, want, "{table}");
    // Every other script fails because of the limit: some assert saw the 413.
    for r in reports.iter().filter(|r| r.result != ReportResult::Pass) {
        assert!(
            problems(r)
                .iter()
                .any(|a| a.kind == ActionKind::Assert && a.message.contains("413")),
            "{} did not fail on a 413:\n{table}",
            r.name
        );
    }
    // Named failures: the create in a CRUD script, a search script's setup, bundles.
    failed_on_413(
        by_name(&reports, "CrudPatient"),
        Some("create"),
        "status-201",
    );
    failed_on_413(by_name(&reports, "CrudClaim"), Some("create"), "status-201");
    let s = by_name(&reports, "SearchPatientString");
    failed_on_413(s, None, "setup-conf-patient-string-a");
    assert!(s.tests.iter().all(|t| t.result == ReportResult::Pending));
    failed_on_413(
        by_name(&reports, "Transaction"),
        Some("transaction"),
        "status-200",
    );
    failed_on_413(by_name(&reports, "Batch"), Some("batch"), "status-200");
    failed_on_413(
        by_name(&reports, "ConditionalCreate"),
        Some("no-match-201"),
        "status-201",
    );
    // Inside one script: the small invalid body still gets its 400, the large one a 413.
    let m = by_name(&reports, "MalformedResource");
    let small = m
        .tests
        .iter()
        .find(|t| t.name == "Patient-Patient.gender")
        .unwrap();
    assert_eq!(small.result, ReportResult::Pass, "{table}");
    failed_on_413(m, Some("Claim-Claim.insurance"), "status-400");
}

#[test]
fn database_urls() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
