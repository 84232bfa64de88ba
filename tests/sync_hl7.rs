//! Outbound HL7 v2 over MLLP (issue 6) and `hms sync status` / `hms sync retry`, against in-test
//! MLLP peers that answer AA, AE-then-AA, a wrong MSA-2-then-AA, or AR, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use common::{Backend, TestServer, backends};

/// An MLLP peer recording every message; `script(n)` is the answer to the n-th message:
/// "AA", "AE", "AR" or "WRONG" (AA for another control id).
struct Peer {
    addr: String,
    got: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    fn start(script: fn(usize) -> &'static str) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let got: Arc<Mutex<Vec<String>>> = Arc::default();
        let g = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { return };
                let g = g.clone();
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = s.read(&mut chunk) else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(2).position(|w| w == [0x1c, 0x0d]) {
                            let frame: Vec<u8> = buf.drain(..end + 2).collect();
                            let text =
                                String::from_utf8_lossy(&frame[1..frame.len() - 2]).to_string();
                            let ctl = field(&text, "MSH", 10);
                            let n = {
                                let mut g = g.lock().unwrap();
                                g.push(text);
                                g.len() - 1
                            };
                            let (code, id) = match script(n) {
                                "WRONG" => ("AA", "not-yours".to_string()),
                                c => (c, ctl),
                            };
                            let ack = format!(
                                "MSH|^~\\&|PEER||HMS||20240101000000||ACK|A{n}|P|2.5.1\rMSA|{code}|{id}|peer says {code}\r"
                            );
                            let mut out = vec![0x0b];
                            out.extend_from_slice(ack.as_bytes());
                            out.extend_from_slice(&[0x1c, 0x0d]);
                            if s.write_all(&out).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Peer { addr, got }
    }

    fn messages(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }

    async fn wait(&self, n: usize) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            assert!(Instant::now() < end, "peer got only {}: {m:?}", m.len());
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Field `n` of the first segment `seg` (MSH counted as in HL7: MSH-1 is the separator).
fn field(msg: &str, seg: &str, n: usize) -> String {
    let s = msg.split('\r').find(|s| s.starts_with(seg)).unwrap_or("");
    let i = if seg == "MSH" { n - 1 } else { n };
    s.split('|').nth(i).unwrap_or("").to_string()
}

/// The message with MSH-7, EVN-2 (clock) and MSH-10 (event id) masked.
fn masked(msg: &str) -> String {
    msg.split('\r')
        .map(|s| {
            let mut f: Vec<&str> = s.split('|').collect();
            if s.starts_with("MSH") && f.len() > 9 {
                f[6] = "TS";
                f[9] = "ID";
            }
            if s.starts_with("EVN") && f.len() > 2 {
                f[2] = "TS";
            }
            f.join("|")
        })
        .collect::<Vec<_>>()
        .join("\r")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Runs `hms sync ARGS` against this test server's database.
fn hms_cli(srv: &TestServer, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hms"));
    // The database options come after the action, as with every other command.
    let (action, rest) = args.split_first().expect("a sync action");
    cmd.arg("sync").arg(action).args(rest).arg("--no-mllp");
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

/// `hms sync status` lines of the destinations, once they equal `want` (deliveries finish just
/// after the peer answered).
async fn wait_status(srv: &TestServer, want: &[String]) -> String {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let out = hms_cli(srv, &["status"]);
        let rows: Vec<String> = out.lines().skip(2).map(str::to_string).collect();
        if rows == want {
            return out;
        }
        assert!(
            Instant::now() < end,
            "status never became {want:#?}:\n{out}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A finished destination's status line; the in-progress Encounter is the one skipped event.
fn row(dest: &str, delivered: i64, dead: i64) -> String {
    format!(
        "{:<40} {:>8} {:>9} {:>10} {:>8} {:>6} {:>10}",
        dest, 0, 0, delivered, 1, dead, "0"
    )
}

const PV1_GAP_19: usize = 16;
const PV1_GAP_44: usize = 24;

#[actix_web::test]
async fn adt_and_siu_go_out_over_mllp_with_ack_handling() {
    for b in backends() {
        let ok = Peer::start(|_| "AA");
        let flaky = Peer::start(|n| if n == 0 { "AE" } else { "AA" });
        let wrong = Peer::start(|n| if n == 0 { "WRONG" } else { "AA" });
        let reject = Peer::start(|_| "AR");
        let dests = [
            format!("ok={}", ok.addr),
            format!("flaky={}", flaky.addr),
            format!("wrong={}", wrong.addr),
            format!("reject={}", reject.addr),
        ];
        let srv = TestServer::start_with(b, |c| {
            c.sync.poll_interval = Duration::from_millis(100);
            c.sync.retry_base = Duration::from_millis(50);
            c.sync.retry_max = Duration::from_millis(400);
            c.sync.hl7_destinations = dests
                .iter()
                .map(|d| hms::sync::config::Hl7Destination::parse(d).unwrap())
                .collect();
        });
        let c = srv.client();
        let mut p = json!({"resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-1"}],
            "name": [{"use": "official", "family": "Doe", "given": ["Jane"]}],
            "gender": "female", "birthDate": "1980-02-29"});
        let r = c.post("Patient", &p).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let pid = r.json()["id"].as_str().unwrap().to_string();
        p["id"] = json!(pid);
        p["name"][0]["family"] = json!("Smith");
        assert_eq!(c.put(&format!("Patient/{pid}"), &p).await.status, 200);
        let enc = json!({"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "identifier": [{"system": "urn:visit", "value": "V100"}],
            "subject": {"reference": format!("Patient/{pid}")},
            "period": {"start": "2024-01-02T10:00:00Z", "end": "2024-01-02T11:30:00Z"}});
        assert_eq!(c.post("Encounter", &enc).await.status, 201);
        // An Encounter still in progress has no A03: skipped, nothing sent.
        let mut open = enc.clone();
        open["status"] = json!("in-progress");
        assert_eq!(c.post("Encounter", &open).await.status, 201);
        let mut appt = json!({"resourceType": "Appointment", "status": "booked",
            "identifier": [{"system": "urn:appt", "value": "APPT-1"}],
            "start": "2024-03-01T09:00:00Z", "end": "2024-03-01T09:30:00Z",
            "participant": [{"actor": {"reference": format!("Patient/{pid}")}, "status": "accepted"}]});
        let r = c.post("Appointment", &appt).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let aid = r.json()["id"].as_str().unwrap().to_string();
        appt["id"] = json!(aid);
        appt["start"] = json!("2024-03-01T10:00:00Z");
        appt["end"] = json!("2024-03-01T10:30:00Z");
        assert_eq!(
            c.put(&format!("Appointment/{aid}"), &appt).await.status,
            200
        );
        appt["status"] = json!("cancelled");
        assert_eq!(
            c.put(&format!("Appointment/{aid}"), &appt).await.status,
            200
        );

        let got = ok.wait(6).await;
        let pid_doe = "PID|1||MRN-1^^^urn:oid:1.2.3||Doe^Jane^^^^^L||19800229|F";
        let pid_smith = pid_doe.replace("Doe", "Smith");
        let pv1 = format!(
            "PV1|1|O{}|V100{}|20240102100000+0000|20240102113000+0000",
            "|".repeat(PV1_GAP_19),
            "|".repeat(PV1_GAP_44)
        );
        let sch = |tq: &str, status: &str| {
            format!(
                "SCH|APPT-1|{aid}{}|^^^{tq}{}|{status}",
                "|".repeat(8),
                "|".repeat(13)
            )
        };
        let msh = |code: &str| format!("MSH|^~\\&|HMS|HMS|ok||TS||{code}|ID|P|2.5.1");
        let slot1 = "20240301090000+0000^20240301093000+0000";
        let slot2 = "20240301100000+0000^20240301103000+0000";
        let expected = vec![
            format!(
                "{}\rEVN|A04|TS\r{pid_doe}\rPV1|1|N\r",
                msh("ADT^A04^ADT_A01")
            ),
            format!(
                "{}\rEVN|A08|TS\r{pid_smith}\rPV1|1|N\r",
                msh("ADT^A08^ADT_A01")
            ),
            format!(
                "{}\rEVN|A03|TS\r{pid_smith}\r{pv1}\r",
                msh("ADT^A03^ADT_A03")
            ),
            format!(
                "{}\r{}\r{pid_smith}\r",
                msh("SIU^S12^SIU_S12"),
                sch(slot1, "Booked")
            ),
            format!(
                "{}\r{}\r{pid_smith}\r",
                msh("SIU^S14^SIU_S12"),
                sch(slot2, "Booked")
            ),
            format!(
                "{}\r{}\r{pid_smith}\r",
                msh("SIU^S15^SIU_S12"),
                sch(slot2, "Cancelled")
            ),
        ];
        let got_masked: Vec<String> = got.iter().map(|m| masked(m)).collect();
        assert_eq!(got_masked, expected, "{b:?}");
        // MSH-10 is the event id: increasing, and the single key the peers see twice on retries.
        let ids: Vec<i64> = got
            .iter()
            .map(|m| field(m, "MSH", 10).parse().unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert_eq!(field(&got[0], "MSH", 9), "ADT^A04^ADT_A01");
        assert_eq!(field(&got[2], "PV1", 19), "V100");
        assert_eq!(field(&got[3], "SCH", 1), "APPT-1");

        // AE, and an ACK for another control id: the first message is sent again, then the rest.
        for (peer, name) in [(&flaky, "flaky"), (&wrong, "wrong")] {
            let m = peer.wait(7).await;
            let sent: Vec<i64> = m
                .iter()
                .map(|m| field(m, "MSH", 10).parse().unwrap())
                .collect();
            let mut want = vec![ids[0]];
            want.extend(&ids);
            assert_eq!(sent, want, "{name} {b:?}");
            assert_eq!(field(&m[1], "MSH", 5), name);
        }
        // AR: each message once, then dead.
        let m = reject.wait(6).await;
        assert_eq!(m.len(), 6);

        let dest_rows = |reject_dead: i64, reject_delivered: i64| {
            vec![
                row("hl7:flaky", 6, 0),
                row("hl7:ok", 6, 0),
                row("hl7:reject", reject_delivered, reject_dead),
                row("hl7:wrong", 6, 0),
            ]
        };
        let out = wait_status(&srv, &dest_rows(6, 0)).await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1],
            format!(
                "{:<40} {:>8} {:>9} {:>10} {:>8} {:>6} {:>10}",
                "destination", "pending", "in_flight", "delivered", "skipped", "dead", "lag_s"
            )
        );
        assert!(lines[0].starts_with("events: last id "), "{out}");
        // Retry one dead delivery, then all of them: the peer sees them again (and rejects them).
        let one = ids[0].to_string();
        assert_eq!(
            hms_cli(&srv, &["retry", &one, "--destination", "hl7:reject"]),
            "1 deliveries queued again\n"
        );
        reject.wait(7).await;
        wait_status(&srv, &dest_rows(6, 0)).await;
        assert_eq!(
            hms_cli(&srv, &["retry", "--all-dead"]),
            "6 deliveries queued again\n"
        );
        let m = reject.wait(13).await;
        assert_eq!(m.len(), 13);
        wait_status(&srv, &dest_rows(6, 0)).await;
    }
}

/// Redis down (a closed port): the `hms serve` process warns and its workers poll, so the change
/// still reaches the MLLP peer.
#[actix_web::test]
async fn redis_down_falls_back_to_polling() {
    for b in backends() {
        let peer = Peer::start(|_| "AA");
        // The in-process server only creates the database; the binary delivers.
        let srv = TestServer::start_with(b, |c| c.sync.enabled = false);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let db = match (srv.backend, &srv.sqlite_path) {
            (Backend::Sqlite, Some(p)) => format!("sqlite://{}", p.display()),
            _ => srv.pg_url_with_schema(),
        };
        let log = srv.config.data_dir.join(format!("serve-{port}.log"));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hms"))
            .arg("serve")
            .args(["--database-url", &db])
            .args(["--http", &format!("127.0.0.1:{port}")])
            .arg("--no-mllp")
            .args(["--hl7-destination", &format!("ok={}", peer.addr)])
            .env("HMS_REDIS_URL", "redis://127.0.0.1:1")
            .env("HMS_SYNC_POLL_INTERVAL_MS", "100")
            .env("HMS_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "hms serve did not start");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let body = json!({"resourceType": "Patient", "identifier": [{"value": "R-1"}]});
        let r = awc::Client::default()
            .post(format!("http://127.0.0.1:{port}/fhir/Patient"))
            .insert_header(("Content-Type", "application/fhir+json"))
            .send_body(body.to_string())
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let got = peer.wait(1).await;
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(field(&got[0], "MSH", 9), "ADT^A04^ADT_A01", "{b:?}");
        assert_eq!(field(&got[0], "PID", 3), "R-1");
        let stderr = std::fs::read_to_string(&log).unwrap();
        assert!(
            stderr.contains("redis connection failed; sync workers fall back to polling"),
            "{stderr}"
        );
    }
}
