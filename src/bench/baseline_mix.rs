//! The raw crud-mix for `hms bench baseline`: the crud-mix scenario's 40 % read, 30 % create,
//! 20 % update, 10 % delete over the same nine resource types, done straight on the database
//! with the statements the server's interactions run (row lock, history row, current row, index
//! rows; one transaction per write), without HTTP, validation, audit or change events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::BenchError;
use super::baseline::Phase;
use super::data::{self, Rng};
use super::report::{Outcome, Recorder};
use super::scenario::{CRUD_WEIGHTS, CrudOp};
use crate::store::bulk::{self, NewResource};
use crate::store::resources::{self, NewVersion};
use crate::store::{AnyConnection, Store, StoreError, index, now_micros};

/// Templates per resource type each thread prepares before the clock starts.
const TEMPLATES: usize = 20;

pub(super) fn crud_mix_phase(
    store: &Store,
    threads: usize,
    duration: Duration,
    custom: Arc<super::seed::Indexing>,
) -> Result<Phase, BenchError> {
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let custom = custom.clone();
            std::thread::spawn(move || mix_loop(&store, t as u64, deadline, &custom))
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
        name: "crud-mix",
        rec,
        elapsed: started.elapsed(),
    })
}

fn pick(rng: &mut Rng) -> CrudOp {
    let total: u32 = CRUD_WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total as usize) as u32;
    for (op, w) in CRUD_WEIGHTS {
        if x < w {
            return op;
        }
        x -= w;
    }
    CrudOp::Read
}

fn mix_loop(
    store: &Store,
    thread: u64,
    deadline: Instant,
    custom: &super::seed::Indexing,
) -> Result<Recorder, BenchError> {
    // Salted with the clock, so that repeated baselines on one database never reuse an id.
    let mut rng = Rng::new((0xc0d + thread) ^ now_micros() as u64);
    let now = now_micros();
    // (type, generated resource, prepared row): generation and index extraction are server work.
    let mut templates: Vec<(&'static str, Value, NewResource)> = Vec::new();
    for (i, t) in data::CRUD_TYPES.iter().enumerate() {
        for j in 0..TEMPLATES {
            let id = rng.id();
            // MRNs far above any seeded patient's, so the mix never shadows seeded records.
            let n = 9_000_000_000 + thread * 10_000 + (i * TEMPLATES + j) as u64;
            let v = data::any(&mut rng, t, Some(&id), "bench-subject", n);
            templates.push((t, v.clone(), super::seed::prepare(v, now, custom)?));
        }
    }
    let mut live: Vec<(&'static str, String)> = Vec::new();
    let mut rec = Recorder::default();
    let mut conn = store.conn()?;
    // At least one operation even when preparing the templates outlasted a short phase.
    while rec.total_requests() == 0 || Instant::now() < deadline {
        let op = if live.is_empty() {
            CrudOp::Create
        } else {
            pick(&mut rng)
        };
        let (name, t0, ok) = match op {
            CrudOp::Create => {
                let (t, value, template) = &templates[rng.below(templates.len())];
                let item = restamp(value, template, rng.id(), 1)?;
                let t0 = Instant::now();
                let ok = store
                    .write(|c| bulk::insert_new(c, std::slice::from_ref(&item)))
                    .is_ok();
                if ok {
                    live.push((t, item.res_id));
                }
                ("create", t0, ok)
            }
            CrudOp::Read => {
                let (t, id) = &live[rng.below(live.len())];
                let t0 = Instant::now();
                let ok = resources::read_current(&mut conn, t, id).is_ok_and(|v| v.is_some());
                ("read", t0, ok)
            }
            CrudOp::Update => {
                let (t, id) = live[rng.below(live.len())].clone();
                let same_type: Vec<&(&str, Value, NewResource)> =
                    templates.iter().filter(|x| x.0 == t).collect();
                let (_, value, template) = same_type[rng.below(same_type.len())];
                // The version is stamped before the clock; the transaction checks it is next.
                let t0 = Instant::now();
                let ok = store.write(|c| update(c, value, template, t, &id)).is_ok();
                ("update", t0, ok)
            }
            CrudOp::Delete => {
                let (t, id) = live.swap_remove(rng.below(live.len()));
                let t0 = Instant::now();
                let ok = store.write(|c| delete(c, t, &id)).is_ok();
                ("delete", t0, ok)
            }
        };
        let outcome = if ok { Outcome::Ok } else { Outcome::Transport };
        rec.record(name, t0.elapsed(), outcome)?;
    }
    Ok(rec)
}

/// `template` under `id` at `version`, stamped as the server stamps it.
fn restamp(
    value: &Value,
    template: &NewResource,
    id: String,
    version: i64,
) -> Result<NewResource, BenchError> {
    let last_updated = now_micros();
    let stamped = crate::fhir::resource::stamp(
        value.clone(),
        &id,
        version,
        &crate::fhir::time::fhir_instant(last_updated),
    );
    let mut item = template.clone();
    item.content = serde_json::to_vec(&stamped).map_err(|e| BenchError::Setup(e.to_string()))?;
    item.res_id = id;
    item.last_updated = last_updated;
    Ok(item)
}

fn missing(t: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{t}/{id} vanished"))
}

/// What an update commits: lock the current row, a new history row, the current row, the index.
/// Stamping the JSON with the new version is serialisation work the server also does in its
/// transaction, so it stays inside.
fn update(
    c: &mut AnyConnection,
    value: &Value,
    template: &NewResource,
    t: &str,
    id: &str,
) -> Result<(), StoreError> {
    let cur = resources::current(c, t, id, true)?.ok_or_else(|| missing(t, id))?;
    let version = cur.version + 1;
    let item = restamp(value, template, id.to_string(), version)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    resources::insert_history(
        c,
        &NewVersion {
            rid: cur.rid,
            res_type: t,
            res_id: id,
            version,
            last_updated: item.last_updated,
            method: "PUT",
            content: Some(&item.content),
        },
    )?;
    resources::update_current(c, cur.rid, version, item.last_updated, false)?;
    index::replace(c, cur.rid, t, &item.index)
}

/// What a delete commits: lock, a deletion history row, the current row, no index rows.
fn delete(c: &mut AnyConnection, t: &str, id: &str) -> Result<(), StoreError> {
    let cur = resources::current(c, t, id, true)?.ok_or_else(|| missing(t, id))?;
    let version = cur.version + 1;
    let last_updated = now_micros().max(cur.last_updated + 1);
    resources::insert_history(
        c,
        &NewVersion {
            rid: cur.rid,
            res_type: t,
            res_id: id,
            version,
            last_updated,
            method: "DELETE",
            content: None,
        },
    )?;
    resources::update_current(c, cur.rid, version, last_updated, true)?;
    index::clear(c, cur.rid)
}
