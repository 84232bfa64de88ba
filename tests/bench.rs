//! The bench client against a real server: a short run per scenario must make successful requests
//! and report no errors. No speed is asserted here (targets live in BENCHMARKS.md).

mod common;

use std::time::Duration;

use common::{TestServer, backends};
use hms::bench::client::{RunConfig, run};
use hms::bench::scenario::Scenario;

fn short(server: &TestServer, scenario: Scenario) -> RunConfig {
    RunConfig {
        server: format!("http://{}", server.addr),
        scenario,
        duration: Duration::from_millis(1000),
        concurrency: 4,
        threads: 2,
        warm: 5,
        server_pid: Some(std::process::id()),
        mllp: String::new(),
    }
}

#[test]
fn scenarios_run_without_errors() {
    for backend in backends() {
        let server = TestServer::start(backend);
        for scenario in [
            Scenario::Read,
            Scenario::Create,
            Scenario::Update,
            Scenario::CrudMix,
            Scenario::SearchMix,
            Scenario::Transaction,
        ] {
            let report = run(&short(&server, scenario)).unwrap();
            assert!(
                report.total.ok > 0,
                "{backend:?} {}: {report:?}",
                scenario.name()
            );
            assert_eq!(
                report.total.error_count(),
                0,
                "{backend:?} {}:\n{}",
                scenario.name(),
                report.render_text()
            );
            assert_eq!(report.total.requests, report.total.ok);
            assert!(report.notes.contains_key("server RSS after run"));
        }
    }
}

#[test]
fn connections_scenario_holds_connections() {
    let server = TestServer::start(common::Backend::Sqlite);
    let mut cfg = short(&server, Scenario::Connections);
    cfg.concurrency = 50;
    cfg.duration = Duration::from_millis(300);
    let report = run(&cfg).unwrap();
    assert_eq!(
        report.notes.get("connections held").map(String::as_str),
        Some("50")
    );
    assert_eq!(report.total.error_count(), 0, "{}", report.render_text());
}

#[test]
fn discovers_seeded_patients_with_warm_zero() {
    let server = TestServer::start(common::Backend::Sqlite);
    let mut cfg = short(&server, Scenario::Read);
    cfg.warm = 0;
    // Nothing seeded yet: a clear setup error, not a run full of failures.
    let err = run(&cfg).unwrap_err().to_string();
    assert!(err.contains("seed"), "{err}");
    cfg.warm = 3;
    run(&cfg).unwrap();
    cfg.warm = 0;
    let report = run(&cfg).unwrap();
    assert_eq!(report.notes["warm patients"], "3");
    assert_eq!(report.total.error_count(), 0);
}

#[test]
fn hl7_adt_scenario_gets_aa_acks() {
    let server = TestServer::start(common::Backend::Sqlite);
    let mut cfg = short(&server, Scenario::Hl7Adt);
    cfg.mllp = server.mllp_addr.expect("MLLP listener").to_string();
    cfg.concurrency = 2;
    let report = run(&cfg).unwrap();
    assert!(report.total.ok > 0, "{}", report.render_text());
    assert_eq!(report.total.error_count(), 0, "{}", report.render_text());
}
