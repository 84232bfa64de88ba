#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! `hms import`: the Synthea files into the local store (SQLite file) and into a running server
//! (`--server`, SQLite and PostgreSQL); a second import changes no count.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Client, TestServer, backends};
use serde_json::Value;

const TYPES: [&str; 14] = [
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "Encounter",
    "Observation",
    "Immunization",
    "DiagnosticReport",
    "DocumentReference",
    "Claim",
    "ExplanationOfBenefit",
    "Condition",
    "Provenance",
];

fn synthea_dir() -> String {
    format!("{}/tests/fixtures/synthea", env!("CARGO_MANIFEST_DIR"))
}

/// Resource counts in the fixture files.
fn expected() -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for f in std::fs::read_dir(synthea_dir()).unwrap() {
        let p = f.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let b: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        for e in b["entry"].as_array().unwrap() {
            *m.entry(e["resource"]["resourceType"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    m
}

async fn counts(c: &Client) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for t in TYPES {
        let r = c.get(&format!("{t}?_summary=count")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        m.insert(t.to_string(), r.json()["total"].as_i64().unwrap());
    }
    m
}

fn import(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hms"))
        .arg("import")
        .args(args)
        .env("HMS_LOG", "warn")
        .output()
        .expect("run hms import");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

/// Runs `hms import` on a blocking thread, so the test's runtime (and the server's client pool)
/// keeps running while it works.
async fn import_off_runtime(args: Vec<String>) -> (bool, String) {
    actix_web::rt::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        import(&refs)
    })
    .await
    .expect("import thread")
}

#[actix_web::test]
async fn import_into_a_server_twice_changes_nothing() {
    let want = expected();
    for b in backends() {
        let srv = TestServer::start(b);
        let dir = synthea_dir();
        let (ok, out) =
            import_off_runtime(vec!["--server".into(), srv.base.clone(), dir.clone()]).await;
        assert!(ok, "{b:?}: {out}");
        assert!(out.contains("Patient"), "{out}");
        // A fresh client: the import ran for a long time, and an idle pooled connection may be gone.
        let first = counts(&srv.client()).await;
        for (t, n) in &want {
            assert_eq!(first[t], *n, "{b:?}: {t}\n{out}");
        }
        let (ok, out) =
            import_off_runtime(vec!["--server".into(), srv.base.clone(), dir.clone()]).await;
        assert!(ok, "{b:?}: {out}");
        assert_eq!(
            counts(&srv.client()).await,
            first,
            "{b:?}: second import changed counts"
        );
    }
}

#[actix_web::test]
async fn import_into_the_local_store_twice_changes_nothing() {
    let want = expected();
    let data = std::env::temp_dir().join(format!("hms-import-{}", uuid::Uuid::new_v4().simple()));
    let data_s = data.display().to_string();
    let dir = synthea_dir();
    for round in 0..2 {
        let (ok, out) = import(&["--data-dir", &data_s, &dir]);
        assert!(ok, "round {round}: {out}");
        let db = format!("sqlite://{}/hms.db", data_s);
        let srv = TestServer::start_with(common::Backend::Sqlite, |cfg| {
            cfg.database_url = db.clone();
        });
        let got = counts(&srv.client()).await;
        for (t, n) in &want {
            assert_eq!(got[t], *n, "round {round}: {t}\n{out}");
        }
    }
    // Errors are listed with file and entry, and the exit status says so.
    let bad = data.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","gender":"sometimes"},"request":{"method":"POST","url":"Patient"}}]}"#,
    )
    .unwrap();
    let (ok, out) = import(&["--data-dir", &data_s, bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("bad.json: entry 0: 400"), "{out}");

    // An unreadable NDJSON line is reported; the file's other lines are still loaded.
    let nd = data.join("mixed.ndjson");
    std::fs::write(
        &nd,
        "{\"resourceType\":\"Patient\",\"id\":\"nd-1\"}\nnot json\n{\"resourceType\":\"Patient\",\"id\":\"nd-2\"}\n",
    )
    .unwrap();
    let (ok, out) = import(&["--data-dir", &data_s, nd.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(out.contains("mixed.ndjson: line 2:"), "{out}");
    let db = format!("sqlite://{}/hms.db", data_s);
    let srv = TestServer::start_with(common::Backend::Sqlite, |cfg| cfg.database_url = db);
    let c = srv.client();
    for id in ["nd-1", "nd-2"] {
        assert_eq!(
            c.get(&format!("Patient/{id}")).await.status,
            200,
            "{id}: {out}"
        );
    }
    let _ = std::fs::remove_dir_all(&data);
}
