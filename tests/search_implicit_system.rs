#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Codes of elements with a required binding to one CodeSystem (Patient.gender, Encounter.status,
//! Appointment.status) are indexed with that system: `system|code` and `system|` match, `|code`
//! (explicitly no system) does not, and `hms reindex` fixes rows written without it.

mod common;

use common::{Client, TestServer, backends};
use serde_json::{Value, json};

fn ids(b: &Value) -> Vec<String> {
    let mut v: Vec<String> = b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

const GENDER: &str = "http://hl7.org/fhir/administrative-gender";

async fn seed(c: &Client) {
    for (id, g) in [("g1", "male"), ("g2", "female"), ("g3", "male")] {
        let r = json!({"resourceType":"Patient","id":id,"gender":g});
        assert_eq!(c.put(&format!("Patient/{id}"), &r).await.status, 201);
    }
    let r = json!({"resourceType":"Patient","id":"g4"});
    assert_eq!(c.put("Patient/g4", &r).await.status, 201);
    for (id, st) in [("e1", "finished"), ("e2", "in-progress")] {
        let r = json!({"resourceType":"Encounter","id":id,"status":st,
            "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
            "subject":{"reference":"Patient/g2"}});
        assert_eq!(c.put(&format!("Encounter/{id}"), &r).await.status, 201);
    }
    for (id, st) in [("a1", "booked"), ("a2", "cancelled")] {
        let r = json!({"resourceType":"Appointment","id":id,"status":st,
            "participant":[{"actor":{"reference":"Patient/g1"},"status":"accepted"}]});
        assert_eq!(c.put(&format!("Appointment/{id}"), &r).await.status, 201);
    }
}

fn cases() -> Vec<(String, Vec<&'static str>)> {
    let enc = "http://hl7.org/fhir/encounter-status";
    let appt = "http://hl7.org/fhir/appointmentstatus";
    vec![
        (format!("Patient?gender={GENDER}|male"), vec!["g1", "g3"]),
        ("Patient?gender=male".into(), vec!["g1", "g3"]),
        ("Patient?gender=|male".into(), vec![]),
        (format!("Patient?gender={GENDER}|"), vec!["g1", "g2", "g3"]),
        (
            "Patient?gender=http://example.org/other|male".into(),
            vec![],
        ),
        (
            format!("Patient?gender:not={GENDER}|male"),
            vec!["g2", "g4"],
        ),
        (format!("Patient?gender={GENDER}|female,|male"), vec!["g2"]),
        (format!("Encounter?status={enc}|finished"), vec!["e1"]),
        ("Encounter?status=|finished".into(), vec![]),
        ("Encounter?status=finished".into(), vec!["e1"]),
        (format!("Encounter?status={appt}|finished"), vec![]),
        (
            format!("Appointment?status={appt}|booked,{appt}|cancelled"),
            vec!["a1", "a2"],
        ),
        ("Appointment?status=|booked".into(), vec![]),
        (
            "Appointment?part-status=http://hl7.org/fhir/participationstatus|accepted".into(),
            vec!["a1", "a2"],
        ),
        // Chains and _has read the same rows.
        (
            format!("Appointment?actor:Patient.gender={GENDER}|male"),
            vec!["a1", "a2"],
        ),
        (
            format!("Patient?_has:Encounter:patient:status={enc}|finished"),
            vec!["g2"],
        ),
        (
            "Patient?_has:Encounter:patient:status=|finished".into(),
            vec![],
        ),
    ]
}

#[actix_web::test]
async fn implicit_system_on_required_codes() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        seed(&c).await;
        for (q, want) in cases() {
            assert_eq!(ids(&c.get(&q).await.json()), want, "{b:?}: {q}");
        }
    }
}

#[actix_web::test]
async fn reindex_adds_the_system_to_old_rows() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        seed(&c).await;
        // Rows as an older version wrote them: no system; the recorded format says so.
        srv.exec_sql("UPDATE search_index SET system = NULL WHERE param = 'gender'");
        srv.exec_sql("UPDATE search_meta SET value = '1' WHERE name = 'index_format'");
        let q = format!("Patient?gender={GENDER}|male");
        assert_eq!(ids(&c.get(&q).await.json()), Vec::<String>::new());
        let store = hms::app::open_store(&srv.config).unwrap();
        let zone = srv.config.search_zone;
        assert!(hms::interactions::reindex::needs_rebuild(&store, &zone).unwrap());
        let n = hms::interactions::reindex::rebuild_all(&store, &zone, |_, _| {}).unwrap();
        assert_eq!(n, 8);
        assert!(!hms::interactions::reindex::needs_rebuild(&store, &zone).unwrap());
        assert_eq!(ids(&c.get(&q).await.json()), vec!["g1", "g3"]);
    }
}
