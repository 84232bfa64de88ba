#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
//! Crash test with the real `hms` binary: stream 1,000 ADT^A04 (distinct MRNs) over MLLP, kill -9
//! the server midway, restart it, resend everything that did not get AA. Every message that got AA
//! must be in the message store exactly once and every patient must exist exactly once.
//! SQLite always; PostgreSQL (own database) when HMS_TEST_DATABASE_URL is set.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

const N: usize = 1000;
const KILL_AFTER: usize = 300;

fn message(i: usize) -> Vec<u8> {
    format!(
        "MSH|^~\\&|CRASH|HOSP|HMS|HMS|20240102153000+0100||ADT^A04^ADT_A01|CR-{i}|P|2.5.1\r\
EVN|A04|20240102153000+0100\r\
PID|1||MRN-{i}^^^CRASH^MR||TEST^PATIENT{i}||19700102|F\r\
PV1|1|O|CLINIC||||||||||||||||VN-{i}^^^CRASH^VN\r"
    )
    .into_bytes()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    mllp: String,
}

fn start(dir: &std::path::Path, db: &str, http: u16, mllp: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_hms"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--database-url", db])
        .args(["--http", &format!("127.0.0.1:{http}")])
        .args(["--mllp", &format!("127.0.0.1:{mllp}")])
        .args(["--http-workers", "1"])
        .env("HMS_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{mllp}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, mllp: addr }
}

/// Sends `ids` in order on one connection; returns the ids that got AA (stops at the first error).
fn send_all(addr: &str, ids: &[usize], acked_count: &AtomicUsize) -> Vec<usize> {
    let mut ok = Vec::new();
    let Ok(mut s) = TcpStream::connect(addr) else {
        return ok;
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut buf = [0u8; 4096];
    for &i in ids {
        let mut f = vec![0x0B];
        f.extend(message(i));
        f.extend([0x1C, 0x0D]);
        if s.write_all(&f).is_err() {
            return ok;
        }
        let mut ack = Vec::new();
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return ok,
                Ok(n) => ack.extend_from_slice(&buf[..n]),
            }
            if ack.ends_with(&[0x1C, 0x0D]) {
                break;
            }
        }
        let text = String::from_utf8_lossy(&ack);
        assert!(text.contains(&format!("MSA|AA|CR-{i}")), "{text}");
        ok.push(i);
        acked_count.fetch_add(1, Ordering::SeqCst);
    }
    ok
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn counts(db: &str, sql: &str) -> HashMap<String, i64> {
    let store = hms::store::Store::open(hms::store::DbTarget::parse(db).unwrap(), 1).unwrap();
    let rows: Vec<Count> = store
        .read(|conn| {
            sql_query(sql)
                .load(conn)
                .map_err(hms::store::StoreError::from)
        })
        .unwrap();
    rows.into_iter().map(|r| (r.key, r.n)).collect()
}

fn run(db: &str, dir: &std::path::Path) {
    let (http, mllp) = (free_port(), free_port());
    let mut srv = start(dir, db, http, mllp);
    let all: Vec<usize> = (0..N).collect();
    let acked_count = Arc::new(AtomicUsize::new(0));
    let sender = {
        let addr = srv.mllp.clone();
        let all = all.clone();
        let c = acked_count.clone();
        std::thread::spawn(move || send_all(&addr, &all, &c))
    };
    while acked_count.load(Ordering::SeqCst) < KILL_AFTER && !sender.is_finished() {
        std::thread::sleep(Duration::from_millis(1));
    }
    srv.child.kill().unwrap(); // SIGKILL
    srv.child.wait().unwrap();
    let first: HashSet<usize> = sender.join().unwrap().into_iter().collect();
    assert!(
        first.len() >= KILL_AFTER && first.len() < N,
        "killed after {}",
        first.len()
    );
    eprintln!("crash test: {} of {N} got AA before kill -9", first.len());

    let mut srv = start(dir, db, http, mllp);
    let rest: Vec<usize> = all.iter().copied().filter(|i| !first.contains(i)).collect();
    let second = send_all(&srv.mllp, &rest, &AtomicUsize::new(0));
    assert_eq!(second.len(), rest.len(), "every resent message gets AA");
    srv.child.kill().unwrap();
    srv.child.wait().unwrap();

    let stored = counts(
        db,
        "SELECT control_id AS key, COUNT(*) AS n FROM hl7_message WHERE status = 'processed' GROUP BY control_id",
    );
    let patients = counts(
        db,
        "SELECT t.code AS key, COUNT(*) AS n FROM search_index t JOIN resource r ON r.rid = t.rid \
         WHERE t.res_type = 'Patient' AND t.param = 'identifier' AND t.system = 'urn:hms:id:CRASH' \
         AND r.deleted = 0 GROUP BY t.code",
    );
    for i in 0..N {
        assert_eq!(
            stored.get(&format!("CR-{i}")),
            Some(&1),
            "message CR-{i} stored once"
        );
        assert_eq!(
            patients.get(&format!("MRN-{i}")),
            Some(&1),
            "patient MRN-{i} exists once"
        );
    }
    assert_eq!(patients.len(), N);
    let all_rows = counts(db, "SELECT 'all' AS key, COUNT(*) AS n FROM hl7_message");
    assert_eq!(
        all_rows.get("all"),
        Some(&(N as i64)),
        "no message stored twice"
    );
}

#[test]
fn kill_9_midway_loses_no_acked_message_and_duplicates_nothing() {
    let dir = std::env::temp_dir().join(format!("hms-crash-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    run(&format!("sqlite://{}", dir.join("hms.db").display()), &dir);
    let _ = std::fs::remove_dir_all(&dir);

    let Some(pg) = std::env::var("HMS_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!(
            "note: HMS_TEST_DATABASE_URL is not set; PostgreSQL variant skipped (SQLite only)"
        );
        return;
    };
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let name = format!("hms_crash_{}", uuid::Uuid::new_v4().simple());
    let mut admin = diesel::pg::PgConnection::establish(&pg).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (base, _) = pg.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let dir = std::env::temp_dir().join(format!("hms-crash-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    run(&url, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"));
}
