#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! HL7 v2 over MLLP against the real server (listener + ingest + transaction engine + REST read
//! back), on SQLite and (with HMS_TEST_DATABASE_URL) PostgreSQL.

mod common;

use std::time::Duration;

use common::{Backend, TestServer, backends};
use hms::mllp::client::{MllpClient, msa_code};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VT: u8 = 0x0B;
const FS: u8 = 0x1C;
const CR: u8 = 0x0D;

fn payload(name: &str) -> Vec<u8> {
    let raw = common::fixture(&format!("hl7v2/{name}"));
    hms_hl7v2::normalize_segment_terminators(&raw).into_owned()
}

fn frame(p: &[u8]) -> Vec<u8> {
    let mut v = vec![VT];
    v.extend_from_slice(p);
    v.extend_from_slice(&[FS, CR]);
    v
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Field `n` (1-based, HL7 numbering for non-MSH segments) of the first `seg` segment.
fn field(ack: &[u8], seg: &str, n: usize) -> String {
    text(ack)
        .split('\r')
        .find(|s| s.starts_with(seg))
        .and_then(|s| s.split('|').nth(n).map(str::to_string))
        .unwrap_or_default()
}

async fn client(srv: &TestServer) -> MllpClient {
    MllpClient::connect(&srv.mllp(), Duration::from_secs(60))
        .await
        .unwrap()
}

/// The single resource matching `query` (e.g. `Patient?identifier=sys|val`).
async fn one(c: &common::Client, query: &str) -> Value {
    let r = c.get(query).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    let b = r.json();
    let entries = b["entry"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{query} should match exactly one: {b}");
    entries[0]["resource"].clone()
}

/// How many resources `query` returns on its first page.
async fn count(c: &common::Client, query: &str) -> usize {
    let r = c.get(query).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()["entry"].as_array().map_or(0, Vec::len)
}

/// Reads the next frame from a raw socket (or None on EOF / after `wait`).
async fn read_frame(s: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return None,
        };
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        if got.len() >= 3 && got.ends_with(&[FS, CR]) {
            return Some(got[1..got.len() - 2].to_vec());
        }
    }
}

#[derive(Clone, Copy)]
enum Expect {
    /// ACK code, ERR-3.1 (table 0357) when an error is reported.
    Ack(&'static str, Option<&'static str>),
    /// The sender asked for no acknowledgment (MSH-15/16 NE): none is sent.
    NoAck,
}

/// Hand-written expectations for every fixture, sent in this order on one connection.
const SWEEP: &[(&str, Expect)] = &[
    ("ack_cdcti_natus001.hl7", Expect::Ack("AR", Some("200"))),
    ("adt_a01_cdcti_mn005.hl7", Expect::Ack("AA", None)),
    ("adt_a01_cdcti_other001.hl7", Expect::Ack("AA", None)),
    // MSH-15=AL / MSH-16=NE: enhanced mode, accept acknowledgment after durable storage.
    ("adt_a01_lfh_unix.hl7", Expect::Ack("CA", None)),
    ("adt_a01_lfh_win_crlf.hl7", Expect::Ack("CA", None)),
    ("adt_a01_msconv_1.hl7", Expect::Ack("AA", None)),
    ("adt_a02_hl7parser.hl7", Expect::Ack("AA", None)),
    ("adt_a02_msconv_1.hl7", Expect::Ack("AA", None)),
    ("adt_a03_msconv_1.hl7", Expect::Ack("AA", None)),
    ("adt_a04_msconv_2.hl7", Expect::Ack("AA", None)),
    ("adt_a04_msconv_bom_v23.hl7", Expect::Ack("AA", None)),
    // MSH + EVN only: PID missing → AE, segment sequence error.
    (
        "adt_a08_hl7parser_escaped.hl7",
        Expect::Ack("AE", Some("100")),
    ),
    ("adt_a08_msconv_1.hl7", Expect::Ack("AA", None)),
    ("adt_a11_msconv_1.hl7", Expect::Ack("AA", None)),
    ("adt_a13_msconv_2.hl7", Expect::Ack("AA", None)),
    // MSH-15/16 = NE/NE: no ACK at all (the merge of unknown records is stored as an error).
    ("adt_a40_msconv_2.hl7", Expect::NoAck),
    (
        "adt_o01_hl7dotnetcore_blankline.hl7",
        Expect::Ack("AR", Some("201")),
    ),
    ("dft_p03_msconv_1.hl7", Expect::Ack("AR", Some("200"))),
    ("malformed_empty_cdcti.hl7", Expect::Ack("AR", Some("100"))),
    (
        "malformed_missing_msh2_cdcti.hl7",
        Expect::Ack("AR", Some("101")),
    ),
    (
        "malformed_missing_msh9_cdcti.hl7",
        Expect::Ack("AR", Some("101")),
    ),
    // MSH-16=NE with MSH-15 empty: enhanced mode, accept ack = CR for an unsupported type.
    (
        "orm_o01_hl7dotnetcore_escapes.hl7",
        Expect::Ack("CR", Some("200")),
    ),
    ("oru_r01_cdcti_ca003_cr.hl7", Expect::Ack("AR", Some("200"))),
    (
        "oru_r01_cdcti_ca005_crlf.hl7",
        Expect::Ack("AR", Some("200")),
    ),
    ("oru_r01_hl7parser_lab.hl7", Expect::Ack("CR", Some("200"))),
    ("oru_r01_msconv_1.hl7", Expect::Ack("CR", Some("200"))),
    ("siu_s12_msconv_1.hl7", Expect::Ack("AA", None)),
    ("siu_s13_msconv_1.hl7", Expect::Ack("AA", None)),
    ("siu_s14_msconv_2.hl7", Expect::Ack("AA", None)),
    ("siu_s15_msconv_1.hl7", Expect::Ack("AA", None)),
    ("siu_s26_msconv_1.hl7", Expect::Ack("AA", None)),
];

/// What the REST API must return right after a fixture was applied.
struct Patient {
    key: &'static str,
    family: &'static str,
    given: &'static [&'static str],
    birth: &'static str,
    gender: &'static str,
}
struct Encounter {
    key: &'static str,
    class: &'static str,
    status: &'static str,
    start: &'static str,
    end: Option<&'static str>,
}
struct Appointment {
    key: &'static str,
    status: &'static str,
    start: &'static str,
    end: &'static str,
}

const EVERYMAN: Patient = Patient {
    key: "urn:hms:id:test1|PATID1234",
    family: "EVERYMAN",
    given: &["ADAM", "A"],
    birth: "1988-08-18",
    gender: "male",
};
const ENC_ACCMNG: &str = "urn:hms:id:AccMng|40007716";
const APPT: &str = "urn:hms:id:GHHSFacility|36996";

fn expected(name: &str) -> Option<(Patient, Option<Encounter>, Option<Appointment>)> {
    let enc = |status, end| Encounter {
        key: ENC_ACCMNG,
        class: "PRENC",
        status,
        start: "2015-02-08T11:34:19+01:10",
        end,
    };
    let appt = |status, start, end| Appointment {
        key: APPT,
        status,
        start,
        end,
    };
    let s12 = ("2021-09-24T09:30:00+02:15", "2021-09-24T10:20:00+02:15");
    Some(match name {
        "adt_a01_cdcti_mn005.hl7" => (
            Patient {
                key: "urn:hms:id:SCH|11102779",
                family: "SMITH",
                given: &["BB SARAH"],
                birth: "2023-05-04",
                gender: "male",
            },
            None,
            None,
        ),
        "adt_a01_cdcti_other001.hl7" => (
            Patient {
                key: "urn:hms:id:ADT1|PATID1234",
                family: "DOGCOW",
                given: &["CLARUS", "M"],
                birth: "1961-06-15",
                gender: "male",
            },
            None,
            None,
        ),
        "adt_a01_lfh_unix.hl7" | "adt_a01_lfh_win_crlf.hl7" => (
            Patient {
                key: "urn:hms:id:A|PID1234",
                family: "DOE",
                given: &["JOHN", "A"],
                birth: "1980-02-02",
                gender: "female",
            },
            Some(Encounter {
                key: "urn:hms:id:050|48390",
                class: "UNK",
                status: "in-progress",
                start: "2014-09-12T22:00:00+00:00",
                end: None,
            }),
            None,
        ),
        "adt_a01_msconv_1.hl7" | "adt_a02_msconv_1.hl7" => {
            (EVERYMAN, Some(enc("in-progress", None)), None)
        }
        "adt_a02_hl7parser.hl7" => (
            Patient {
                key: "urn:hms:id:1|10006579",
                family: "DUCK",
                given: &["DONALD", "D"],
                birth: "1924-10-10",
                gender: "male",
            },
            Some(Encounter {
                key: "urn:hms:id:AccMgr|40007716",
                class: "IMP",
                status: "in-progress",
                start: "2005-01-10T04:52:53+00:00",
                end: None,
            }),
            None,
        ),
        "adt_a03_msconv_1.hl7" | "adt_a08_msconv_1.hl7" => (
            EVERYMAN,
            Some(enc("finished", Some("2015-02-09T11:34:19+01:10"))),
            None,
        ),
        "adt_a04_msconv_2.hl7" => (
            EVERYMAN,
            Some(enc("arrived", Some("2015-02-09T11:34:19+01:10"))),
            None,
        ),
        "adt_a04_msconv_bom_v23.hl7" => (
            Patient {
                key: "urn:hms:id:RDX|MRN12345",
                family: "Doe",
                given: &["Jane"],
                birth: "1978-01-01",
                gender: "female",
            },
            None,
            None,
        ),
        "adt_a11_msconv_1.hl7" => (EVERYMAN, Some(enc("cancelled", None)), None),
        "adt_a13_msconv_2.hl7" => (EVERYMAN, Some(enc("in-progress", None)), None),
        "siu_s12_msconv_1.hl7" | "siu_s13_msconv_1.hl7" => {
            (EVERYMAN, None, Some(appt("booked", s12.0, s12.1)))
        }
        "siu_s14_msconv_2.hl7" => (
            EVERYMAN,
            None,
            Some(appt(
                "booked",
                "2021-08-18T11:30:00+02:15",
                "2021-08-18T12:30:00+02:15",
            )),
        ),
        "siu_s15_msconv_1.hl7" => (EVERYMAN, None, Some(appt("cancelled", s12.0, s12.1))),
        "siu_s26_msconv_1.hl7" => (EVERYMAN, None, Some(appt("noshow", s12.0, s12.1))),
        _ => return None,
    })
}

async fn check_resources(c: &common::Client, name: &str) -> bool {
    let Some((p, e, a)) = expected(name) else {
        return false;
    };
    let pat = one(c, &format!("Patient?identifier={}", p.key)).await;
    let (sys, val) = p.key.split_once('|').unwrap();
    assert_eq!(pat["identifier"][0]["system"], sys, "{name}");
    assert_eq!(pat["identifier"][0]["value"], val, "{name}");
    assert_eq!(pat["name"][0]["family"], p.family, "{name}");
    let given: Vec<&str> = pat["name"][0]["given"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert_eq!(given, p.given, "{name}");
    assert_eq!(pat["birthDate"], p.birth, "{name}");
    assert_eq!(pat["gender"], p.gender, "{name}");
    let patient_ref = format!("Patient/{}", pat["id"].as_str().unwrap());
    if let Some(e) = e {
        let enc = one(c, &format!("Encounter?identifier={}", e.key)).await;
        assert_eq!(enc["class"]["code"], e.class, "{name}");
        assert_eq!(enc["status"], e.status, "{name}");
        assert_eq!(enc["period"]["start"], e.start, "{name}");
        match e.end {
            Some(end) => assert_eq!(enc["period"]["end"], end, "{name}"),
            None => assert!(enc["period"].get("end").is_none(), "{name}: {enc}"),
        }
        assert_eq!(enc["subject"]["reference"], patient_ref, "{name}");
    }
    if let Some(a) = a {
        let appt = one(c, &format!("Appointment?identifier={}", a.key)).await;
        assert_eq!(appt["status"], a.status, "{name}");
        assert_eq!(appt["start"], a.start, "{name}");
        assert_eq!(appt["end"], a.end, "{name}");
        let actors: Vec<&str> = appt["participant"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["actor"]["reference"].as_str())
            .collect();
        assert!(actors.contains(&patient_ref.as_str()), "{name}: {appt}");
    }
    true
}

#[actix_web::test]
async fn every_fixture_gets_the_expected_ack_and_resources() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let mut s = TcpStream::connect(srv.mllp()).await.unwrap();
        let mut checked = 0;
        for (name, expect) in SWEEP {
            let p = payload(name);
            s.write_all(&frame(&p)).await.unwrap();
            match expect {
                Expect::NoAck => {
                    // Proven without timing: the next message's ACK is the next frame.
                    continue;
                }
                Expect::Ack(code, err) => {
                    let ack = read_frame(&mut s, Duration::from_secs(60))
                        .await
                        .unwrap_or_else(|| panic!("{b:?} {name}: no ACK"));
                    assert_eq!(field(&ack, "MSA", 1), *code, "{b:?} {name}: {}", text(&ack));
                    match err {
                        Some(e) => {
                            let err3 = field(&ack, "ERR", 3);
                            assert!(
                                err3.starts_with(&format!("{e}^")),
                                "{b:?} {name}: ERR-3 {err3:?} in {}",
                                text(&ack)
                            );
                        }
                        None => assert!(!text(&ack).contains("\rERR"), "{name}"),
                    }
                    if name.starts_with("adt_a01_msconv") {
                        // The message right after the NE/NE A40 must not be answered twice.
                        assert_eq!(field(&ack, "MSA", 2), "MSG00001");
                    }
                }
            }
            if check_resources(&c, name).await {
                checked += 1;
            }
        }
        assert!(
            checked >= 15,
            "only {checked} fixtures were checked over REST"
        );
        // The A40 was stored and refused (its sources are unknown), without an ACK.
        let st = stored(&srv, "8919-40");
        assert_eq!(st, vec![("error".to_string(), "CE".to_string())], "{b:?}");
    }
}

/// (status, ack_code) of every stored message with control id `cid`.
fn stored(srv: &TestServer, cid: &str) -> Vec<(String, String)> {
    let out = hms_cli(srv, &["hl7", "messages", "--limit", "1000"]);
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.get(3) == Some(&cid)).then(|| (f[5].to_string(), f[6].to_string()))
        })
        .collect()
}

/// Runs the real `hms` binary against this test server's database.
fn hms_cli(srv: &TestServer, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hms"));
    cmd.args(args).arg("--no-mllp");
    match (srv.backend, &srv.sqlite_path) {
        (Backend::Sqlite, Some(p)) => {
            cmd.arg("--database-url")
                .arg(format!("sqlite://{}", p.display()));
        }
        _ => {
            cmd.arg("--database-url").arg(srv.pg_url_with_schema());
        }
    }
    let out = cmd.env("HMS_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

const A04: &str = "MSH|^~\\&|REG|HOSP|HMS|HMS|20240102153000+0100||ADT^A04^ADT_A01|CTRL-1|P|2.5.1\r\
EVN|A04|20240102153000+0100\r\
PID|1||MRN-77^^^HOSP^MR||ROE^RICHARD^Q||19700102|M\r\
PV1|1|O|CLINIC^101^1||||||||||||||||VN-77^^^HOSP^VN|||||||||||||||||||||||||20240102150000+0100\r";

#[actix_web::test]
async fn broken_pid7_gets_ae_naming_pid7_and_a_resend_gets_the_same_ack_bytes() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let mut m = client(&srv).await;
        // Broken birth date: AE, ERR naming PID-7, status error, nothing applied.
        let bad = A04
            .replace("19700102", "19XX0102")
            .replace("CTRL-1", "CTRL-BAD");
        let ack = m.send(bad.as_bytes()).await.unwrap();
        assert_eq!(msa_code(&ack).as_deref(), Some("AE"), "{}", text(&ack));
        assert_eq!(field(&ack, "ERR", 2), "PID^1^7", "{}", text(&ack));
        assert!(field(&ack, "ERR", 3).starts_with("102^"), "{}", text(&ack));
        assert_eq!(
            count(&c, "Patient?identifier=urn:hms:id:HOSP|MRN-77").await,
            0
        );
        assert_eq!(
            stored(&srv, "CTRL-BAD"),
            vec![("error".into(), "AE".into())]
        );

        // A good message, then the very same bytes again: identical ACK bytes, no new versions.
        let ack1 = m.send(A04.as_bytes()).await.unwrap();
        assert_eq!(msa_code(&ack1).as_deref(), Some("AA"), "{}", text(&ack1));
        assert_eq!(field(&ack1, "MSA", 2), "CTRL-1");
        let pat = one(&c, "Patient?identifier=urn:hms:id:HOSP|MRN-77").await;
        let enc = one(&c, "Encounter?identifier=urn:hms:id:HOSP|VN-77").await;
        assert_eq!(enc["status"], "arrived");
        assert_eq!(enc["class"]["code"], "AMB");
        let ack2 = m.send(A04.as_bytes()).await.unwrap();
        assert_eq!(ack1, ack2, "a duplicate must get the original ACK bytes");
        let pat2 = one(&c, "Patient?identifier=urn:hms:id:HOSP|MRN-77").await;
        let enc2 = one(&c, "Encounter?identifier=urn:hms:id:HOSP|VN-77").await;
        assert_eq!(pat["meta"]["versionId"], pat2["meta"]["versionId"]);
        assert_eq!(enc["meta"]["versionId"], enc2["meta"]["versionId"]);
        assert_eq!(
            count(&c, "Provenance?_count=100").await,
            1,
            "one Provenance"
        );
        assert_eq!(
            stored(&srv, "CTRL-1"),
            vec![("processed".into(), "AA".into())]
        );

        // Same control id, other content: processed as a new message, and noted.
        let changed = A04.replace("ROE^RICHARD", "ROE^RICK");
        let ack3 = m.send(changed.as_bytes()).await.unwrap();
        assert_eq!(msa_code(&ack3).as_deref(), Some("AA"));
        let pat3 = one(&c, "Patient?identifier=urn:hms:id:HOSP|MRN-77").await;
        assert_eq!(pat3["name"][0]["given"][0], "RICK");
        assert_eq!(pat3["meta"]["versionId"], "2");
        let list = hms_cli(&srv, &["hl7", "messages"]);
        assert!(
            list.contains("control id reused with different content"),
            "{list}"
        );

        // Replay of the error message (still broken) keeps it an error; replay is idempotent.
        let out = hms_cli(&srv, &["hl7", "replay", "--status", "error"]);
        assert!(out.contains("\tAE"), "{out}");
        let id = list
            .lines()
            .find(|l| l.contains("\tCTRL-1\t") && !l.contains("reused"))
            .map(|l| l.split('\t').next().unwrap().to_string())
            .unwrap();
        let out = hms_cli(&srv, &["hl7", "replay", &id]);
        assert!(out.ends_with("\tAA\n"), "{out}");
        let enc3 = one(&c, "Encounter?identifier=urn:hms:id:HOSP|VN-77").await;
        assert_eq!(enc3["subject"], enc["subject"]);
    }
}

#[actix_web::test]
async fn chunking_over_real_tcp() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let m1 = A04.replace("CTRL-1", "CHUNK-1").replace("MRN-77", "MRN-C1");
        let m2 = A04.replace("CTRL-1", "CHUNK-2").replace("MRN-77", "MRN-C2");
        let m3 = A04.replace("CTRL-1", "CHUNK-3").replace("MRN-77", "MRN-C3");
        let m4 = A04.replace("CTRL-1", "CHUNK-4").replace("MRN-77", "MRN-C4");

        // One byte per write (with junk before the frame, which is skipped).
        let mut s = TcpStream::connect(srv.mllp()).await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut bytes = b"\n junk\n".to_vec();
        bytes.extend(frame(m1.as_bytes()));
        for byte in bytes {
            s.write_all(&[byte]).await.unwrap();
            s.flush().await.unwrap();
        }
        let ack = read_frame(&mut s, Duration::from_secs(60)).await.unwrap();
        assert_eq!(field(&ack, "MSA", 1), "AA");
        assert_eq!(field(&ack, "MSA", 2), "CHUNK-1");

        // Two frames in one write: two ACKs, in order.
        let mut both = frame(m2.as_bytes());
        both.extend(frame(m3.as_bytes()));
        s.write_all(&both).await.unwrap();
        let a2 = read_frame(&mut s, Duration::from_secs(60)).await.unwrap();
        let a3 = read_frame(&mut s, Duration::from_secs(60)).await.unwrap();
        assert_eq!(field(&a2, "MSA", 2), "CHUNK-2");
        assert_eq!(field(&a3, "MSA", 2), "CHUNK-3");
        drop(s);

        // Closed mid-frame: no ACK, nothing stored, nothing applied.
        let mut s = TcpStream::connect(srv.mllp()).await.unwrap();
        let f = frame(m4.as_bytes());
        s.write_all(&f[..f.len() - 2]).await.unwrap(); // everything but FS CR
        s.shutdown().await.unwrap();
        assert_eq!(read_frame(&mut s, Duration::from_secs(5)).await, None);
        drop(s);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(stored(&srv, "CHUNK-4").is_empty());
        assert_eq!(
            count(&c, "Patient?identifier=urn:hms:id:HOSP|MRN-C4").await,
            0
        );
        for mrn in ["MRN-C1", "MRN-C2", "MRN-C3"] {
            one(&c, &format!("Patient?identifier=urn:hms:id:HOSP|{mrn}")).await;
        }
    }
}

#[actix_web::test]
async fn no_ack_when_the_message_store_is_gone() {
    for b in backends() {
        let srv = TestServer::start(b);
        let mut m = client(&srv).await;
        let ack = m.send(A04.as_bytes()).await.unwrap();
        assert_eq!(msa_code(&ack).as_deref(), Some("AA"));
        // The database loses its tables (on PostgreSQL the whole schema content).
        srv.exec_sql("DROP TABLE hl7_message");
        let next = A04.replace("CTRL-1", "CTRL-2");
        let mut s = TcpStream::connect(srv.mllp()).await.unwrap();
        s.write_all(&frame(next.as_bytes())).await.unwrap();
        // No ACK at all: the connection is closed without a byte.
        let mut buf = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf))
            .await
            .expect("the server must close the connection")
            .unwrap_or(0);
        assert_eq!(n, 0, "got bytes: {}", text(&buf));
        let _ = b;
    }
}

/// The stored rows of control id `cid` (with the columns the CLI does not list).
fn message_rows(srv: &TestServer, cid: &str) -> Vec<hms::store::hl7_messages::Summary> {
    let store = hms::app::open_store(&srv.config).unwrap();
    let rows = store
        .read(|conn| hms::store::hl7_messages::list(conn, None, 1000))
        .unwrap();
    rows.into_iter().filter(|r| r.control_id == cid).collect()
}

fn raw_of(srv: &TestServer, id: i64) -> Option<Vec<u8>> {
    let store = hms::app::open_store(&srv.config).unwrap();
    store
        .read(|conn| hms::store::hl7_messages::raw(conn, id))
        .unwrap()
}

/// One commit per accepted message: the raw message, its resources and its status are written in
/// one transaction. When that transaction fails at its last write (as a crash before COMMIT would),
/// neither the message nor a resource is left and no ACK is sent; a refused message still keeps
/// its raw bytes.
#[actix_web::test]
async fn an_accepted_message_is_stored_and_applied_in_one_commit() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        // Fails the last statement of the apply: the message row's status update.
        srv.exec_sql(match b {
            Backend::Sqlite => {
                "CREATE TRIGGER fail_finish BEFORE UPDATE ON hl7_message \
                 BEGIN SELECT RAISE(ABORT, 'simulated crash before commit'); END;"
            }
            Backend::Postgres => {
                "CREATE FUNCTION fail_finish() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'simulated crash before commit'; END $$; \
                 CREATE TRIGGER fail_finish BEFORE UPDATE ON hl7_message \
                 FOR EACH ROW EXECUTE FUNCTION fail_finish();"
            }
        });
        let msg = A04.replace("CTRL-1", "ONE-1");
        let mut s = TcpStream::connect(srv.mllp()).await.unwrap();
        s.write_all(&frame(msg.as_bytes())).await.unwrap();
        let ack = read_frame(&mut s, Duration::from_secs(60)).await;
        assert_eq!(ack, None, "{b:?}: no ACK when the commit fails");
        assert_eq!(
            message_rows(&srv, "ONE-1").len(),
            0,
            "{b:?}: no raw message"
        );
        let patients = "Patient?identifier=urn:hms:id:HOSP|MRN-77";
        assert_eq!(count(&c, patients).await, 0, "{b:?}: no resource");
        assert_eq!(count(&c, "Encounter").await, 0, "{b:?}: no resource");

        srv.exec_sql(match b {
            Backend::Sqlite => "DROP TRIGGER fail_finish;",
            Backend::Postgres => {
                "DROP TRIGGER fail_finish ON hl7_message; DROP FUNCTION fail_finish();"
            }
        });
        // The retransmission: stored once, processed, with the versions it wrote.
        let mut m = client(&srv).await;
        let ack = m.send(msg.as_bytes()).await.unwrap();
        assert_eq!(msa_code(&ack).as_deref(), Some("AA"), "{}", text(&ack));
        let pat = one(&c, patients).await;
        let enc = one(&c, "Encounter?identifier=urn:hms:id:HOSP|VN-77").await;
        let rows = message_rows(&srv, "ONE-1");
        assert_eq!(rows.len(), 1, "{b:?}");
        assert_eq!(rows[0].status, "processed");
        assert_eq!(rows[0].ack_code.as_deref(), Some("AA"));
        assert_eq!(field(&ack, "MSH", 9), format!("HMS{}", rows[0].id));
        let written: Vec<String> =
            serde_json::from_str(rows[0].resources.as_deref().unwrap()).unwrap();
        for r in [&pat, &enc] {
            let v = format!(
                "{}/{}/_history/1",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            );
            assert!(written.contains(&v), "{b:?} {v} in {written:?}");
        }
        assert_eq!(raw_of(&srv, rows[0].id), Some(msg.as_bytes().to_vec()));

        // A data error while applying (A40 of an unknown record): that transaction is rolled
        // back, then the raw message is kept with status error and its AE.
        let bad = "MSH|^~\\&|REG|HOSP|HMS|HMS|20240103100000+0100||ADT^A40^ADT_A39|ONE-BAD|P|2.5.1\r\
EVN|A40|20240103100000+0100\r\
PID|1||NEW-9^^^HOSP^MR||ROE^RICHARD^Q||19700102|M\r\
MRG|GONE-9^^^HOSP^MR\r";
        let ack = m.send(bad.as_bytes()).await.unwrap();
        assert_eq!(msa_code(&ack).as_deref(), Some("AE"), "{}", text(&ack));
        assert_eq!(field(&ack, "ERR", 2), "MRG^1^1", "{}", text(&ack));
        assert!(field(&ack, "ERR", 3).starts_with("204^"), "{}", text(&ack));
        let rows = message_rows(&srv, "ONE-BAD");
        assert_eq!(rows.len(), 1, "{b:?}");
        assert_eq!(rows[0].status, "error");
        assert_eq!(rows[0].ack_code.as_deref(), Some("AE"));
        assert_eq!(rows[0].resources, None);
        assert_eq!(field(&ack, "MSH", 9), format!("HMS{}", rows[0].id));
        assert_eq!(raw_of(&srv, rows[0].id), Some(bad.as_bytes().to_vec()));
        let q = "Patient?identifier=urn:hms:id:HOSP|NEW-9";
        assert_eq!(count(&c, q).await, 0, "{b:?}: the bundle was rolled back");
    }
}

#[actix_web::test]
async fn a40_merge_deactivates_links_and_moves_references() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let mut m = client(&srv).await;
        // The record that goes away, with an Encounter pointing at it.
        let old = A04
            .replace("MRN-77", "OLD-1")
            .replace("VN-77", "VN-OLD")
            .replace("CTRL-1", "M-1");
        assert_eq!(
            msa_code(&m.send(old.as_bytes()).await.unwrap()).as_deref(),
            Some("AA")
        );
        let src = one(&c, "Patient?identifier=urn:hms:id:HOSP|OLD-1").await;
        let src_id = src["id"].as_str().unwrap().to_string();
        // An Appointment that references the source by a versioned reference, and an
        // Observation about somebody else (must stay untouched).
        let appt = c
            .post(
                "Appointment",
                &serde_json::json!({"resourceType": "Appointment", "status": "booked",
                    "participant": [{"actor": {"reference": format!("Patient/{src_id}/_history/1")},
                                     "status": "accepted"}]}),
            )
            .await;
        assert_eq!(appt.status, 201, "{}", appt.text());
        let appt_id = appt.json()["id"].as_str().unwrap().to_string();
        let other = c
            .post(
                "Patient",
                &serde_json::json!({"resourceType": "Patient", "active": true}),
            )
            .await
            .json();
        let other_ref = format!("Patient/{}", other["id"].as_str().unwrap());
        let obs = c
            .post(
                "Observation",
                &serde_json::json!({"resourceType": "Observation", "status": "final",
                    "code": {"text": "x"}, "subject": {"reference": other_ref}}),
            )
            .await;
        assert_eq!(obs.status, 201, "{}", obs.text());
        let obs_id = obs.json()["id"].as_str().unwrap().to_string();
        let a40 = "MSH|^~\\&|REG|HOSP|HMS|HMS|20240103100000+0100||ADT^A40^ADT_A39|M-2|P|2.5.1\r\
EVN|A40|20240103100000+0100\r\
PID|1||NEW-1^^^HOSP^MR||ROE^RICHARD^Q||19700102|M\r\
MRG|OLD-1^^^HOSP^MR\r";
        let ack = m.send(a40.as_bytes()).await.unwrap();
        assert_eq!(msa_code(&ack).as_deref(), Some("AA"), "{}", text(&ack));
        let dst = one(&c, "Patient?identifier=urn:hms:id:HOSP|NEW-1").await;
        let src2 = one(&c, "Patient?identifier=urn:hms:id:HOSP|OLD-1").await;
        assert_eq!(src2["active"], false);
        assert_eq!(src2["link"][0]["type"], "replaced-by");
        assert_eq!(src2["link"][0]["other"]["identifier"]["value"], "NEW-1");
        assert_eq!(
            src2["name"], src["name"],
            "the PATCH keeps the demographics"
        );
        assert_eq!(dst["link"][0]["type"], "replaces");
        let enc = one(&c, "Encounter?identifier=urn:hms:id:HOSP|VN-OLD").await;
        assert_eq!(
            enc["subject"]["reference"],
            format!("Patient/{}", dst["id"].as_str().unwrap()),
            "the Encounter follows the merge"
        );
        assert_eq!(enc["meta"]["versionId"], "2");
        let dst_ref = format!("Patient/{}", dst["id"].as_str().unwrap());
        let appt = c.get(&format!("Appointment/{appt_id}")).await.json();
        assert_eq!(appt["meta"]["versionId"], "2");
        assert_eq!(
            appt["participant"],
            serde_json::json!([{"actor": {"reference": dst_ref}, "status": "accepted"}])
        );
        let obs = c.get(&format!("Observation/{obs_id}")).await.json();
        assert_eq!(obs["meta"]["versionId"], "1");
        assert_eq!(obs["subject"]["reference"], other_ref);
        // Nothing references the source any more, except the Provenance records of the past.
        let left = c
            .get(&format!("Encounter?subject=Patient/{src_id}"))
            .await
            .json();
        assert_eq!(left["total"], 0, "{left}");
        let appts = c.get(&format!("Appointment?actor={dst_ref}")).await.json();
        assert_eq!(appts["total"], 1, "{appts}");
        let prov = c
            .get(&format!("Provenance?target=Patient/{src_id}"))
            .await
            .json();
        assert_eq!(prov["total"], 2, "{prov}");
    }
}

#[actix_web::test]
async fn python_hl7_client_reads_aa() {
    let check = std::process::Command::new("python3")
        .args(["-c", "import hl7.client"])
        .output();
    if !check.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "note: python3 package `hl7` is missing (pip install -r .ci/requirements.txt); real-peer test skipped"
        );
        return;
    }
    let srv = TestServer::start(Backend::Sqlite);
    let (host, port) = srv
        .mllp()
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .unwrap();
    let script = r#"
import sys, hl7
from hl7.client import MLLPClient
msg = open(sys.argv[3], 'rb').read().decode('utf-8').replace('\r\n', '\r').replace('\n', '\r')
with MLLPClient(sys.argv[1], int(sys.argv[2])) as c:
    ack = c.send_message(msg)
print(hl7.parse(ack.decode('utf-8'))['MSA'][0][1])
"#;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hl7v2/adt_a04_msconv_2.hl7");
    let srv_c = srv.client();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", script, &host, &port, path.to_str().unwrap()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "AA");
    one(&srv_c, "Patient?identifier=urn:hms:id:test1|PATID1234").await;
}

/// Site overrides from the `[hl7]` table of a real config file.
#[actix_web::test]
async fn config_file_overrides_identifier_systems_and_patient_class() {
    let dir = std::env::temp_dir().join(format!("hms-hl7-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hms.toml");
    std::fs::write(
        &path,
        "[hl7.assigning_authorities]\nMRN_HOSP = \"urn:oid:1.2.3\"\n[hl7.patient_class]\nO = \"HH\"\n",
    )
    .unwrap();
    let loaded = hms::config::Config::load(&hms::config::ServerArgs {
        config: Some(path),
        ..Default::default()
    })
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    for b in backends() {
        let hl7 = loaded.hl7.clone();
        let srv = TestServer::start_with(b, |c| c.hl7 = hl7);
        let c = srv.client();
        let mut m = client(&srv).await;
        let msg = A04.replace(
            "MRN-77^^^HOSP^MR",
            "MRN-77^^^MRN_HOSP^MR~X-9^^^OTHER_AUTH^MR",
        );
        let ack = m.send(msg.as_bytes()).await.unwrap();
        assert_eq!(msa_code(&ack).as_deref(), Some("AA"), "{}", text(&ack));
        let p = one(&c, "Patient?identifier=urn:oid:1.2.3|MRN-77").await;
        let mr = serde_json::json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]});
        assert_eq!(
            p["identifier"],
            serde_json::json!([
                {"type": mr, "system": "urn:oid:1.2.3", "value": "MRN-77"},
                // Not configured: the documented default, `urn:hms:id:` + the authority.
                {"type": mr, "system": "urn:hms:id:OTHER_AUTH", "value": "X-9"}
            ])
        );
        let e = one(&c, "Encounter?identifier=urn:hms:id:HOSP|VN-77").await;
        assert_eq!(
            e["class"],
            serde_json::json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"})
        );
    }
}

fn tls_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn tls_server(b: Backend, client_ca: bool) -> TestServer {
    TestServer::start_with(b, |c| {
        c.mllp.tls = Some((tls_file("cert.pem"), tls_file("key.pem")));
        c.mllp.tls_client_ca = client_ca.then(|| tls_file("mllp-client-ca.pem"));
    })
}

/// Sends one frame over TLS (client certificate `identity` = (chain, key) file names) and reads
/// one ACK frame. Any TLS or I/O failure, or EOF before a whole frame, is an error.
async fn tls_send(
    srv: &TestServer,
    identity: Option<(&str, &str)>,
    payload: &[u8],
) -> std::io::Result<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(tls_file("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(tls_file(chain))
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_file(tls_file(key)).unwrap(),
            )
            .unwrap(),
    };
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = TcpStream::connect(srv.mllp()).await?;
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let mut s = connector.connect(name, tcp).await?;
    s.write_all(&frame(payload)).await?;
    s.flush().await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !(got.len() >= 3 && got.ends_with(&[FS, CR])) {
        let n = tokio::time::timeout(Duration::from_secs(60), s.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::other("no ACK in time"))??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(got)
}

/// The ACK an A04 (MSH-10 `ctrl`) gets, with the two generated fields (MSH-7, MSH-10) taken from
/// `ack` itself: everything else is compared byte for byte.
fn expected_aa(ack: &[u8], ctrl: &str) -> Vec<u8> {
    let msh: Vec<String> = text(ack)
        .trim_start_matches('\u{b}')
        .split('\r')
        .next()
        .unwrap()
        .split('|')
        .map(str::to_string)
        .collect();
    let (ts, id) = (&msh[6], &msh[9]);
    assert_eq!(ts.len(), "20240102153000+0000".len(), "MSH-7 {ts}");
    assert!(!id.is_empty() && id != ctrl, "own control id: {id}");
    frame(
        format!("MSH|^~\\&|HMS|HMS|REG|HOSP|{ts}||ACK^A04^ACK|{id}|P|2.5.1\rMSA|AA|{ctrl}\r")
            .as_bytes(),
    )
}

#[actix_web::test]
async fn mllp_over_tls_acks_after_commit() {
    for b in backends() {
        let srv = tls_server(b, false);
        let c = srv.client();
        let ack = tls_send(&srv, None, A04.as_bytes()).await.unwrap();
        assert_eq!(text(&ack), text(&expected_aa(&ack, "CTRL-1")));
        let p = one(&c, "Patient?identifier=urn:hms:id:HOSP|MRN-77").await;
        assert_eq!(p["name"][0]["family"], "ROE");
        // Plain MLLP to the TLS port gets no ACK.
        let mut s = TcpStream::connect(srv.mllp()).await.unwrap();
        s.write_all(&frame(A04.replace("CTRL-1", "PLAIN").as_bytes()))
            .await
            .unwrap();
        assert_eq!(read_frame(&mut s, Duration::from_secs(60)).await, None);
        assert_eq!(stored(&srv, "PLAIN"), vec![]);
    }
}

#[actix_web::test]
async fn mllp_tls_client_ca_refuses_peers_without_a_signed_certificate() {
    for b in backends() {
        let srv = tls_server(b, true);
        let c = srv.client();
        let good = A04.replace("CTRL-1", "CERT-OK");
        let ack = tls_send(
            &srv,
            Some(("mllp-client.pem", "mllp-client-key.pem")),
            good.as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(text(&ack), text(&expected_aa(&ack, "CERT-OK")));
        one(&c, "Patient?identifier=urn:hms:id:HOSP|MRN-77").await;
        for (who, identity) in [
            ("no certificate", None),
            (
                "self-signed certificate",
                Some(("mllp-selfsigned.pem", "mllp-selfsigned-key.pem")),
            ),
        ] {
            let ctrl = format!("REFUSED-{}", who.len());
            let msg = A04
                .replace("CTRL-1", &ctrl)
                .replace("MRN-77", "MRN-REFUSED");
            let r = tls_send(&srv, identity, msg.as_bytes()).await;
            assert!(r.is_err(), "{who}: got {:?}", r.map(|a| text(&a)));
            assert_eq!(stored(&srv, &ctrl), vec![], "{who}: nothing stored");
        }
        assert_eq!(
            count(&c, "Patient?identifier=urn:hms:id:HOSP|MRN-REFUSED").await,
            0
        );
    }
}

/// The ACK with MSH-7 and MSH-10 (time, our control id) blanked, segments split for exact checks.
fn ack_lines(ack: &[u8]) -> Vec<String> {
    text(ack)
        .split_terminator('\r')
        .map(|l| {
            if l.starts_with("MSH") {
                let mut f: Vec<&str> = l.split('|').collect();
                f[6] = "TS";
                f[9] = "ID";
                f.join("|")
            } else {
                l.to_string()
            }
        })
        .collect()
}

#[actix_web::test]
async fn a_frame_with_two_messages_gets_ar_and_the_cli_splits_files() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let m1 = A04.replace("CTRL-1", "TWO-1").replace("MRN-77", "MRN-T1");
        let m2 = A04.replace("CTRL-1", "TWO-2").replace("MRN-77", "MRN-T2");
        let mut m = client(&srv).await;
        let ack = m.send(format!("{m1}{m2}").as_bytes()).await.unwrap();
        assert_eq!(
            ack_lines(&ack),
            vec![
                "MSH|^~\\&|HMS|HMS|REG|HOSP|TS||ACK^A04^ACK|ID|P|2.5.1",
                "MSA|AR|TWO-1",
                "ERR||MSH^2|100^Segment sequence error^HL70357|E||||a frame holds one message; a second MSH starts at segment 5",
            ],
            "{b:?}"
        );
        // Nothing of either message applied; the frame is kept as rejected.
        for mrn in ["MRN-T1", "MRN-T2"] {
            let q = format!("Patient?identifier=urn:hms:id:HOSP|{mrn}");
            assert_eq!(count(&c, &q).await, 0, "{b:?} {mrn}");
        }
        assert_eq!(
            stored(&srv, "TWO-1"),
            vec![("rejected".into(), "AR".into())]
        );
        assert!(stored(&srv, "TWO-2").is_empty());

        // `hms hl7 send FILE` sends each message of a file in its own frame.
        let dir = std::env::temp_dir().join(format!("hms-two-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("two.hl7");
        let m3 = A04.replace("CTRL-1", "TWO-3").replace("MRN-77", "MRN-T3");
        let m4 = A04.replace("CTRL-1", "TWO-4").replace("MRN-77", "MRN-T4");
        std::fs::write(&file, format!("{m3}{m4}").replace('\r', "\n")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hms"))
            .args(["hl7", "send", "--to", &srv.mllp()])
            .arg(&file)
            .env("HMS_LOG", "warn")
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout} {}", text(&out.stderr));
        let f = file.display();
        assert!(stdout.contains(&format!("{f} #1: AA\n")), "{stdout}");
        assert!(stdout.contains(&format!("{f} #2: AA\n")), "{stdout}");
        assert!(stdout.contains("MSA|AA|TWO-3\n") && stdout.contains("MSA|AA|TWO-4\n"));
        for mrn in ["MRN-T3", "MRN-T4"] {
            one(&c, &format!("Patient?identifier=urn:hms:id:HOSP|{mrn}")).await;
        }
    }
}

#[actix_web::test]
async fn nul_and_control_characters_get_ae_102_naming_the_field() {
    for b in backends() {
        let srv = TestServer::start(b);
        let c = srv.client();
        let mut m = client(&srv).await;
        // (message, control id as listed, MSA-2 of the ACK, ERR-2, ERR-8)
        let cases = [
            (
                A04.replace("CTRL-1", "NUL\0ID"),
                "NUL\\X00\\ID",
                "NUL\\X00\\ID",
                "MSH^1^10",
                "MSH-10 contains the control character U+0000",
            ),
            (
                A04.replace("|REG|", "|RE\0G|").replace("CTRL-1", "NUL-3"),
                "NUL-3",
                "NUL-3",
                "MSH^1^3",
                "MSH-3 contains the control character U+0000",
            ),
            (
                A04.replace("ADT^A04^ADT_A01", "ADT\0^A04^ADT_A01")
                    .replace("CTRL-1", "NUL-9"),
                "NUL-9",
                "NUL-9",
                "MSH^1^9",
                "MSH-9 contains the control character U+0000",
            ),
            (
                A04.replace("ROE^RICHARD", "ROE\\X00\\^RICHARD")
                    .replace("CTRL-1", "NUL-PID"),
                "NUL-PID",
                "NUL-PID",
                "PID^1^5",
                "PID-5 contains the control character U+0000",
            ),
            // Formerly AE 207 with the FHIR JSON parser's message.
            (
                A04.replace("ROE^RICHARD", "ROE\u{1}^RICHARD")
                    .replace("CTRL-1", "CTL-PID"),
                "CTL-PID",
                "CTL-PID",
                "PID^1^5",
                "PID-5 contains the control character U+0001",
            ),
        ];
        for (msg, listed, msa2, erl, why) in cases {
            let ack = m.send(msg.as_bytes()).await.unwrap();
            assert!(!ack.contains(&0), "{b:?} raw NUL echoed: {}", text(&ack));
            let lines = ack_lines(&ack);
            assert_eq!(lines[1], format!("MSA|AE|{msa2}"), "{b:?} {}", text(&ack));
            assert_eq!(
                lines[2],
                format!("ERR||{erl}|102^Data type error^HL70357|E||||{why}"),
                "{b:?}"
            );
            assert_eq!(stored(&srv, listed), vec![("error".into(), "AE".into())]);
        }
        assert_eq!(
            count(&c, "Patient?identifier=urn:hms:id:HOSP|MRN-77").await,
            0
        );
        // Same connection still open and working.
        let ack = m.send(A04.as_bytes()).await.unwrap();
        assert_eq!(field(&ack, "MSA", 1), "AA", "{b:?}");
    }
}

#[actix_web::test]
async fn ack_header_of_a_bare_or_shifted_msh_uses_defaults() {
    let srv = TestServer::start(Backend::Sqlite);
    let mut m = client(&srv).await;
    let ack = m.send(b"MSH|").await.unwrap();
    assert_eq!(
        ack_lines(&ack),
        vec![
            "MSH|^~\\&|||||TS||ACK^^ACK|ID|P|2.5.1",
            "MSA|AR|",
            "ERR||MSH^1^2|101^Required field missing^HL70357|E||||MSH-2 (encoding characters) is empty",
        ]
    );
    // MSH-2 missing: every later field is shifted; nothing past MSH-6 is echoed.
    let shifted = "MSH|||||ATK|HOSP|HMS|HMS|20240101||ADT^A04|CTRL|P|2.5.1\r";
    let ack = m.send(shifted.as_bytes()).await.unwrap();
    assert_eq!(
        ack_lines(&ack),
        vec![
            "MSH|^~\\&||ATK|||TS||ACK^^ACK|ID|P|2.5.1",
            "MSA|AR|",
            "ERR||MSH^1^2|101^Required field missing^HL70357|E||||MSH-2 (encoding characters) is empty",
        ]
    );
}

#[actix_web::test]
async fn cli_does_not_wait_for_an_ack_with_msh15_ne_and_reports_a_too_large_frame() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.mllp.max_frame_bytes = 1000);
    let c = srv.client();
    let dir = std::env::temp_dir().join(format!("hms-ne-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ne = A04
        .replace("CTRL-1", "NE-1")
        .replace("|P|2.5.1\r", "|P|2.5.1|||NE|NE\r");
    let file = dir.join("ne.hl7");
    std::fs::write(&file, &ne).unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hms"))
        .args(["hl7", "send", "--to", &srv.mllp()])
        .arg(&file)
        .env("HMS_LOG", "warn")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", text(&out.stderr));
    assert_eq!(
        stdout,
        format!("{}: no ACK requested (MSH-15=NE)\n", file.display())
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    for _ in 0..100 {
        if !stored(&srv, "NE-1").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stored(&srv, "NE-1"),
        vec![("processed".into(), "CA".into())]
    );
    one(&c, "Patient?identifier=urn:hms:id:HOSP|MRN-77").await;

    // Over the listener's limit: an AR naming the limit, then the connection closes.
    let big = A04
        .replace("CTRL-1", "BIG-1")
        .replace("ROE", &"R".repeat(5000));
    let mut m = client(&srv).await;
    let ack = m.send(big.as_bytes()).await.unwrap();
    assert_eq!(
        ack_lines(&ack),
        vec![
            "MSH|^~\\&|||||TS||ACK^^ACK|ID|P|2.5.1",
            "MSA|AR|",
            "ERR|||104^Value too long^HL70357|E||||frame too large (limit 1000 bytes)",
        ]
    );
    assert!(stored(&srv, "BIG-1").is_empty());
    // The CLI shows that refusal (and fails), not a bare connection reset.
    let file = dir.join("big.hl7");
    std::fs::write(&file, &big).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hms"))
        .args(["hl7", "send", "--to", &srv.mllp()])
        .arg(&file)
        .env("HMS_LOG", "warn")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.starts_with(&format!("{}: AR\n", file.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("||||frame too large (limit 1000 bytes)\n"),
        "{stdout}"
    );
}
