//! The HTTP load generator: a warm-up phase (create or discover patients), then `concurrency`
//! workers spread over `threads` OS threads, each thread one actix System with one awc client, each
//! worker sending one request at a time until the deadline.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use awc::http::Method as HttpMethod;
use futures_util::future::join_all;
use serde_json::Value;

use super::BenchError;
use super::data::{self, Rng};
use super::report::{Outcome, Recorder, Report, RunInfo};
use super::scenario::{Method, Request, Scenario, Warm, WarmPatient, Worker, id_from_location};

/// What `hms bench` runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Server root (`http://host:port`) or FHIR base (`.../fhir`).
    pub server: String,
    pub scenario: Scenario,
    pub duration: Duration,
    pub concurrency: usize,
    pub threads: usize,
    /// Patients to create before the clock starts (0: discover existing ones).
    pub warm: usize,
    pub server_pid: Option<u32>,
    /// MLLP address for hl7-adt (`host:port`).
    pub mllp: String,
}

/// The FHIR base for a server URL given with or without `/fhir`.
pub fn fhir_base(server: &str) -> String {
    let s = server.trim_end_matches('/');
    if s.ends_with("/fhir") {
        s.to_string()
    } else {
        format!("{s}/fhir")
    }
}

pub fn run(cfg: &RunConfig) -> Result<Report, BenchError> {
    let base = fhir_base(&cfg.server);
    match cfg.scenario {
        Scenario::Connections => return super::connections::run(cfg),
        Scenario::Hl7Adt => return super::hl7::run(cfg),
        _ => {}
    }
    let warm = {
        let base = base.clone();
        let (scenario, n, conc) = (cfg.scenario, cfg.warm, cfg.concurrency);
        actix_web::rt::System::new()
            .block_on(async move { setup(&base, scenario, n, conc).await })?
    };
    let warm = Arc::new(warm);
    let threads = cfg.threads.clamp(1, cfg.concurrency.max(1));
    let started = Instant::now();
    let deadline = started + cfg.duration;
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        // Spread workers evenly: the first `concurrency % threads` threads get one more.
        let n = cfg.concurrency / threads + usize::from(t < cfg.concurrency % threads);
        let first_worker = (0..t)
            .map(|i| cfg.concurrency / threads + usize::from(i < cfg.concurrency % threads))
            .sum::<usize>();
        let base = base.clone();
        let warm = warm.clone();
        let scenario = cfg.scenario;
        handles.push(std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                run_thread(base, scenario, warm, first_worker, n, deadline).await
            })
        }));
    }
    let mut total = Recorder::default();
    for h in handles {
        let rec = h
            .join()
            .map_err(|_| BenchError::Setup("a load thread panicked".into()))??;
        total.merge(&rec)?;
    }
    let elapsed = started.elapsed();
    let mut report = Report::build(
        RunInfo {
            scenario: cfg.scenario.name(),
            kind: "http",
            target: &base,
            concurrency: cfg.concurrency,
        },
        &total,
        elapsed,
    )?;
    report
        .notes
        .insert("warm patients".into(), warm.patients.len().to_string());
    if let Some(rss) = cfg.server_pid.and_then(super::connections::rss_kib) {
        report
            .notes
            .insert("server RSS after run".into(), format!("{} MiB", rss / 1024));
    }
    Ok(report)
}

fn client(limit: usize) -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().limit(limit.max(1)))
        .timeout(Duration::from_secs(60))
        .disable_redirects()
        .finish()
}

async fn run_thread(
    base: String,
    scenario: Scenario,
    warm: Arc<Warm>,
    first_worker: usize,
    n: usize,
    deadline: Instant,
) -> Result<Recorder, BenchError> {
    let client = client(n);
    let base: Rc<str> = Rc::from(base);
    let workers = (0..n).map(|i| {
        let w = Worker::new(scenario, (first_worker + i) as u64, warm.clone());
        worker_loop(client.clone(), base.clone(), w, deadline)
    });
    let mut total = Recorder::default();
    for rec in join_all(workers).await {
        total.merge(&rec?)?;
    }
    Ok(total)
}

async fn worker_loop(
    client: awc::Client,
    base: Rc<str>,
    mut w: Worker,
    deadline: Instant,
) -> Result<Recorder, BenchError> {
    let mut rec = Recorder::default();
    while Instant::now() < deadline {
        let req = w.next_request();
        let t0 = Instant::now();
        let sent = send(&client, &base, &req, false).await;
        let outcome = match sent.status {
            Some(s) => Outcome::from_status(s),
            None => Outcome::Transport,
        };
        rec.record(req.op, t0.elapsed(), outcome)?;
        w.observe(&req, sent.status.unwrap_or(0), sent.location.as_deref());
    }
    Ok(rec)
}

/// What came back: no status means no HTTP answer (connection error or timeout).
pub struct Sent {
    pub status: Option<u16>,
    pub location: Option<String>,
    pub body: Option<Value>,
}

/// Percent-encodes what a URI may not carry raw (`|`, spaces, non-ASCII), as FHIR clients do.
pub fn encode_uri(url: &str) -> String {
    let mut out = String::with_capacity(url.len() + 8);
    for b in url.bytes() {
        if b >= 0x80 || b" \"<>\\^`{|}".contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

pub async fn send(client: &awc::Client, base: &str, req: &Request, want_body: bool) -> Sent {
    let method = match req.method {
        Method::Get => HttpMethod::GET,
        Method::Post => HttpMethod::POST,
        Method::Put => HttpMethod::PUT,
        Method::Delete => HttpMethod::DELETE,
    };
    let url = if req.path.is_empty() {
        base.to_string()
    } else {
        encode_uri(&format!("{base}/{}", req.path))
    };
    let builder = client
        .request(method, url)
        .insert_header(("accept", "application/fhir+json"));
    let res = match &req.body {
        Some(b) => {
            builder
                .insert_header(("content-type", "application/fhir+json"))
                .send_body(b.clone())
                .await
        }
        None => builder.send().await,
    };
    let Ok(mut res) = res else {
        return Sent {
            status: None,
            location: None,
            body: None,
        };
    };
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // The body is always read to the end so the connection can be reused.
    match res.body().limit(64 * 1024 * 1024).await {
        Ok(bytes) => Sent {
            status: Some(status),
            location,
            body: if want_body {
                serde_json::from_slice(&bytes).ok()
            } else {
                None
            },
        },
        Err(_) => Sent {
            status: None,
            location,
            body: None,
        },
    }
}

/// Creates `n` warm patients (for search-mix each with an encounter and two observations), or
/// with `n == 0` discovers up to 1,000 existing ones (a database filled by `hms bench seed`).
async fn setup(
    base: &str,
    scenario: Scenario,
    n: usize,
    concurrency: usize,
) -> Result<Warm, BenchError> {
    if !scenario.needs_warm() {
        return Ok(Warm::default());
    }
    let client = client(concurrency);
    if n == 0 {
        return discover(&client, base).await;
    }
    let lanes = concurrency.clamp(1, 32);
    let with_clinical = scenario == Scenario::SearchMix;
    let tasks = (0..lanes).map(|lane| {
        let client = client.clone();
        async move {
            let mut rng = Rng::new(0xbe9c_0000 + lane as u64);
            let mut out = Vec::new();
            let mut i = lane;
            while i < n {
                out.push(create_warm(&client, base, &mut rng, i as u64, with_clinical).await?);
                i += lanes;
            }
            Ok::<_, BenchError>(out)
        }
    });
    let mut patients = Vec::with_capacity(n);
    for r in join_all(tasks).await {
        patients.extend(r?);
    }
    Ok(Warm { patients })
}

async fn create_warm(
    client: &awc::Client,
    base: &str,
    rng: &mut Rng,
    n: u64,
    with_clinical: bool,
) -> Result<WarmPatient, BenchError> {
    let patient = data::patient(rng, None, n);
    let sent = send_json(client, base, "Patient", &patient).await?;
    let id = sent
        .location
        .as_deref()
        .and_then(|l| id_from_location(l, "Patient"))
        .ok_or_else(|| BenchError::Setup("create Patient gave no Location".into()))?;
    if with_clinical {
        for _ in 0..2 {
            let day = data::date(rng);
            let enc = data::encounter(rng, None, &id, &day);
            let e = send_json(client, base, "Encounter", &enc).await?;
            let eid = e
                .location
                .as_deref()
                .and_then(|l| id_from_location(l, "Encounter"));
            let hr = data::heart_rate(rng, None, &id, eid.as_deref(), &day);
            send_json(client, base, "Observation", &hr).await?;
            let bp = data::blood_pressure(rng, None, &id, eid.as_deref(), &day);
            send_json(client, base, "Observation", &bp).await?;
        }
    }
    let mut stored = patient;
    if let Some(obj) = stored.as_object_mut() {
        obj.insert("id".into(), Value::String(id));
    }
    WarmPatient::from_resource(&stored)
        .ok_or_else(|| BenchError::Setup("generated patient lacks an id".into()))
}

async fn send_json(
    client: &awc::Client,
    base: &str,
    path: &str,
    body: &Value,
) -> Result<Sent, BenchError> {
    let req = Request {
        op: "setup",
        method: Method::Post,
        path: path.to_string(),
        body: Some(serde_json::to_vec(body).map_err(|e| BenchError::Setup(e.to_string()))?),
        remember: None,
    };
    let sent = send(client, base, &req, false).await;
    match sent.status {
        Some(201) => Ok(sent),
        Some(s) => Err(BenchError::Setup(format!(
            "warm-up POST {path} answered {s}"
        ))),
        None => Err(BenchError::Setup(format!(
            "warm-up POST {path}: no answer from {base}"
        ))),
    }
}

async fn discover(client: &awc::Client, base: &str) -> Result<Warm, BenchError> {
    let req = Request {
        op: "setup",
        method: Method::Get,
        path: format!("Patient?identifier={}|&_count=1000", data::MRN_SYSTEM),
        body: None,
        remember: None,
    };
    let sent = send(client, base, &req, true).await;
    let bundle = match (sent.status, sent.body) {
        (Some(200), Some(b)) => b,
        (s, _) => {
            return Err(BenchError::Setup(format!(
                "discovering patients ({base}/{}) failed: status {s:?}",
                req.path
            )));
        }
    };
    let patients: Vec<WarmPatient> = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| WarmPatient::from_resource(e.get("resource")?))
                .collect()
        })
        .unwrap_or_default();
    if patients.is_empty() {
        return Err(BenchError::Setup(
            "--warm 0 but the server has no bench patients; seed it (hms bench seed) or pass --warm N"
                .into(),
        ));
    }
    Ok(Warm { patients })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_and_encoding() {
        assert_eq!(fhir_base("http://h:1/"), "http://h:1/fhir");
        assert_eq!(fhir_base("http://h:1/fhir/"), "http://h:1/fhir");
        assert_eq!(
            encode_uri("http://h/fhir/Patient?identifier=a|b&x=c$d"),
            "http://h/fhir/Patient?identifier=a%7Cb&x=c$d"
        );
    }
}
