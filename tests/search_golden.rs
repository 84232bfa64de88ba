#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Golden search suite: queries whose expected id sets were worked out by hand from the data —
//! a purpose-built dataset (tests/fixtures/search/golden-dataset.json: date boundaries, offsets,
//! partial dates, accents, escaped commas, composites) and the official R4 examples. Every query
//! runs on SQLite and, with HMS_TEST_DATABASE_URL, on PostgreSQL.

mod common;

use common::{Client, TestServer, backends, fixture};
use serde_json::Value;

async fn load_collection(c: &Client, rel: &str) {
    let bundle: Value = serde_json::from_slice(&fixture(rel)).unwrap();
    for e in bundle["entry"].as_array().unwrap() {
        let r = &e["resource"];
        let path = format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        let resp = c.put(&path, r).await;
        assert_eq!(resp.status, 201, "{path}: {}", resp.text());
    }
}

async fn load_examples(c: &Client) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fhir-examples");
    for f in std::fs::read_dir(dir).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            if v["resourceType"] == "AuditEvent" {
                // Written by the server only (issue 7); searched through the audit log.
                continue;
            }
            let path = format!(
                "{}/{}",
                v["resourceType"].as_str().unwrap(),
                v["id"].as_str().unwrap()
            );
            assert_eq!(c.put(&path, &v).await.status, 201, "{path}");
        }
    }
}

/// ids of the entries with search mode `mode`, in bundle order.
fn ids(bundle: &Value, mode: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["search"]["mode"] == mode)
                .map(|e| e["resource"]["id"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn check_sets(c: &Client, cases: &[(&str, &[&str])], label: &str) {
    let mut failures = Vec::new();
    for (q, expected) in cases {
        let r = c.get(q).await;
        if r.status != 200 {
            failures.push(format!("{q}: status {} {}", r.status, r.text()));
            continue;
        }
        let mut got = ids(&r.json(), "match");
        got.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        if got != want {
            failures.push(format!("{q}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{label}: {} of {} queries failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

async fn check_order(c: &Client, cases: &[(&str, &[&str])], label: &str) {
    for (q, expected) in cases {
        let got = ids(&c.get(q).await.json(), "match");
        assert_eq!(got, expected.to_vec(), "{label}: {q}");
    }
}

const DATASET: &[(&str, &[&str])] = &[
    // string: prefix, case/accent-insensitive, :exact, :contains, HumanName/Address parts
    ("Patient?name=muller", &["gs-p1", "gs-p2"]),
    ("Patient?name=MÜLL", &["gs-p1", "gs-p2"]),
    ("Patient?name:exact=Müller", &["gs-p1"]),
    ("Patient?name:exact=muller", &[]),
    ("Patient?name:contains=ith", &["gs-p3", "gs-p4"]),
    ("Patient?family=smith", &["gs-p3", "gs-p4"]),
    ("Patient?family:exact=Smith", &["gs-p3"]),
    ("Patient?given=john", &["gs-p3"]),
    ("Patient?given=paul", &["gs-p3"]),
    ("Patient?name=o'brien", &["gs-p5"]),
    ("Patient?name=anna,jane", &["gs-p1", "gs-p4"]),
    ("Patient?name=smith&given=jane", &["gs-p4"]),
    ("Patient?address-city=zurich", &["gs-p1", "gs-p4"]),
    ("Patient?address-city=GENEVE", &["gs-p5"]),
    ("Patient?address=bern", &["gs-p2"]),
    ("Patient?name=zzz", &[]),
    ("Patient?name:missing=true", &["gs-p6"]),
    // token
    ("Patient?gender=female", &["gs-p1", "gs-p4"]),
    ("Patient?gender=male,other", &["gs-p2", "gs-p3", "gs-p5"]),
    (
        "Patient?gender:not=male",
        &["gs-p1", "gs-p4", "gs-p5", "gs-p6"],
    ),
    ("Patient?gender:missing=true", &["gs-p6"]),
    (
        "Patient?gender:missing=false",
        &["gs-p1", "gs-p2", "gs-p3", "gs-p4", "gs-p5"],
    ),
    ("Patient?active=true", &["gs-p1", "gs-p3"]),
    ("Patient?active=false", &["gs-p2"]),
    ("Patient?active:missing=true", &["gs-p4", "gs-p5", "gs-p6"]),
    ("Patient?identifier=urn:gs|A1", &["gs-p1"]),
    ("Patient?identifier=A3", &["gs-p3"]),
    ("Patient?identifier=urn:other|A3", &["gs-p3"]),
    ("Patient?identifier=|A1", &[]),
    (
        "Patient?identifier=urn:gs|",
        &["gs-p1", "gs-p2", "gs-p3", "gs-p4", "gs-p5", "gs-p6"],
    ),
    ("Patient?identifier=urn:gs|B\\,5", &["gs-p5"]),
    ("Patient?identifier=urn:gs|B,5", &[]),
    (
        "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|A1",
        &["gs-p1"],
    ),
    (
        "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|A2",
        &[],
    ),
    ("Patient?phone=555-0101", &["gs-p1"]),
    ("Patient?telecom=phone|555-0101", &["gs-p1"]),
    ("Patient?_id=gs-p1,gs-p2", &["gs-p1", "gs-p2"]),
    ("Patient?_id=gs-p1&_id=gs-p2", &[]),
    ("Patient?_id=nope", &[]),
    // date: precision ranges, prefixes, boundaries
    ("Patient?birthdate=1980", &["gs-p1", "gs-p2", "gs-p3"]),
    ("Patient?birthdate=1980-06", &["gs-p3"]),
    ("Patient?birthdate=1980-06-15", &[]),
    (
        "Patient?birthdate=ge1980-06-15",
        &["gs-p2", "gs-p3", "gs-p5"],
    ),
    ("Patient?birthdate=lt1980-01-01", &["gs-p4"]),
    ("Patient?birthdate=le1980-01-01", &["gs-p1", "gs-p4"]),
    ("Patient?birthdate=gt1980-12-31", &["gs-p5"]),
    ("Patient?birthdate=sa1980-06", &["gs-p2", "gs-p5"]),
    ("Patient?birthdate=eb1980-06", &["gs-p1", "gs-p4"]),
    ("Patient?birthdate=ne1980", &["gs-p4", "gs-p5"]),
    ("Patient?birthdate=1979-12-31,1981", &["gs-p4", "gs-p5"]),
    (
        "Patient?birthdate=ge1980&birthdate=le1980-06",
        &["gs-p1", "gs-p3"],
    ),
    ("Patient?birthdate:missing=true", &["gs-p6"]),
    ("Patient?birthdate=1980-01-01T00:00:00Z", &[]),
    (
        "Patient?birthdate=ap1980-01-01",
        &["gs-p1", "gs-p2", "gs-p3", "gs-p4", "gs-p5"],
    ),
    // time zones: 2020-02-29T23:30-02:00 is 2020-03-01T01:30Z
    ("Patient?death-date=2020-03-01", &["gs-p4"]),
    ("Patient?death-date=2020-02-29", &[]),
    ("Patient?death-date=2020-02-29T23:30:00-02:00", &["gs-p4"]),
    ("Patient?death-date=2020-03-01T01:30:00Z", &["gs-p4"]),
    ("Patient?death-date=lt2020-03-01T01:30:00Z", &[]),
    ("Patient?deceased=true", &["gs-p4"]),
    ("Encounter?date=2021-03-01", &["gs-e1"]),
    ("Encounter?date=2021-03", &["gs-e1", "gs-e4"]),
    ("Encounter?date=2021", &["gs-e1", "gs-e4"]),
    ("Encounter?date=ge2021-03-10", &["gs-e2"]),
    ("Encounter?date=lt2021-01-01", &["gs-e3"]),
    ("Encounter?date=sa2021-01-01", &["gs-e1", "gs-e2", "gs-e4"]),
    ("Encounter?date=eb2021-03-01", &["gs-e3"]),
    (
        "Encounter?date=gt2021-03-01T10:30:00Z",
        &["gs-e1", "gs-e2", "gs-e4"],
    ),
    (
        "Encounter?date=lt2021-03-01T10:30:00%2B01:00",
        &["gs-e3", "gs-e4"],
    ),
    ("Encounter?date=le2021-03-01T10:00:00Z", &["gs-e3", "gs-e4"]),
    ("Encounter?date=ge2021-03-16T04:30:00Z", &["gs-e2"]),
    ("Encounter?date=2021-03-16", &[]),
    ("Encounter?date=ge2021-03-16T00:00:00-05:00", &["gs-e2"]),
    (
        "Encounter?date:missing=false",
        &["gs-e1", "gs-e2", "gs-e3", "gs-e4"],
    ),
    // reference, chains, _has
    ("Encounter?status=finished", &["gs-e1", "gs-e3"]),
    ("Encounter?status:not=finished", &["gs-e2", "gs-e4"]),
    ("Encounter?class=AMB", &["gs-e1", "gs-e4"]),
    (
        "Encounter?class=http://terminology.hl7.org/CodeSystem/v3-ActCode|EMER",
        &["gs-e3"],
    ),
    ("Encounter?subject=Patient/gs-p1", &["gs-e1", "gs-e2"]),
    ("Encounter?patient=gs-p1", &["gs-e1", "gs-e2"]),
    ("Encounter?subject:Patient=gs-p2", &["gs-e3"]),
    ("Encounter?participant=Practitioner/gs-dr1", &["gs-e1"]),
    ("Encounter?practitioner=gs-dr1", &["gs-e1"]),
    (
        "Encounter?service-provider=Organization/gs-org1",
        &["gs-e1"],
    ),
    (
        "Encounter?subject.name=muller",
        &["gs-e1", "gs-e2", "gs-e3"],
    ),
    ("Encounter?subject:Patient.birthdate=1980-06", &["gs-e4"]),
    (
        "Encounter?patient.general-practitioner.name=wellby",
        &["gs-e1", "gs-e2", "gs-e4"],
    ),
    (
        "Encounter?_has:Observation:encounter:code=29463-7",
        &["gs-e1"],
    ),
    (
        "Patient?general-practitioner=Practitioner/gs-dr1",
        &["gs-p1", "gs-p3"],
    ),
    (
        "Patient?general-practitioner:Practitioner=gs-dr2",
        &["gs-p2"],
    ),
    ("Patient?general-practitioner=gs-dr1", &["gs-p1", "gs-p3"]),
    ("Patient?general-practitioner.name=strange", &["gs-p2"]),
    (
        "Patient?general-practitioner:missing=true",
        &["gs-p4", "gs-p5", "gs-p6"],
    ),
    (
        "Patient?general-practitioner.identifier=urn:npi|1234567893",
        &["gs-p1", "gs-p3"],
    ),
    ("Patient?organization=gs-org2", &["gs-p3", "gs-p4"]),
    ("Patient?organization.name=alpha", &["gs-p1", "gs-p2"]),
    ("Patient?organization.partof=gs-org1", &["gs-p3", "gs-p4"]),
    (
        "Patient?organization.partof.name=alpha",
        &["gs-p3", "gs-p4"],
    ),
    (
        "Patient?_has:Observation:patient:code=29463-7",
        &["gs-p1", "gs-p2"],
    ),
    ("Patient?_has:Observation:patient:code=85354-9", &["gs-p3"]),
    (
        "Patient?_has:Observation:subject:value-quantity=gt90",
        &["gs-p1", "gs-p2"],
    ),
    (
        "Patient?_has:Provenance:target:agent=Practitioner/gs-dr1",
        &["gs-p1"],
    ),
    (
        "Patient?_has:Observation:patient:_has:Provenance:target:agent=gs-dr1",
        &["gs-p1"],
    ),
    (
        "Patient?_has:Encounter:patient:status=cancelled",
        &["gs-p3"],
    ),
    (
        "Organization?_has:Patient:organization:gender=female",
        &["gs-org1", "gs-org2"],
    ),
    ("Organization?partof=gs-org1", &["gs-org2"]),
    ("Organization?name=alpha", &["gs-org1"]),
    ("Organization?name:contains=hosp", &["gs-org2"]),
    ("Practitioner?name=kim", &["gs-dr1"]),
    ("Practitioner?identifier=urn:npi|1234567893", &["gs-dr1"]),
    // number / quantity with implicit precision, composites
    ("Observation?value-quantity=72.5", &["gs-o1"]),
    (
        "Observation?value-quantity=72.5|http://unitsofmeasure.org|kg",
        &["gs-o1"],
    ),
    ("Observation?value-quantity=72.5||lb", &[]),
    ("Observation?value-quantity=gt90", &["gs-o2", "gs-o3"]),
    ("Observation?value-quantity=le100", &["gs-o1", "gs-o3"]),
    ("Observation?value-quantity=ap100", &["gs-o3"]),
    ("Observation?value-quantity=100||kg", &["gs-o3"]),
    ("Observation?value-quantity=1e2", &["gs-o1", "gs-o3"]),
    ("Observation?value-quantity=ne100", &["gs-o1", "gs-o2"]),
    ("Observation?value-quantity=72", &[]),
    (
        "Observation?component-code-value-quantity=http://loinc.org|8480-6$gt130",
        &["gs-o5"],
    ),
    (
        "Observation?component-code-value-quantity=8480-6$120",
        &["gs-o4"],
    ),
    (
        "Observation?component-code-value-quantity=8462-4$gt85",
        &["gs-o5"],
    ),
    ("Observation?component-code-value-quantity=8480-6$80", &[]),
    ("Observation?code-value-quantity=29463-7$gt80", &["gs-o3"]),
    ("Observation?code=29463-7", &["gs-o1", "gs-o3"]),
    (
        "Observation?code=http://loinc.org|29463-7",
        &["gs-o1", "gs-o3"],
    ),
    ("Observation?code=http://snomed.info/sct|29463-7", &[]),
    (
        "Observation?code=http://loinc.org|",
        &["gs-o1", "gs-o2", "gs-o3", "gs-o4", "gs-o5"],
    ),
    ("Observation?code:text=mood", &["gs-o6"]),
    ("Observation?code:text=body", &["gs-o1"]),
    ("Observation?date=2021-03-01", &["gs-o1", "gs-o2"]),
    ("Observation?date=2020-12-31", &["gs-o3"]),
    ("Observation?date=2021-01-01", &["gs-o4"]),
    (
        "Observation?date=2021",
        &["gs-o1", "gs-o2", "gs-o4", "gs-o5", "gs-o6"],
    ),
    ("Observation?subject=Patient/gs-p3", &["gs-o4", "gs-o5"]),
    ("Observation?patient=gs-p1", &["gs-o1", "gs-o2"]),
    (
        "Observation?subject:Patient.family=smith",
        &["gs-o4", "gs-o5", "gs-o6"],
    ),
    (
        "Observation?status=final",
        &["gs-o1", "gs-o2", "gs-o4", "gs-o6"],
    ),
    (
        "Observation?status=final,amended",
        &["gs-o1", "gs-o2", "gs-o4", "gs-o5", "gs-o6"],
    ),
    ("Observation?status:not=final", &["gs-o3", "gs-o5"]),
    ("Observation?category=vital-signs", &["gs-o1"]),
    ("Observation?value-string=hap", &["gs-o6"]),
    ("Observation?encounter=gs-e1", &["gs-o1"]),
    ("Observation?code=85354-9&date=ge2021-02-01", &["gs-o5"]),
    // Appointment and Claim (first-class)
    ("Appointment?date=2021-04-01", &["gs-a1"]),
    ("Appointment?date=2021-05-01", &["gs-a3"]),
    ("Appointment?date=2021-04", &["gs-a1", "gs-a2"]),
    ("Appointment?status=booked", &["gs-a1"]),
    ("Appointment?status:not=booked", &["gs-a2", "gs-a3"]),
    ("Appointment?actor=Patient/gs-p1", &["gs-a1", "gs-a3"]),
    ("Appointment?patient=gs-p1", &["gs-a1", "gs-a3"]),
    ("Appointment?practitioner=gs-dr2", &["gs-a2", "gs-a3"]),
    ("Appointment?actor:Practitioner.name=wellby", &["gs-a1"]),
    ("Appointment?part-status=accepted", &["gs-a1"]),
    ("Appointment?patient.name=hans", &["gs-a2"]),
    ("Claim?patient=gs-p1", &["gs-c1"]),
    ("Claim?created=2021-03-02", &["gs-c1"]),
    ("Claim?created=ge2021-04", &["gs-c2"]),
    ("Claim?status=active", &["gs-c1"]),
    ("Claim?use=claim", &["gs-c1", "gs-c2"]),
    ("Claim?provider=Organization/gs-org2", &["gs-c2"]),
    ("Claim?priority=normal", &["gs-c1"]),
    ("Claim?patient.gender=male", &["gs-c2"]),
    ("Claim?identifier=urn:claims|GS-C1", &["gs-c1"]),
    // compartments and system search
    ("Patient/gs-p1/Observation", &["gs-o1", "gs-o2"]),
    ("Patient/gs-p1/Encounter", &["gs-e1", "gs-e2"]),
    ("Patient/gs-p1/Appointment", &["gs-a1", "gs-a3"]),
    (
        "Patient/gs-p3/Observation?component-code-value-quantity=8480-6$gt130",
        &["gs-o5"],
    ),
    ("Patient/gs-p1/Claim", &["gs-c1"]),
    ("Encounter/gs-e1/Observation", &["gs-o1"]),
    (
        "?_type=Patient,Practitioner&_id=gs-p1,gs-dr1",
        &["gs-p1", "gs-dr1"],
    ),
    (
        "?_type=Observation&_lastUpdated=gt2000-01-01",
        &["gs-o1", "gs-o2", "gs-o3", "gs-o4", "gs-o5", "gs-o6"],
    ),
    ("Patient?_lastUpdated=lt2000-01-01", &[]),
];

const ORDERED: &[(&str, &[&str])] = &[
    (
        "Encounter?_sort=date",
        &["gs-e3", "gs-e4", "gs-e1", "gs-e2"],
    ),
    (
        "Encounter?_sort=-date",
        &["gs-e2", "gs-e1", "gs-e4", "gs-e3"],
    ),
    (
        "Encounter?_sort=status,-date",
        &["gs-e4", "gs-e1", "gs-e3", "gs-e2"],
    ),
    (
        "Patient?_sort=birthdate",
        &["gs-p6", "gs-p4", "gs-p1", "gs-p3", "gs-p2", "gs-p5"],
    ),
    (
        "Patient?_sort=-birthdate",
        &["gs-p5", "gs-p2", "gs-p3", "gs-p1", "gs-p4", "gs-p6"],
    ),
    (
        "Patient?_sort=family,given",
        &["gs-p6", "gs-p1", "gs-p2", "gs-p5", "gs-p3", "gs-p4"],
    ),
    (
        "Patient?_sort=-_id",
        &["gs-p6", "gs-p5", "gs-p4", "gs-p3", "gs-p2", "gs-p1"],
    ),
    ("Appointment?_sort=date", &["gs-a1", "gs-a2", "gs-a3"]),
    ("Appointment?_sort=-date", &["gs-a3", "gs-a2", "gs-a1"]),
    (
        "Observation?_sort=value-quantity&value-quantity=gt0",
        &["gs-o1", "gs-o3", "gs-o2"],
    ),
];

const EXAMPLES: &[(&str, &[&str])] = &[
    ("Patient?name=peter", &["example"]),
    ("Patient?family=donald", &["pat1", "pat2"]),
    ("Patient?birthdate=1974-12-25", &["ch-example", "example"]),
    (
        "Patient?organization=Organization/1",
        &["ch-example", "dicom", "example", "pat1", "pat2"],
    ),
    ("Patient?gender=female", &["animal", "infant-twin-1"]),
    ("Patient?address-city=PleasantVille", &["example"]),
    (
        "Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|12345",
        &["example"],
    ),
    (
        "Patient?general-practitioner=Practitioner/example",
        &["glossy"],
    ),
    ("Patient?general-practitioner.name=careful", &["glossy"]),
    (
        "Patient?_has:Observation:patient:code=29463-7",
        &["example"],
    ),
    ("Observation?code=http://loinc.org|29463-7", &["example"]),
    ("Observation?code=85354-9", &["blood-pressure"]),
    (
        "Observation?patient=example",
        &["blood-pressure", "example", "glasgow", "vitals-panel"],
    ),
    (
        "Observation?component-code-value-quantity=http://loinc.org|8480-6$107",
        &["blood-pressure"],
    ),
    ("Observation?value-quantity=185", &["example"]),
    (
        "Observation?date=2016",
        &["10minute-apgar-score", "example"],
    ),
    (
        "Encounter?subject=Patient/example",
        &["emerg", "example", "home"],
    ),
    ("Encounter?class=HH", &["home"]),
    ("Encounter?status=finished", &["f001", "home"]),
    ("Encounter?date=2015-01-17", &["home"]),
    ("Appointment?actor=Patient/example", &["2docs", "example"]),
    ("Appointment?date=2013-12-10", &["example"]),
    (
        "Claim?patient=Patient/1",
        &["100150", "660150", "760150", "860150", "960150", "960151"],
    ),
    (
        "Claim?use=claim",
        &[
            "100150",
            "660150",
            "760150",
            "860150",
            "960150",
            "960151",
            "MED-00050",
        ],
    ),
    ("Claim?created=2015", &["MED-00050"]),
    ("Practitioner?family=careful", &["example"]),
    ("Organization?name=good", &["2.16.840.1.113883.19.5"]),
    ("Slot?schedule=Schedule/example", &["example"]),
    ("Schedule?actor=Location/1", &["example"]),
    ("Coverage?beneficiary=Patient/5", &["SP1234"]),
    (
        "Location?organization=Organization/f001",
        &["1", "amb", "ph"],
    ),
];

/// Probe limits the golden queries run with: the default (small data: a criterion drives), and 0,
/// which leaves no criterion narrow enough, so searches walk rows in id order (default sort) or
/// join sets (`_sort`). Every plan must find the same results.
const PLAN_LIMITS: [Option<i64>; 2] = [None, Some(0)];

fn start(b: common::Backend, probe_limit: Option<i64>) -> TestServer {
    TestServer::start_with(b, |cfg| {
        if let Some(n) = probe_limit {
            cfg.search_total_cap = n;
        }
    })
}

#[actix_web::test]
async fn golden_queries_on_the_dataset() {
    for b in backends() {
        for limit in PLAN_LIMITS {
            let srv = start(b, limit);
            let c = srv.client();
            load_collection(&c, "search/golden-dataset.json").await;
            check_sets(
                &c,
                DATASET,
                &format!("{b:?} dataset, probe limit {limit:?}"),
            )
            .await;
            check_order(
                &c,
                ORDERED,
                &format!("{b:?} ordered, probe limit {limit:?}"),
            )
            .await;
        }
    }
}

#[actix_web::test]
async fn golden_queries_on_the_official_examples() {
    for b in backends() {
        for limit in PLAN_LIMITS {
            let srv = start(b, limit);
            let c = srv.client();
            load_examples(&c).await;
            check_sets(
                &c,
                EXAMPLES,
                &format!("{b:?} examples, probe limit {limit:?}"),
            )
            .await;
        }
    }
}

#[actix_web::test]
async fn includes_summary_elements_and_totals() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        load_collection(&c, "search/golden-dataset.json").await;
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "Observation?code=29463-7&_include=Observation:patient",
                &["gs-o1", "gs-o3"],
                &["gs-p1", "gs-p2"],
            ),
            (
                "Observation?_id=gs-o4&_include=Observation:subject:Patient",
                &["gs-o4"],
                &["gs-p3"],
            ),
            (
                "Patient?_id=gs-p3&_revinclude=Observation:patient",
                &["gs-p3"],
                &["gs-o4", "gs-o5"],
            ),
            (
                "Patient?_id=gs-p1&_revinclude=Provenance:target",
                &["gs-p1"],
                &["gs-prov1"],
            ),
            (
                "Observation?_id=gs-o1&_include=Observation:patient&_include:iterate=Patient:general-practitioner",
                &["gs-o1"],
                &["gs-dr1", "gs-p1"],
            ),
            (
                "Encounter?_id=gs-e1&_include=Encounter:*",
                &["gs-e1"],
                &["gs-dr1", "gs-org1", "gs-p1"],
            ),
            (
                "Patient?_id=gs-p1&_revinclude=Encounter:patient&_revinclude:iterate=Observation:encounter",
                &["gs-p1"],
                &["gs-e1", "gs-e2", "gs-o1"],
            ),
        ];
        for (q, matches, included) in cases {
            let bundle = c.get(q).await.json();
            let mut m = ids(&bundle, "match");
            m.sort();
            let mut i = ids(&bundle, "include");
            i.sort();
            assert_eq!(
                (m, i),
                (
                    matches.iter().map(|s| s.to_string()).collect(),
                    included.iter().map(|s| s.to_string()).collect()
                ),
                "{b:?} {q}"
            );
        }
        // _summary=count: total only
        let r = c.get("Patient?gender=female&_summary=count").await.json();
        assert_eq!(r["total"], 2);
        assert!(r.get("entry").is_none());
        // _total
        assert_eq!(c.get("Patient?gender=female").await.json()["total"], 2);
        assert!(
            c.get("Patient?gender=female&_total=none")
                .await
                .json()
                .get("total")
                .is_none()
        );
        // _elements keeps what was asked plus mandatory elements, and tags SUBSETTED
        let r = c.get("Patient?_id=gs-p1&_elements=gender").await.json();
        let p = &r["entry"][0]["resource"];
        let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, vec!["gender", "id", "meta", "resourceType"]);
        assert_eq!(p["meta"]["tag"][0]["code"], "SUBSETTED");
        // _summary=true drops non-summary elements (contact) and keeps summary ones (name)
        let r = c.get("Patient?_id=gs-p1&_summary=true").await.json();
        let p = &r["entry"][0]["resource"];
        assert!(
            p.get("contact").is_none() && p.get("name").is_some() && p.get("birthDate").is_some(),
            "{p}"
        );
        let r = c.get("Patient?_id=gs-p1").await.json();
        assert!(r["entry"][0]["resource"].get("contact").is_some());
    }
}

#[actix_web::test]
async fn keyset_paging_is_stable_while_inserting() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        load_collection(&c, "search/golden-dataset.json").await;
        let first = c.get("Patient?_sort=family&_count=2").await.json();
        assert_eq!(ids(&first, "match"), vec!["gs-p6", "gs-p1"]);
        let next = common::next_link;
        // Insert one resource that sorts before the cursor and one after it: no duplicates, no gaps.
        let early = serde_json::json!({"resourceType":"Patient","id":"gs-p7","name":[{"family":"Aardvark"}]});
        let late =
            serde_json::json!({"resourceType":"Patient","id":"gs-p8","name":[{"family":"Zed"}]});
        assert_eq!(c.put("Patient/gs-p7", &early).await.status, 201);
        assert_eq!(c.put("Patient/gs-p8", &late).await.status, 201);
        let mut seen = ids(&first, "match");
        let mut url = next(&first);
        while let Some(u) = url {
            let page = c.get(&u).await.json();
            seen.extend(ids(&page, "match"));
            url = next(&page);
        }
        assert_eq!(
            seen,
            vec![
                "gs-p6", "gs-p1", "gs-p2", "gs-p5", "gs-p3", "gs-p4", "gs-p8"
            ]
        );
        // A last page that is exactly full has no next link.
        let full = c.get("Organization?_count=2").await.json();
        assert_eq!(ids(&full, "match").len(), 2);
        assert!(next(&full).is_none());
        // Cursors are tamper-evident and bound to their query.
        let p1 = c.get("Patient?_sort=family&_count=2").await.json();
        let u = next(&p1).unwrap();
        let tampered = u.replacen("_cursor=", "_cursor=x", 1);
        let r = c.get(&tampered).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.outcome()[0].2, vec!["_cursor".to_string()]);
        let other_query = u.replace("_sort=family", "_sort=given");
        assert_eq!(c.get(&other_query).await.status, 400);
    }
}

#[actix_web::test]
async fn bad_search_input_is_a_400_naming_the_parameter() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let cases = [
            ("Patient?birthdate=1980-13", "birthdate"),
            ("Patient?birthdate=xx1980", "birthdate"),
            ("Patient?name:foo=x", "name:foo"),
            ("Patient?_sort=nope", "_sort"),
            (
                "Patient?general-practitioner.nope=1",
                "general-practitioner.nope",
            ),
            ("Patient?_count=abc", "_count"),
            ("Observation?value-quantity=abc", "value-quantity"),
            ("Patient?_include=Patient:name", "_include"),
            (
                "Observation?component-code-value-quantity=a",
                "component-code-value-quantity",
            ),
            ("Patient?gender:missing=maybe", "gender:missing"),
            (
                "Patient?_has:Observation:nope:code=1",
                "_has:Observation:nope:code",
            ),
            ("Patient?gender:below=x", "gender:below"),
            ("Patient?_cursor=abc", "_cursor"),
            ("Patient?birthdate:exact=1980", "birthdate:exact"),
        ];
        for (q, param) in cases {
            let r = c.get(q).await;
            assert_eq!(r.status, 400, "{q}: {}", r.text());
            assert_eq!(r.outcome()[0].2, vec![param.to_string()], "{q}");
        }
        let many = vec!["x"; 1001].join(",");
        assert_eq!(c.get(&format!("Patient?name={many}")).await.status, 400);
        let five_hundred = (0..500)
            .map(|i| format!("id{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            c.get(&format!("Patient?_id={five_hundred}")).await.status,
            200
        );
        let r = c
            .get_h("Patient?unknown=1", &[("Prefer", "handling=strict")])
            .await;
        assert_eq!(r.status, 400);
    }
}
