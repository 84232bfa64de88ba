//! The hash-chained audit trail: an AuditEvent (BALP) for every interaction that touches PHI.
//! Writes append theirs inside the write's transaction; reads hand theirs to the group-commit
//! `writer` and answer only after it is durable. `verify` walks the chain and names the first
//! broken record; `search` serves `GET [base]/AuditEvent`.
//!
//! hash(n) = hex(SHA-256(prev_hash(n) || canonical(event(n)))), prev_hash(n) = hash(n-1), the first
//! prev_hash is "". Canonical JSON = compact, object keys sorted (recursively). The chain detects
//! records altered, inserted or deleted in the middle; removing records at the end, or rewriting
//! the whole tail, needs an external anchor (e.g. periodically exporting the last hash) to detect.

pub mod search;
pub mod writer;

use std::cell::RefCell;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::fhir::audit_event::{Action, Actor, Kind, Record};
use crate::store::{AnyConnection, Store, StoreError, audit};

/// Compact JSON with object keys sorted.
pub fn canonical(v: &Value) -> String {
    let mut out = String::with_capacity(1024);
    write_canonical(v, &mut out);
    out
}

// One buffer for the whole document: this runs once per audited request.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(k, out);
                out.push(':');
                if let Some(x) = m.get(k) {
                    write_canonical(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        Value::String(s) => push_json_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn push_json_string(s: &str, out: &mut String) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

pub fn chain_hash(prev: &str, canonical_event: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(canonical_event.as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

thread_local! {
    /// Who the current thread's work is done for (set by the edge around a request's blocking
    /// work), so that every write step deep in the engines audits the real principal without
    /// threading it through each `*_in_tx` function. Unset: the server itself (`hms`).
    static ACTOR: RefCell<Option<Actor>> = const { RefCell::new(None) };
}

/// Restores the previous actor when dropped.
pub struct ActorScope(Option<Actor>);

impl Drop for ActorScope {
    fn drop(&mut self) {
        let prev = self.0.take();
        ACTOR.with(|a| *a.borrow_mut() = prev);
    }
}

/// Makes `actor` the audited agent of this thread's work until the scope is dropped.
pub fn act_as(actor: Actor) -> ActorScope {
    ActorScope(ACTOR.with(|a| a.borrow_mut().replace(actor)))
}

/// The current thread's actor (the server itself when none is set).
pub fn current_actor() -> Actor {
    ACTOR
        .with(|a| a.borrow().clone())
        .unwrap_or_else(|| Actor::system("hms"))
}

/// The stored form of a record: canonical JSON plus the columns and refs search uses.
pub fn to_new_record(rec: &Record) -> audit::NewRecord {
    let mut refs: Vec<(&'static str, String)> = rec
        .patients
        .iter()
        .map(|p| ("patient", p.clone()))
        .collect();
    refs.extend(rec.actor.names().into_iter().map(|n| ("agent", n)));
    refs.sort();
    refs.dedup();
    audit::NewRecord {
        event: canonical(&rec.to_event()),
        recorded: rec.recorded,
        action: rec.action.code().to_string(),
        refs,
    }
}

/// Appends `rec` inside the caller's transaction. A failure that a retry cannot fix means the
/// audit log cannot be written: the caller's transaction fails closed (503).
pub fn record_in_tx(conn: &mut AnyConnection, rec: &Record) -> Result<(), Error> {
    audit::append_many(conn, &[to_new_record(rec)], chain_hash).map_err(unavailable)
}

/// Audit store errors become `AuditUnavailable` (503), except races a retry resolves.
pub fn unavailable(e: StoreError) -> Error {
    if e.is_retryable() {
        Error::Store(e)
    } else {
        Error::AuditUnavailable(e.to_string())
    }
}

/// The patients whose data a stored version is: a Patient itself, or those it references through
/// its type's compartment parameters (none for a deletion or a type outside the compartment).
pub fn patients_of_stored(s: &super::Stored) -> Vec<String> {
    if s.res_type == "Patient" {
        return vec![s.id.clone()];
    }
    if crate::auth::compartment::compartment_params(&s.res_type).is_empty() {
        return Vec::new();
    }
    s.body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .map(|v| crate::auth::compartment::patients_of(&v))
        .unwrap_or_default()
}

/// Records a read-type interaction (a Bundle's GET entry) by the current actor in the caller's
/// transaction.
pub fn record_read_in_tx(
    conn: &mut AnyConnection,
    interaction: &str,
    entities: Vec<String>,
    patients: Vec<String>,
    query: Option<String>,
) -> Result<(), Error> {
    let mut rec = Record::new(
        Kind::Rest(interaction.to_string()),
        Action::of_interaction(interaction),
        crate::store::now_micros(),
        current_actor(),
    );
    rec.entities = entities;
    for p in &patients {
        rec.add_patient(p);
    }
    rec.query = query;
    record_in_tx(conn, &rec)
}

/// Records a create/update/patch/delete of `Type/id/_history/version` by the current actor (no
/// resource content: only references), with the patients the version belongs to.
pub fn record_write_in_tx(
    conn: &mut AnyConnection,
    interaction: &str,
    reference: String,
    patients: Vec<String>,
    at_micros: i64,
) -> Result<(), Error> {
    let mut rec = Record::new(
        Kind::Rest(interaction.to_string()),
        Action::of_interaction(interaction),
        at_micros,
        current_actor(),
    );
    rec.entities.push(reference);
    for p in &patients {
        rec.add_patient(p);
    }
    record_in_tx(conn, &rec)
}

/// Result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Intact {
        records: i64,
    },
    /// The record at `seq` does not hash to its stored hash: it was altered.
    Altered {
        seq: i64,
    },
    /// The record at `seq` does not chain onto the one before: a record was inserted or deleted
    /// just before it.
    Broken {
        seq: i64,
    },
}

pub fn verify(store: &Store) -> Result<Verified, Error> {
    let mut prev = String::new();
    let mut after = 0i64;
    let mut count = 0i64;
    loop {
        let rows = store.read(|c| -> Result<_, Error> { Ok(audit::page(c, after, 1000)?) })?;
        if rows.is_empty() {
            return Ok(Verified::Intact { records: count });
        }
        for r in rows {
            if r.prev_hash != prev {
                return Ok(Verified::Broken { seq: r.seq });
            }
            let event: Value = match serde_json::from_str(&r.event) {
                Ok(v) => v,
                Err(_) => return Ok(Verified::Altered { seq: r.seq }),
            };
            if chain_hash(&prev, &canonical(&event)) != r.hash {
                return Ok(Verified::Altered { seq: r.seq });
            }
            prev = r.hash;
            after = r.seq;
            count += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_keys_and_is_compact() {
        let v: Value = serde_json::from_str(
            r#"{"b": 1.50, "a": [{"d": "x\"y\u00e9", "c": null}, true], "é": {}}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            canonical(&v),
            r#"{"a":[{"c":null,"d":"x\"yé"},true],"b":1.50,"é":{}}"#
        );
        assert_eq!(
            chain_hash("", "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
