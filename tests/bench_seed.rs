//! `hms bench seed` writes searchable records straight through the store; `hms bench baseline`
//! measures the raw operations on the same database. Counts only, no speed.

mod common;

use std::time::Duration;

use common::{Backend, TestServer};
use hms::bench::{BaselineArgs, SeedArgs};

#[actix_web::test]
async fn seeded_records_are_served_and_searchable() {
    let dir = std::env::temp_dir().join(format!("hms-seed-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("seeded.db").display());
    hms::bench::seed::run(&SeedArgs {
        patients: 4,
        database_url: Some(url.clone()),
        server: None,
        batch: 20,
        seed: 9,
        first: 0,
    })
    .unwrap();

    // Twice on one database: the second run must not collide with the first one's rows
    // (bench-run.sh runs the baseline three times).
    for run in 0..2 {
        let report = hms::bench::baseline::run(&BaselineArgs {
            database_url: url.clone(),
            duration: Duration::from_millis(300),
            concurrency: 2,
            json: false,
        })
        .unwrap();
        for op in ["insert", "select-by-key", "indexed-lookup", "crud-mix"] {
            let s = &report.operations[op];
            assert!(s.ok > 0, "run {run} {op}: {}", report.render_text());
            assert_eq!(
                s.error_count(),
                0,
                "run {run} {op}: {}",
                report.render_text()
            );
        }
    }

    let u = url.clone();
    let server = TestServer::start_with(Backend::Sqlite, move |c| c.database_url = u);
    let c = server.client();
    // 4 patients x 15 resources, plus the patients the baseline inserted.
    let p = c.get("Patient?identifier=urn:bench:mrn|MRN-2").await.json();
    assert_eq!(p["total"], 1, "{p}");
    let pid = p["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let obs = c
        .get(&format!("Observation?subject=Patient/{pid}&_count=50"))
        .await
        .json();
    assert_eq!(
        obs["total"], 6,
        "3 encounters x (heart rate + blood pressure)"
    );
    let bp = c
        .get(&format!(
            "Observation?subject=Patient/{pid}&code=http://loinc.org|85354-9&component-code-value-quantity=http://loinc.org|8480-6$gt1"
        ))
        .await
        .json();
    assert_eq!(bp["total"], 3, "{bp}");
    let enc = c
        .get(&format!(
            "Encounter?subject=Patient/{pid}&_include=Encounter:subject"
        ))
        .await
        .json();
    assert_eq!(enc["total"], 3);
    assert_eq!(enc["entry"].as_array().unwrap().len(), 4);
    let claims = c.get(&format!("Claim?patient=Patient/{pid}")).await.json();
    assert_eq!(claims["total"], 3);
    let read = c.get(&format!("Patient/{pid}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["meta"]["versionId"], "1");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
