//! Group commit for read audits. Requests hand their record to one background thread and await
//! its commit; the thread takes everything queued (up to `MAX_BATCH`) and appends it in ONE
//! database transaction, so under load one commit (one fsync) covers many reads, and a request
//! waits at most about one commit for the batch in flight plus its own. Nothing is sent to the
//! client before its record is durable; if the batch fails every waiting request fails closed.

use std::sync::mpsc;

use tokio::sync::oneshot;

use super::{chain_hash, to_new_record, unavailable};
use crate::error::Error;
use crate::fhir::audit_event::Record;
use crate::store::{Store, StoreError, audit};

/// Most records per transaction (bounds the statement size and a batch's latency).
const MAX_BATCH: usize = 2000;

struct Job {
    record: audit::NewRecord,
    done: oneshot::Sender<Result<(), String>>,
}

/// Handle on the writer thread; cheap to clone. The thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Job>,
}

impl AuditWriter {
    /// Starts the writer thread on `store` (the primary).
    pub fn start(store: Store) -> AuditWriter {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("hms-audit".into())
            .spawn(move || run(store, rx));
        if let Err(e) = spawned {
            // Without the thread every send fails: reads fail closed (503) rather than go unaudited.
            tracing::error!(error = %e, "cannot start the audit writer");
        }
        AuditWriter { tx }
    }

    /// Appends `rec` and returns once it is committed; `AuditUnavailable` (503) otherwise.
    pub async fn record(&self, rec: &Record) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                record: to_new_record(rec),
                done,
            })
            .map_err(|_| Error::AuditUnavailable("the audit writer is not running".into()))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::AuditUnavailable(e)),
            Err(_) => Err(Error::AuditUnavailable(
                "the audit writer stopped before committing".into(),
            )),
        }
    }
}

fn run(store: Store, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (records, dones): (Vec<audit::NewRecord>, Vec<_>) =
            jobs.into_iter().map(|j| (j.record, j.done)).unzip();
        let n = records.len();
        let started = std::time::Instant::now();
        let result = store
            .write(|c| -> Result<(), StoreError> { audit::append_many(c, &records, chain_hash) })
            .map_err(|e| {
                let e = unavailable(e);
                tracing::error!(error = %e, records = n, "audit batch not written");
                e.to_string()
            });
        if result.is_ok() {
            tracing::debug!(
                records = n,
                micros = started.elapsed().as_micros() as u64,
                "audit batch committed"
            );
        }
        for d in dones {
            let _ = d.send(result.clone());
        }
    }
}
