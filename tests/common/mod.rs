//! Test harness: each test starts its own `hms` server (the production composition root) on a
//! random port, on a fresh SQLite file or a fresh PostgreSQL schema, and talks to it over HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use awc::http::Method;
use serde_json::Value;

use hms::config::{Config, ServerArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL when HMS_TEST_DATABASE_URL is set (CI sets it). Says what it skips.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if pg_url().is_some() {
        v.push(Backend::Postgres);
    } else {
        eprintln!(
            "note: HMS_TEST_DATABASE_URL is not set; PostgreSQL variant skipped (SQLite only)"
        );
    }
    v
}

pub fn pg_url() -> Option<String> {
    std::env::var("HMS_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

pub struct TestServer {
    pub backend: Backend,
    /// The configuration the server runs with (to open its database from a test).
    pub config: Config,
    pub addr: SocketAddr,
    pub base: String,
    /// The MLLP listener (HL7 v2); None when a test turned it off.
    pub mllp_addr: Option<SocketAddr>,
    /// The SQLite file, or None on PostgreSQL.
    pub sqlite_path: Option<std::path::PathBuf>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    db: DbHandle,
}

/// Where a test server keeps its data: a temp dir (SQLite file inside) and, on PostgreSQL, a
/// schema. Several servers can share one (`share_db`), and a database can outlive its server
/// (`into_db`) to start another on it, like a restart after kill -9.
pub struct DbHandle {
    pub backend: Backend,
    pub dir: std::path::PathBuf,
    pub schema: Option<String>,
    /// The server holding an owning handle removes the data when dropped.
    owns: bool,
}

impl DbHandle {
    pub fn fresh(backend: Backend) -> DbHandle {
        let dir = std::env::temp_dir().join(format!("hms-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let schema =
            (backend == Backend::Postgres).then(|| format!("t_{}", uuid::Uuid::new_v4().simple()));
        DbHandle {
            backend,
            dir,
            schema,
            owns: true,
        }
    }

    fn remove(&self) {
        if !self.owns {
            return;
        }
        if let (Some(schema), Some(url)) = (&self.schema, pg_url()) {
            use diesel::Connection;
            use diesel::connection::SimpleConnection;
            if let Ok(mut c) = diesel::pg::PgConnection::establish(&url) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestServer {
    pub fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {})
    }

    pub fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_on(DbHandle::fresh(backend), tweak)
    }

    /// A handle on this server's database that does not remove it (for a second server).
    pub fn share_db(&self) -> DbHandle {
        DbHandle {
            backend: self.db.backend,
            dir: self.db.dir.clone(),
            schema: self.db.schema.clone(),
            owns: false,
        }
    }

    /// Stops the server (abruptly: in-flight background work is dropped) and keeps its data.
    pub fn into_db(mut self) -> DbHandle {
        let db = DbHandle {
            backend: self.db.backend,
            dir: self.db.dir.clone(),
            schema: self.db.schema.clone(),
            owns: self.db.owns,
        };
        self.db.owns = false;
        drop(self);
        db
    }

    pub fn start_on(db: DbHandle, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let backend = db.backend;
        let mut config = Config::load(&ServerArgs {
            http_addr: Some("127.0.0.1:0".parse().expect("addr")),
            data_dir: Some(db.dir.clone()),
            http_workers: Some(2),
            ..Default::default()
        })
        .expect("config");
        config.mllp.addr = Some("127.0.0.1:0".parse().expect("addr"));
        if backend == Backend::Postgres {
            config.database_url = pg_url().expect("HMS_TEST_DATABASE_URL");
            config.database_schema = db.schema.clone();
        }
        tweak(&mut config);
        let kept = config.clone();
        let sqlite_path = (backend == Backend::Sqlite).then(|| db.dir.join("hms.db"));
        hms::telemetry::init_with_default(hms::config::LogFormat::Text, "warn");
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let store = hms::app::open_store(&config).expect("open store");
                let built = hms::app::build(config, store).expect("build server");
                tx.send((
                    built.addr,
                    built.server.handle(),
                    built.mllp.as_ref().map(|m| m.addr),
                ))
                .expect("send addr");
                let _ = built.server.await;
            });
        });
        let (addr, handle, mllp_addr) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server did not start");
        TestServer {
            backend,
            config: kept,
            addr,
            base: format!("http://{addr}/fhir"),
            mllp_addr,
            sqlite_path,
            handle,
            thread: Some(thread),
            db,
        }
    }

    /// The MLLP address as `host:port`.
    pub fn mllp(&self) -> String {
        self.mllp_addr.expect("MLLP listener running").to_string()
    }

    /// A PostgreSQL URL that selects this test's schema (for running the `hms` binary on it).
    pub fn pg_url_with_schema(&self) -> String {
        let url = pg_url().expect("pg url");
        let schema = self.db.schema.as_deref().expect("schema");
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-csearch_path%3D{schema}")
    }

    /// Runs SQL directly on this test's database (tests that break or inspect the store).
    pub fn exec_sql(&self, sql: &str) {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        match (&self.sqlite_path, &self.db.schema) {
            (Some(path), _) => {
                let mut c =
                    diesel::sqlite::SqliteConnection::establish(&path.display().to_string())
                        .expect("sqlite");
                // The server's workers hold short write locks: wait for them, as the server does.
                c.batch_execute("PRAGMA busy_timeout = 30000;")
                    .expect("busy_timeout");
                c.batch_execute(sql).expect("sql");
            }
            (None, Some(schema)) => {
                let mut c =
                    diesel::pg::PgConnection::establish(&pg_url().expect("pg url")).expect("pg");
                c.batch_execute(&format!("SET search_path TO {schema}; {sql}"))
                    .expect("sql");
            }
            (None, None) => panic!("no database"),
        }
    }

    pub fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            inner: client(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let _ =
            std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(true)))
                .join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.db.remove();
    }
}

fn client() -> awc::Client {
    // A hang detector, not a latency check: Synthea-sized transactions take minutes on a loaded
    // 2-core machine with debug builds.
    awc::Client::builder()
        .timeout(Duration::from_secs(300))
        .disable_redirects()
        .finish()
}

#[derive(Clone)]
pub struct Client {
    pub base: String,
    inner: awc::Client,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts an OperationOutcome and returns the diagnostics + expressions of its issues.
    pub fn outcome(&self) -> Vec<(String, String, Vec<String>)> {
        let v = self.json();
        assert_eq!(
            v["resourceType"], "OperationOutcome",
            "expected OperationOutcome: {v}"
        );
        v["issue"]
            .as_array()
            .expect("issue array")
            .iter()
            .map(|i| {
                (
                    i["code"].as_str().unwrap_or("").to_string(),
                    i["diagnostics"].as_str().unwrap_or("").to_string(),
                    i["expression"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|e| e.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                )
            })
            .collect()
    }
}

impl Client {
    pub fn url(&self, path: &str) -> String {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}/{}", self.base, path.trim_start_matches('/'))
        };
        // Percent-encode what a URI may not carry raw (non-ASCII, spaces), as client libraries do.
        let mut out = String::with_capacity(url.len());
        for b in url.bytes() {
            if b >= 0x80 || b == b' ' {
                out.push_str(&format!("%{b:02X}"));
            } else {
                out.push(b as char);
            }
        }
        out
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = self.inner.request(method, self.url(path));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let mut res = match body {
            Some(b) => req.send_body(b).await,
            None => req.send().await,
        }
        .unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
        let body = res
            .body()
            .limit(256 * 1024 * 1024)
            .await
            .expect("read body")
            .to_vec();
        Resp {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, &[], None).await
    }

    pub async fn get_h(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::GET, path, headers, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.post_h(path, body, &[]).await
    }

    pub async fn post_h(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        let mut h = vec![("content-type", "application/fhir+json")];
        h.extend_from_slice(headers);
        self.send(
            Method::POST,
            path,
            &h,
            Some(serde_json::to_vec(body).expect("json")),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.put_h(path, body, &[]).await
    }

    pub async fn put_h(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        let mut h = vec![("content-type", "application/fhir+json")];
        h.extend_from_slice(headers);
        self.send(
            Method::PUT,
            path,
            &h,
            Some(serde_json::to_vec(body).expect("json")),
        )
        .await
    }

    pub async fn put_raw(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::PUT, path, headers, Some(body)).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::POST, path, headers, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, &[], None).await
    }
}

/// Reads a fixture file under tests/fixtures.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// A resource without the server-owned meta fields, for "read back equals what was sent".
pub fn strip_server_meta(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        if meta.is_empty() {
            v.as_object_mut().expect("object").remove("meta");
        }
    }
    v
}

/// The Synthea provider bundles (load before the patients: their conditional references).
pub const PROVIDERS: [&str; 2] = [
    "synthea/hospitalInformation1633536936158.json",
    "synthea/practitionerInformation1633536936158.json",
];

/// The Synthea patient bundles, sorted.
pub fn patient_files() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/synthea");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.contains("Information"))
        .map(|n| format!("synthea/{n}"))
        .collect();
    v.sort();
    v
}

/// A Python with pyx12 installed (pinned in .ci/requirements.txt), if any.
pub fn pyx12() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|py| {
        std::process::Command::new(py)
            .args(["-c", "import pyx12.scripts.x12valid"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Runs pyx12's x12valid on one interchange; Err(log) unless it says OK with no error.
pub fn pyx12_check(py: &str, name: &str, text: &str) -> Result<(), String> {
    pyx12_check_all(py, &[(name.to_string(), text.to_string())])
}

/// Runs pyx12's x12valid once over several interchanges (name, text); Err(log) unless it says OK
/// for every file and logs no error.
pub fn pyx12_check_all(py: &str, files: &[(String, String)]) -> Result<(), String> {
    if files.is_empty() {
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!(
        "hms-billing-pyx12-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<std::path::PathBuf> = files
        .iter()
        .map(|(name, text)| {
            let file = dir.join(name);
            std::fs::write(&file, text).unwrap();
            file
        })
        .collect();
    let out = std::process::Command::new(py)
        .args(["-m", "pyx12.scripts.x12valid", "--quiet"])
        .args(&paths)
        .current_dir(&dir)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    // x12valid's exit status does not reflect validity: read its log (see crates/x12/README.md).
    let ok = paths.iter().all(|f| {
        let want = format!("{}: OK", f.display());
        log.lines().any(|l| l.trim() == want)
    });
    let bad = log
        .lines()
        .any(|l| l.contains(" ERROR ") || l.contains("Traceback") || l.contains("Failure"));
    if ok && !bad { Ok(()) } else { Err(log) }
}

/// The `next` link of a Bundle, if any.
pub fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(str::to_string)
}

/// Every live resource of a type, through search paging.
pub async fn all_of(c: &Client, t: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut url = format!("{t}?_count=1000");
    loop {
        let r = c.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let b = r.json();
        for e in b["entry"].as_array().into_iter().flatten() {
            out.push(e["resource"].clone());
        }
        match next_link(&b) {
            Some(next) => url = next,
            None => break,
        }
    }
    out
}
