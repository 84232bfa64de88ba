//! `hms bench seed`: generated patient records written straight through the store layer in large
//! transactions (generation and index extraction on producer threads, one writer), with the same
//! stamping and index extraction as the server, so every search works on seeded data. With
//! `--server` it PUTs the same records over HTTP instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::data::{self, Rng};
use super::scenario::{Method, Request};
use super::{BenchError, SeedArgs};
use crate::fhir::{resource as fres, time};
use crate::search::custom::Custom;
use crate::store::bulk::{self, NewResource};
use crate::store::{DbTarget, Store, migrate, now_micros};

/// Stamps a generated resource as a create would (version 1, lastUpdated) and extracts its index.
/// `custom` are the SearchParameters created through the API (indexed like the server does).
pub fn prepare(
    resource: Value,
    last_updated: i64,
    custom: &Indexing,
) -> Result<NewResource, BenchError> {
    let res_type = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| BenchError::Setup("generated resource without resourceType".into()))?
        .to_string();
    let res_id = resource
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| BenchError::Setup("generated resource without id".into()))?
        .to_string();
    let stamped = fres::stamp(resource, &res_id, 1, &time::fhir_instant(last_updated));
    let index = crate::search::extract::index_rows(&stamped, &custom.custom, &custom.zone);
    let content = serde_json::to_vec(&stamped).map_err(|e| BenchError::Setup(e.to_string()))?;
    Ok(NewResource {
        res_type,
        res_id,
        last_updated,
        content,
        index,
    })
}

fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} resources, {per_sec} (eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

pub fn run(args: &SeedArgs) -> anyhow::Result<()> {
    let total = args.patients * data::RESOURCES_PER_PATIENT as u64;
    let started = Instant::now();
    let written = match (&args.database_url, &args.server) {
        (Some(url), _) => seed_database(url, args, total)?,
        (None, Some(server)) => seed_http(server, args, total)?,
        (None, None) => {
            return Err(BenchError::Usage(
                "give --database-url URL (direct, fast) or --server URL (over HTTP)".into(),
            )
            .into());
        }
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {} patients, {written} resources in {secs:.1} s ({:.0} resources/s)",
        args.patients,
        written as f64 / secs.max(1e-9)
    );
    Ok(())
}

fn seed_database(url: &str, args: &SeedArgs, total: u64) -> Result<u64, BenchError> {
    let target = DbTarget::parse(url).map_err(|e| BenchError::Usage(e.to_string()))?;
    let store = Store::open(target, 2)?;
    migrate::run_pending(&store)?;
    let custom = Arc::new(load_custom(&store)?);
    let patients_per_batch = (args.batch / data::RESOURCES_PER_PATIENT).max(1) as u64;
    let batches = args.patients.div_ceil(patients_per_batch);
    let producers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8) as u64;
    let (tx, rx) =
        mpsc::sync_channel::<Result<Vec<NewResource>, BenchError>>(producers as usize * 2);
    let next_batch = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..producers {
        let tx = tx.clone();
        let next_batch = next_batch.clone();
        let custom = custom.clone();
        let (first, seed, patients) = (args.first, args.seed, args.patients);
        handles.push(std::thread::spawn(move || {
            loop {
                let b = next_batch.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    break;
                }
                let lo = b * patients_per_batch;
                let hi = (lo + patients_per_batch).min(patients);
                let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(first + b));
                let now = now_micros();
                let mut items =
                    Vec::with_capacity((hi - lo) as usize * data::RESOURCES_PER_PATIENT);
                let mut result = Ok(());
                'outer: for n in lo..hi {
                    for r in data::patient_record(&mut rng, first + n) {
                        match prepare(r, now, &custom) {
                            Ok(item) => items.push(item),
                            Err(e) => {
                                result = Err(e);
                                break 'outer;
                            }
                        }
                    }
                }
                if tx.send(result.map(|()| items)).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let bar = progress(total);
    let mut written = 0u64;
    for batch in rx {
        let batch = batch?;
        store.write(|c| bulk::insert_new(c, &batch))?;
        written += batch.len() as u64;
        bar.inc(batch.len() as u64);
    }
    bar.finish();
    for h in handles {
        let _ = h.join();
    }
    // Not `write`: VACUUM cannot run inside a transaction.
    store.read(crate::store::bulk::analyze)?;
    Ok(written)
}

/// What seeded rows are indexed with, like the server does: the live custom SearchParameters and
/// the zone the index was built in.
pub struct Indexing {
    pub custom: Vec<Custom>,
    pub zone: crate::fhir::time::Zone,
}

pub fn load_custom(store: &Store) -> Result<Indexing, BenchError> {
    use crate::store::search_meta;
    let rows = store.read(crate::store::custom_params::live)?;
    // A database seeded before any server start records what its rows were built with (UTC unless
    // a server recorded another zone), so that the first start can warn about a mismatch.
    let zone = store.write(|c| -> Result<String, crate::store::StoreError> {
        search_meta::init(
            c,
            search_meta::FORMAT,
            crate::interactions::reindex::INDEX_FORMAT,
        )?;
        search_meta::init(c, search_meta::ZONE, "UTC")
    })?;
    let zone = crate::fhir::time::Zone::parse(&zone).map_err(BenchError::Setup)?;
    Ok(Indexing {
        custom: crate::search::custom::from_rows(rows),
        zone,
    })
}

fn seed_http(server: &str, args: &SeedArgs, total: u64) -> Result<u64, BenchError> {
    let base = super::client::fhir_base(server);
    let (patients, first, seed) = (args.patients, args.first, args.seed);
    let bar = progress(total);
    let lanes = 16u64;
    let result = actix_web::rt::System::new().block_on(async {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().limit(lanes as usize))
            .timeout(Duration::from_secs(60))
            .finish();
        let tasks = (0..lanes).map(|lane| {
            let client = client.clone();
            let base = base.clone();
            let bar = bar.clone();
            async move {
                let mut written = 0u64;
                let mut n = lane;
                while n < patients {
                    let mut rng = Rng::new(seed.wrapping_mul(7_919).wrapping_add(first + n));
                    for r in data::patient_record(&mut rng, first + n) {
                        let t = r.get("resourceType").and_then(Value::as_str).unwrap_or("");
                        let id = r.get("id").and_then(Value::as_str).unwrap_or("");
                        let req = Request {
                            op: "seed",
                            method: Method::Put,
                            path: format!("{t}/{id}"),
                            body: serde_json::to_vec(&r).ok(),
                            remember: None,
                        };
                        let sent = super::client::send(&client, &base, &req, false).await;
                        match sent.status {
                            Some(200 | 201) => written += 1,
                            s => {
                                return Err(BenchError::Setup(format!(
                                    "PUT {t}/{id} answered {s:?}"
                                )));
                            }
                        }
                        bar.inc(1);
                    }
                    n += lanes;
                }
                Ok(written)
            }
        });
        let mut written = 0;
        for r in futures_util::future::join_all(tasks).await {
            written += r?;
        }
        Ok::<_, BenchError>(written)
    });
    bar.finish();
    result
}
