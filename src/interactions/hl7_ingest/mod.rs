//! HL7 v2 ingest, transport-free: the MLLP listener and `hms hl7 replay` both come through here.
//!
//! For each frame: (1) parse, check and map it (no database); (2) for a mapped message, in ONE
//! transaction store the raw message, apply the Bundle (+ A40 reference moves) and record status
//! `processed`, the versions written and the ACK bytes; commit; (3) only then return AA/CA. One
//! commit per accepted message: a crash before it leaves neither the message nor its resources,
//! and the sender retransmits. If applying fails on the data, that transaction is rolled back and
//! the message is stored in its own transaction and refused. A refused message (parse/map/data
//! error, unsupported type/version/processing id) is recorded `error` or `rejected` with the
//! reason and its AE/AR ACK, nothing applied: the raw message is kept for every ACK sent. Any
//! storage failure returns [`IngestError::Unavailable`]: the caller must send NO acknowledgment.
//!
//! Duplicates (same MSH-3, MSH-4, MSH-10 and SHA-256 of the bytes) get the stored ACK bytes again
//! and nothing is applied twice; a stored message that was never finished is processed then. The
//! same MSH-10 with other content is processed as a new message and the row notes which earlier
//! message used that control id.

mod decide;
mod reply;

use hms_hl7v2::ack::{AckCode, AckError, Outcome};
use hms_hl7v2::map::{Mapped, MappingConfig};
use hms_hl7v2::message::ErrorLocation;

use crate::error::Error;
use crate::fhir::audit_event::{Action, Actor, Kind, Outcome as AuditOutcome, Record};
use crate::store::hl7_messages::{self as messages, MessageKey, NewMessage, Summary};
use crate::store::{AnyConnection, Store, StoreError, now_micros};

use super::audit;
use super::patient_locks::{PatientGuard, PatientLocks};
use super::patient_merge;
use super::transaction;
use decide::{Decision, Frame, decide};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The message store or database cannot be used: no ACK may be sent.
    #[error("message store unavailable: {0}")]
    Unavailable(String),
    #[error("no stored HL7 message with id {0}")]
    NotFound(i64),
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError::Unavailable(e.to_string())
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub message_id: i64,
    pub code: Option<AckCode>,
    /// ACK payload (unframed); None when the sender asked for none.
    pub ack: Option<Vec<u8>>,
    /// The stored answer to an identical earlier message.
    pub duplicate: bool,
}

#[derive(Clone)]
pub struct Hl7Ingest {
    store: Store,
    mapping: MappingConfig,
    locks: PatientLocks,
    /// FHIR base handed to the transaction engine (response fullUrls; not stored in resources).
    base: String,
}

/// What a write found: its own new row (or result), or the stored identical message.
enum Stored<T> {
    New(T),
    Existing(messages::State),
}

impl Hl7Ingest {
    pub fn new(store: Store, mapping: MappingConfig, base: String) -> Hl7Ingest {
        Hl7Ingest {
            store,
            mapping,
            locks: PatientLocks::default(),
            base,
        }
    }

    /// Processes one received frame payload and returns the ACK to send.
    pub async fn receive(&self, raw: Vec<u8>) -> Result<Reply, IngestError> {
        let frame = Frame::read(raw);
        match decide(&frame, &self.mapping) {
            Decision::Apply(mapped) => self.store_and_apply(frame, *mapped).await,
            // Refused messages (rare) keep two steps: store the raw message, then refuse it.
            Decision::Refuse { outcome, error } => match self.store_raw(frame).await? {
                (frame, Stored::New(id)) => self.refuse(id, frame, false, outcome, error).await,
                (frame, Stored::Existing(s)) => self.existing(s, frame).await,
            },
        }
    }

    /// The common path, one commit: store the raw message, apply it and record the outcome in ONE
    /// transaction. A data error rolls all of it back; the message is then stored and refused.
    async fn store_and_apply(&self, frame: Frame, mapped: Mapped) -> Result<Reply, IngestError> {
        let guard = self.lock_patient(&mapped).await;
        let base = self.base.clone();
        let key = frame.key();
        let (frame, applied) = self
            .write_as_sender(frame, move |conn, frame, sender| {
                // A duplicate leaves this transaction without writing anything.
                if let Some(s) = messages::find_same(conn, &key)? {
                    return Ok(Stored::Existing(s));
                }
                let id = insert_raw(conn, frame, &key)?;
                apply(conn, id, frame, &mapped, &base, sender).map(Stored::New)
            })
            .await?;
        // `existing` may process a stored message, which takes the patient lock itself.
        drop(guard);
        match applied {
            Ok(Stored::New(r)) => {
                tracing::info!(message_id = r.message_id, code = ?r.code, "HL7 message processed");
                Ok(r)
            }
            Ok(Stored::Existing(s)) => self.existing(s, frame).await,
            Err(e) if is_storage(&e) => Err(IngestError::Unavailable(e.to_string())),
            // Nothing of the message was written: keep the raw message, then answer AE.
            Err(e) => match self.store_raw(frame).await? {
                (frame, Stored::New(id)) => {
                    self.refuse(id, frame, false, Outcome::Error, data_error(&e))
                        .await
                }
                // An identical message was stored meanwhile (another connection).
                (frame, Stored::Existing(s)) => self.existing(s, frame).await,
            },
        }
    }

    /// Stage 1 of the two-step path: the raw message in its own transaction (or the stored twin).
    async fn store_raw(&self, frame: Frame) -> Result<(Frame, Stored<i64>), IngestError> {
        let store = self.store.clone();
        let (frame, stored) = blocking(move || {
            let key = frame.key();
            let stored = store.write(|conn| match messages::find_same(conn, &key)? {
                Some(s) => Ok::<_, StoreError>(Stored::Existing(s)),
                None => insert_raw(conn, &frame, &key).map(Stored::New),
            });
            (frame, stored)
        })
        .await?;
        Ok((frame, stored?))
    }

    /// A message stored before: resend its ACK, or process it if it was never finished (a crash).
    async fn existing(&self, s: messages::State, frame: Frame) -> Result<Reply, IngestError> {
        if s.status == messages::RECEIVED {
            return self.process(s.id, frame, false).await;
        }
        tracing::info!(
            message_id = s.id,
            "duplicate HL7 message: resending the stored ACK"
        );
        Ok(Reply {
            message_id: s.id,
            code: None,
            ack: s.ack,
            duplicate: true,
        })
    }

    /// Runs `work` in one write transaction off the executor, as the message's sending system
    /// (the agent of every audit record the message causes); gives the frame back.
    async fn write_as_sender<T: Send + 'static>(
        &self,
        frame: Frame,
        mut work: impl FnMut(&mut AnyConnection, &Frame, &str) -> Result<T, Error> + Send + 'static,
    ) -> Result<(Frame, Result<T, Error>), IngestError> {
        let store = self.store.clone();
        blocking(move || {
            let sender = sender_of(&frame);
            let _actor = audit::act_as(Actor::system(sender.clone()));
            let result = store.write(|conn| work(conn, &frame, &sender));
            (frame, result)
        })
        .await
    }

    async fn lock_patient(&self, mapped: &Mapped) -> Option<PatientGuard> {
        match &mapped.patient_key {
            Some(k) => Some(self.locks.lock(k).await),
            None => None,
        }
    }

    /// Reprocesses stored message `id` through the same path (upserts are idempotent).
    pub async fn replay(&self, id: i64) -> Result<Reply, IngestError> {
        let store = self.store.clone();
        let raw = blocking(move || store.read(|conn| messages::raw(conn, id)))
            .await??
            .ok_or(IngestError::NotFound(id))?;
        self.process(id, Frame::read(raw), true).await
    }

    /// Stored messages, newest first.
    pub async fn list(
        &self,
        status: Option<String>,
        limit: i64,
    ) -> Result<Vec<Summary>, IngestError> {
        let store = self.store.clone();
        Ok(
            blocking(move || store.read(|conn| messages::list(conn, status.as_deref(), limit)))
                .await??,
        )
    }

    /// Ids of the stored messages with `status`, oldest first.
    pub async fn ids_with_status(&self, status: String) -> Result<Vec<i64>, IngestError> {
        let store = self.store.clone();
        Ok(blocking(move || store.read(|conn| messages::ids_with_status(conn, &status))).await??)
    }

    async fn process(&self, id: i64, frame: Frame, force: bool) -> Result<Reply, IngestError> {
        let mapped = match decide(&frame, &self.mapping) {
            Decision::Refuse { outcome, error } => {
                return self.refuse(id, frame, force, outcome, error).await;
            }
            Decision::Apply(m) => m,
        };
        let _guard = self.lock_patient(&mapped).await;
        let base = self.base.clone();
        let (frame, applied) = self
            .write_as_sender(frame, move |conn, frame, sender| {
                let state = messages::lock(conn, id)?
                    .ok_or(IngestError::NotFound(id))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                if !force && state.status != messages::RECEIVED {
                    return Ok(Reply {
                        message_id: id,
                        code: None,
                        ack: state.ack,
                        duplicate: true,
                    });
                }
                apply(conn, id, frame, &mapped, &base, sender)
            })
            .await?;
        match applied {
            Ok(r) => {
                tracing::info!(message_id = id, code = ?r.code, "HL7 message processed");
                Ok(r)
            }
            Err(e) if is_storage(&e) => Err(IngestError::Unavailable(e.to_string())),
            // A data error rolled the apply back; record it and answer AE in a new transaction.
            Err(e) => {
                let error = data_error(&e);
                self.refuse(id, frame, force, Outcome::Error, error).await
            }
        }
    }

    async fn refuse(
        &self,
        id: i64,
        frame: Frame,
        force: bool,
        outcome: Outcome,
        error: AckError,
    ) -> Result<Reply, IngestError> {
        let store = self.store.clone();
        let sender = sender_of(&frame);
        let reply = blocking(move || {
            store.write(|conn| {
                let Some(state) = messages::lock(conn, id)? else {
                    return Err(StoreError::Corrupt(format!("message {id} vanished")));
                };
                if !force && state.status != messages::RECEIVED {
                    return Ok(Reply {
                        message_id: id,
                        code: None,
                        ack: state.ack,
                        duplicate: true,
                    });
                }
                let text = decide::without_nul(&error.message);
                let ack = reply::ack(&frame, id, outcome, Some(error.clone()));
                let status = match outcome {
                    Outcome::Reject => messages::REJECTED,
                    _ => messages::ERROR,
                };
                let rec = import_record(
                    &sender,
                    id,
                    Vec::new(),
                    AuditOutcome::Minor,
                    Some(text.as_str()),
                );
                crate::store::audit::append_many(
                    conn,
                    &[audit::to_new_record(&rec)],
                    audit::chain_hash,
                )?;
                finish(conn, id, ack, status, Some(&text), None)
            })
        })
        .await??;
        tracing::info!(message_id = id, code = ?reply.code, "HL7 message refused");
        Ok(reply)
    }
}

/// Stores the raw message with status `received`, noting an earlier message that used the same
/// control id with other content.
fn insert_raw(
    conn: &mut AnyConnection,
    frame: &Frame,
    key: &MessageKey,
) -> Result<i64, StoreError> {
    let note = messages::find_reused_control_id(conn, key)?.map(|first| {
        format!("control id reused with different content (first used by message {first})")
    });
    let id = messages::insert(
        conn,
        &NewMessage {
            key,
            received_at: now_micros(),
            msg_type: &frame.msg_type(),
            raw: &frame.raw,
            note: note.as_deref(),
        },
    )?;
    if note.is_some() {
        tracing::warn!(
            message_id = id,
            "HL7 control id reused with different content"
        );
    }
    Ok(id)
}

/// Applies stored message `id` inside the caller's transaction: the Bundle, the A40 reference
/// moves, the Import audit record and status `processed` with its ACK. Any error must roll the
/// whole transaction back (nothing of the Bundle is applied then).
fn apply(
    conn: &mut AnyConnection,
    id: i64,
    frame: &Frame,
    mapped: &Mapped,
    base: &str,
    sender: &str,
) -> Result<Reply, Error> {
    let mut written: Vec<String> = transaction::process_in_tx(conn, &mapped.bundle, base)?
        .touched
        .iter()
        .map(|t| format!("{}/{}/_history/{}", t.res_type, t.id, t.version))
        .collect();
    for m in &mapped.merges {
        written.extend(patient_merge::move_references(conn, &m.source, &m.target)?);
    }
    let ack = reply::ack(frame, id, Outcome::Accept, None);
    let resources = serde_json::to_string(&written).map_err(|e| Error::Internal(e.to_string()))?;
    audit::record_in_tx(
        conn,
        &import_record(sender, id, written, AuditOutcome::Success, None),
    )?;
    Ok(finish(
        conn,
        id,
        ack,
        messages::PROCESSED,
        None,
        Some(&resources),
    )?)
}

/// Records the message's outcome (status, error, ACK, versions written) and the reply to send.
fn finish(
    conn: &mut AnyConnection,
    id: i64,
    ack: reply::Ack,
    status: &str,
    error: Option<&str>,
    resources: Option<&str>,
) -> Result<Reply, StoreError> {
    messages::finish(
        conn,
        id,
        &messages::Outcome {
            status,
            error,
            ack: ack.bytes.as_deref(),
            ack_code: Some(ack.code.as_str()),
            resources,
            processed_at: now_micros(),
        },
    )?;
    Ok(Reply {
        message_id: id,
        code: Some(ack.code),
        ack: ack.bytes,
        duplicate: false,
    })
}

/// The audit agent of a message: its sending application and facility (MSH-3, MSH-4).
fn sender_of(frame: &Frame) -> String {
    let k = frame.key();
    format!("hl7v2:{}^{}", k.sending_app, k.sending_facility)
}

/// The Import AuditEvent of one stored message (its resources' writes have their own records).
fn import_record(
    sender: &str,
    message_id: i64,
    written: Vec<String>,
    outcome: AuditOutcome,
    error: Option<&str>,
) -> Record {
    let mut r = Record::new(Kind::Import, Action::C, now_micros(), Actor::system(sender));
    r.entities = written;
    r.outcome = outcome;
    r.outcome_desc = Some(match error {
        None => format!("HL7 v2 message {message_id} applied"),
        Some(e) => format!("HL7 v2 message {message_id} not applied: {e}"),
    });
    r
}

/// The AR sent for a frame over `limit` bytes.
pub fn too_large_ack(limit: usize) -> Vec<u8> {
    reply::too_large(limit)
}

/// Errors that mean the database, not the data, failed: never acknowledged.
fn is_storage(e: &Error) -> bool {
    matches!(
        e,
        Error::Store(_) | Error::Unavailable(_) | Error::AuditUnavailable(_)
    )
}

/// The ERR content for an error the data caused while applying the Bundle.
fn data_error(e: &Error) -> AckError {
    let (code, location) = match e {
        // A40: the record to merge (MRG-1) is unknown.
        Error::NotFound(_) => (
            204,
            Some(ErrorLocation {
                segment: "MRG".into(),
                sequence: 1,
                field: Some(1),
                component: None,
            }),
        ),
        // The identifier matches several records.
        Error::PreconditionFailed(_) => (205, None),
        _ => (207, None),
    };
    AckError {
        location,
        code,
        message: e.to_string(),
    }
}

/// Runs blocking database work off the async executor threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IngestError::Unavailable(format!("worker failed: {e}")))
}
