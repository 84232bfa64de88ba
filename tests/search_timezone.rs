#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! `--search-timezone`: dates and dateTimes without an offset are read in the configured zone, both
//! when indexing and in search values, across DST days; the zone is recorded with the index, stated
//! in the CapabilityStatement, and a changed zone takes effect through `hms reindex`.

mod common;

use common::{Client, TestServer, backends};
use hms::fhir::time::Zone;
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

async fn put_all(c: &Client, obs: &[(&str, &str)], patients: &[(&str, &str)]) {
    for (id, when) in obs {
        let r = json!({"resourceType":"Observation","id":id,"status":"final",
            "code":{"text":"x"},"effectiveDateTime":when});
        assert_eq!(c.put(&format!("Observation/{id}"), &r).await.status, 201);
    }
    for (id, birth) in patients {
        let r = json!({"resourceType":"Patient","id":id,"birthDate":birth});
        assert_eq!(c.put(&format!("Patient/{id}"), &r).await.status, 201);
    }
}

async fn check(c: &Client, cases: &[(&str, &[&str])], label: &str) {
    for (q, want) in cases {
        let got = ids(&c.get(q).await.json());
        assert_eq!(got, *want, "{label}: {q}");
    }
}

async fn search_doc(c: &Client) -> String {
    let cs = c.get("metadata").await.json();
    cs["rest"][0]["documentation"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| cs.to_string())
}

// Berlin: 2021-03-28 lasts 23 h ([03-27T23:00Z, 03-28T22:00Z)), 2021-10-31 lasts 25 h
// ([10-30T22:00Z, 10-31T23:00Z)).
const BERLIN_OBS: &[(&str, &str)] = &[
    ("b1", "2021-03-27T23:30:00Z"),  // 00:30 CET on 03-28
    ("b2", "2021-03-27T22:30:00Z"),  // 23:30 CET on 03-27
    ("b3", "2021-03-28T21:30:00Z"),  // 23:30 CEST on 03-28
    ("b4", "2021-03-28T22:30:00Z"),  // 00:30 CEST on 03-29
    ("b5", "2021-03-28"),            // no offset: the whole (23 h) day
    ("b6", "2021-10-31T00:45:00Z"),  // 02:45 CEST, the first 02:45 of 10-31
    ("b7", "2021-10-31T22:30:00Z"),  // 23:30 CET on 10-31 (the 25th hour)
    ("b8", "2021-10-30T22:30:00Z"),  // 00:30 CEST on 10-31
    ("b9", "2021-10-30T21:30:00Z"),  // 23:30 CEST on 10-30
    ("b10", "2021-10-31T23:30:00Z"), // 00:30 CET on 11-01
    ("b11", "2021-10-31T01:15:00Z"), // 02:15 CET, the second 02:15 of 10-31
    ("b12", "2021-03"),              // no offset: [02-28T23:00Z, 03-31T22:00Z)
];
const BERLIN_PATIENTS: &[(&str, &str)] = &[
    ("bp1", "2021-03-28"),
    ("bp2", "2021-03-29"),
    ("bp3", "2021-10-31"),
];

const BERLIN_CASES: &[(&str, &[&str])] = &[
    ("Observation?date=2021-03-28", &["b1", "b3", "b5"]),
    ("Observation?date=2021-10-31", &["b11", "b6", "b7", "b8"]),
    (
        "Observation?date=2021-03",
        &["b1", "b12", "b2", "b3", "b4", "b5"],
    ),
    // A search value without an offset is read in the zone too.
    ("Observation?date=2021-03-28T00:30:00", &["b1"]),
    ("Observation?date=2021-03-27T23:30:00Z", &["b1"]),
    ("Observation?date=lt2021-03-28", &["b12", "b2"]),
    // 02:30 happens twice on 10-31: the value covers [00:30Z, 01:30:01Z).
    ("Observation?date=2021-10-31T02:30:00", &["b11", "b6"]),
    ("Observation?date=2021-10-31T02:10:00", &["b6"]),
    // The 25th hour of 10-31 is still before November.
    (
        "Observation?date=sa2021-10-31T00:00:00Z&date=lt2021-11",
        &["b11", "b6", "b7"],
    ),
    ("Patient?birthdate=2021-03-28", &["bp1"]),
    ("Patient?birthdate=eb2021-03-28T22:30:00Z", &["bp1"]),
    ("Patient?birthdate=eb2021-03-28T21:30:00Z", &[]),
    (
        "Patient?birthdate=sa2021-03-27T22:30:00Z",
        &["bp1", "bp2", "bp3"],
    ),
    ("Patient?birthdate=sa2021-03-27T23:00:00Z", &["bp2", "bp3"]),
    (
        "Patient?birthdate=eb2021-10-31T23:30:00Z",
        &["bp1", "bp2", "bp3"],
    ),
    ("Patient?birthdate=eb2021-10-31T22:30:00Z", &["bp1", "bp2"]),
];

// The same data read in UTC.
const UTC_CASES: &[(&str, &[&str])] = &[
    ("Observation?date=2021-03-28", &["b3", "b4", "b5"]),
    ("Observation?date=2021-10-31", &["b10", "b11", "b6", "b7"]),
    ("Observation?date=lt2021-03-28", &["b1", "b12", "b2"]),
    ("Observation?date=2021-10-31T02:30:00", &[]),
    (
        "Patient?birthdate=sa2021-03-27T23:00:00Z",
        &["bp1", "bp2", "bp3"],
    ),
    ("Patient?birthdate=eb2021-10-31T23:30:00Z", &["bp1", "bp2"]),
];

#[actix_web::test]
async fn berlin_zone_across_dst_days() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| {
            c.search_zone = Zone::parse("Europe/Berlin").unwrap();
        });
        let c = srv.client();
        put_all(&c, BERLIN_OBS, BERLIN_PATIENTS).await;
        check(&c, BERLIN_CASES, &format!("{b:?} Berlin")).await;
        let doc = search_doc(&c).await;
        assert!(
            doc.contains("read in the time zone Europe/Berlin."),
            "{doc}"
        );
    }
}

#[actix_web::test]
async fn fixed_offset_zone() {
    for b in backends() {
        let srv = TestServer::start_with(b, |c| {
            c.search_zone = Zone::parse("+05:30").unwrap();
        });
        let c = srv.client();
        // 2021-03-28 at +05:30 is [03-27T18:30Z, 03-28T18:30Z).
        put_all(
            &c,
            &[
                ("k1", "2021-03-27T19:00:00Z"), // 00:30 on 03-28
                ("k2", "2021-03-28T19:00:00Z"), // 00:30 on 03-29
                ("k3", "2021-03-28"),           // no offset: the whole day there
                ("k4", "2021-03-28T18:00:00Z"), // 23:30 on 03-28
                ("k5", "2021-03-27T18:00:00Z"), // 23:30 on 03-27
            ],
            &[("kp1", "2021-03-28")],
        )
        .await;
        check(
            &c,
            &[
                ("Observation?date=2021-03-28", &["k1", "k3", "k4"]),
                ("Observation?date=2021-03-27T19:00:00Z", &["k1"]),
                ("Observation?date=2021-03-28T00:30:00", &["k1"]),
                ("Observation?date=2021-03-27", &["k5"]),
                ("Patient?birthdate=eb2021-03-28T18:45:00Z", &["kp1"]),
                ("Patient?birthdate=sa2021-03-27T18:00:00Z", &["kp1"]),
                ("Patient?birthdate=sa2021-03-27T18:30:00Z", &[]),
            ],
            &format!("{b:?} +05:30"),
        )
        .await;
        let doc = search_doc(&c).await;
        assert!(doc.contains("read in the time zone +05:30."), "{doc}");
    }
}

#[actix_web::test]
async fn changed_zone_applies_after_reindex() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        put_all(&c, BERLIN_OBS, BERLIN_PATIENTS).await;
        check(&c, UTC_CASES, &format!("{b:?} UTC")).await;
        let db = srv.into_db();

        // Restarted with Berlin: the index (and so every search) stays in UTC until reindexed.
        let srv = TestServer::start_on(db, |c| {
            c.search_zone = Zone::parse("Europe/Berlin").unwrap();
        });
        let c = srv.client();
        check(&c, UTC_CASES, &format!("{b:?} before reindex")).await;
        let doc = search_doc(&c).await;
        assert!(
            doc.contains("read in the time zone UTC (the configured Europe/Berlin applies after `hms reindex`)."),
            "{doc}"
        );
        let store = hms::app::open_store(&srv.config).unwrap();
        let zone = srv.config.search_zone;
        assert!(hms::interactions::reindex::needs_rebuild(&store, &zone).unwrap());
        let mut seen = Vec::new();
        let n = hms::interactions::reindex::rebuild_all(&store, &zone, |d, t| seen.push((d, t)))
            .unwrap();
        assert_eq!(n, 15);
        assert_eq!(seen, vec![(15, 15)]);
        assert!(!hms::interactions::reindex::needs_rebuild(&store, &zone).unwrap());
        check(&c, BERLIN_CASES, &format!("{b:?} after reindex")).await;
        let doc = search_doc(&c).await;
        assert!(
            doc.contains("read in the time zone Europe/Berlin."),
            "{doc}"
        );
    }
}
