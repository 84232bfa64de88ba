//! `hms bench baseline`: the raw database cost of the work the scenarios do, without HTTP,
//! validation or index extraction, on the same database with the same durability settings (the
//! store's connections: SQLite WAL + synchronous=FULL, PostgreSQL synchronous_commit=on).
//!
//! * insert: one generated Patient (the JSON a create stores) plus its index rows, one
//!   transaction each (what `create` commits);
//! * select-by-key: the current version of a resource by (type, id), the query a read runs;
//! * indexed-lookup: an identifier token lookup in the search index plus loading the matches;
//! * crud-mix: the crud-mix scenario's read/create/update/delete mix done raw (`baseline_mix`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::data::{self, Rng};
use super::report::{Outcome, Recorder, Report, RunInfo};
use super::{BaselineArgs, BenchError};
use crate::store::bulk::{self, NewResource};
use crate::store::{DbTarget, Store, migrate, now_micros, resources};

/// Distinct generated patients each thread cycles through (content is reused, ids and MRNs not).
const POOL: usize = 200;

pub(super) struct Phase {
    pub(super) name: &'static str,
    pub(super) rec: Recorder,
    pub(super) elapsed: Duration,
}

pub fn run(args: &BaselineArgs) -> Result<Report, BenchError> {
    let target =
        DbTarget::parse(&args.database_url).map_err(|e| BenchError::Usage(e.to_string()))?;
    let describe = target.describe();
    let threads = args.concurrency.max(1);
    let store = Store::open(target, threads as u32 + 1)?;
    migrate::run_pending(&store)?;

    // Insert: each thread remembers what it wrote, for the two read phases.
    let custom = Arc::new(super::seed::load_custom(&store)?);
    let (insert, written) = insert_phase(&store, threads, args.duration, custom.clone())?;
    let written = Arc::new(written);
    let select = read_phase(&store, threads, args.duration, written.clone(), false)?;
    let lookup = read_phase(&store, threads, args.duration, written, true)?;
    let mix = super::baseline_mix::crud_mix_phase(&store, threads, args.duration, custom)?;

    let mut all = Recorder::default();
    let mut elapsed = Duration::ZERO;
    let mut operations = std::collections::BTreeMap::new();
    for p in [&insert, &select, &lookup, &mix] {
        all.merge(&p.rec)?;
        elapsed += p.elapsed;
        let r = Report::build(
            RunInfo {
                scenario: p.name,
                kind: "raw",
                target: &describe,
                concurrency: threads,
            },
            &p.rec,
            p.elapsed,
        )?;
        operations.insert(p.name.to_string(), r.total);
    }
    let mut report = Report::build(
        RunInfo {
            scenario: "baseline",
            kind: "raw",
            target: &describe,
            concurrency: threads,
        },
        &all,
        elapsed,
    )?;
    report.operations = operations;
    report.notes.insert(
        "phases".into(),
        format!(
            "insert, select-by-key, indexed-lookup, crud-mix: {:.1} s each, {threads} threads with one connection each",
            args.duration.as_secs_f64()
        ),
    );
    Ok(report)
}

/// (res_id, MRN) of a row a thread inserted.
type Written = Vec<(String, String)>;

fn insert_phase(
    store: &Store,
    threads: usize,
    duration: Duration,
    custom: Arc<super::seed::Indexing>,
) -> Result<(Phase, Written), BenchError> {
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let custom = custom.clone();
            std::thread::spawn(move || insert_loop(&store, t as u64, deadline, &custom))
        })
        .collect();
    let mut rec = Recorder::default();
    let mut written = Vec::new();
    for h in handles {
        let (r, w) = h
            .join()
            .map_err(|_| BenchError::Setup("a baseline thread panicked".into()))??;
        rec.merge(&r)?;
        written.extend(w);
    }
    Ok((
        Phase {
            name: "insert",
            rec,
            elapsed: started.elapsed(),
        },
        written,
    ))
}

fn insert_loop(
    store: &Store,
    thread: u64,
    deadline: Instant,
    custom: &super::seed::Indexing,
) -> Result<(Recorder, Written), BenchError> {
    // Salted with the clock: a second baseline on the same database must not hit the ids and
    // MRNs of the first (duplicate-key failures would pass for fast inserts).
    let salt = now_micros() as u64;
    let mut rng = Rng::new((0xba5e + thread) ^ salt);
    // Prepared before the clock: generation and index extraction are not database work.
    let now = now_micros();
    let mut pool = Vec::with_capacity(POOL);
    for i in 0..POOL {
        let id = rng.id();
        let p = data::patient(&mut rng, Some(&id), i as u64);
        pool.push((p.clone(), super::seed::prepare(p, now, custom)?));
    }
    let mut rec = Recorder::default();
    let mut written = Vec::new();
    let mut seq = 0u64;
    // At least one insert even when preparing the pool outlasted a short phase (slow machines).
    while seq == 0 || Instant::now() < deadline {
        seq += 1;
        let mrn = format!("MRN-raw-{salt:x}-{thread}-{seq}");
        let (value, template) = &pool[(seq as usize) % POOL];
        let item = fresh(value, template, rng.id(), &mrn)?;
        let t0 = Instant::now();
        let r = store.write(|c| bulk::insert_new(c, std::slice::from_ref(&item)));
        let outcome = if r.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Transport
        };
        rec.record("insert", t0.elapsed(), outcome)?;
        if r.is_ok() {
            written.push((item.res_id, mrn));
        }
    }
    Ok((rec, written))
}

/// A template patient under a new id and MRN (content and MRN index row), stamped like a create.
/// Index rows are reused, not re-extracted: extraction is server work, not database work.
fn fresh(
    value: &serde_json::Value,
    template: &NewResource,
    id: String,
    mrn: &str,
) -> Result<NewResource, BenchError> {
    let mut v = value.clone();
    v["identifier"][0]["value"] = serde_json::Value::String(mrn.to_string());
    let last_updated = now_micros();
    let stamped =
        crate::fhir::resource::stamp(v, &id, 1, &crate::fhir::time::fhir_instant(last_updated));
    let mut item = template.clone();
    item.content = serde_json::to_vec(&stamped).map_err(|e| BenchError::Setup(e.to_string()))?;
    item.res_id = id;
    item.last_updated = last_updated;
    for row in &mut item.index {
        if row.param == "identifier" && row.system.as_deref() == Some(data::MRN_SYSTEM) {
            row.code = Some(mrn.to_string());
        }
    }
    Ok(item)
}

fn read_phase(
    store: &Store,
    threads: usize,
    duration: Duration,
    written: Arc<Written>,
    lookup: bool,
) -> Result<Phase, BenchError> {
    let name = if lookup {
        "indexed-lookup"
    } else {
        "select-by-key"
    };
    if written.is_empty() {
        return Err(BenchError::Setup("the insert phase wrote nothing".into()));
    }
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let written = written.clone();
            std::thread::spawn(move || -> Result<Recorder, BenchError> {
                let mut rng = Rng::new(0x5e1ec7 + t as u64);
                let mut rec = Recorder::default();
                let mut conn = store.conn()?;
                while Instant::now() < deadline {
                    let (id, mrn) = &written[rng.below(written.len())];
                    let t0 = Instant::now();
                    let ok = if lookup {
                        bulk::token_rids(
                            &mut conn,
                            "Patient",
                            "identifier",
                            data::MRN_SYSTEM,
                            mrn,
                            20,
                        )
                        .and_then(|rids| resources::read_current_many(&mut conn, &rids))
                        .is_ok_and(|rows| rows.len() == 1)
                    } else {
                        resources::read_current(&mut conn, "Patient", id).is_ok_and(|v| v.is_some())
                    };
                    let outcome = if ok { Outcome::Ok } else { Outcome::Transport };
                    rec.record(name, t0.elapsed(), outcome)?;
                }
                Ok(rec)
            })
        })
        .collect();
    let mut rec = Recorder::default();
    for h in handles {
        rec.merge(
            &h.join()
                .map_err(|_| BenchError::Setup("a baseline thread panicked".into()))??,
        )?;
    }
    Ok(Phase {
        name,
        rec,
        elapsed: started.elapsed(),
    })
}
