//! HL7 v2 ingest, transport-free: the MLLP listener and `hms hl7 replay` both come through here.
//!
//! For each frame: (1) store the raw message and commit (status `received`); (2) parse, check and
//! map it; (3) in ONE transaction lock the message row, apply the Bundle (+ A40 reference moves),
//! and record status `processed`, the versions written and the ACK bytes; commit; (4) only then
//! return AA/CA. A refused message (parse/map/data error, unsupported type/version/processing id)
//! is recorded `error` or `rejected` with the reason and its AE/AR ACK, nothing applied. Any
//! storage failure returns [`IngestError::Unavailable`]: the caller must send NO acknowledgment.
//!
//! Duplicates (same MSH-3, MSH-4, MSH-10 and SHA-256 of the bytes) get the stored ACK bytes again
//! and nothing is applied twice. The same MSH-10 with other content is processed as a new message
//! and the row notes which earlier message used that control id.

mod decide;
mod reply;

use hms_hl7v2::ack::{AckCode, AckError, Outcome};
use hms_hl7v2::map::MappingConfig;
use hms_hl7v2::message::ErrorLocation;

use crate::error::Error;
use crate::fhir::audit_event::{Action, Actor, Kind, Outcome as AuditOutcome, Record};
use crate::store::hl7_messages::{self as messages, NewMessage, Summary};
use crate::store::{Store, StoreError, now_micros};

use super::audit;
use super::patient_locks::PatientLocks;
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

enum Stage1 {
    New(i64),
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
        let key = frame.key();
        let msg_type = frame.msg_type();
        let store = self.store.clone();
        let raw = frame.raw.clone();
        let stage1 = blocking(move || {
            store.write(|conn| {
                if let Some(s) = messages::find_same(conn, &key)? {
                    return Ok::<_, StoreError>(Stage1::Existing(s));
                }
                let note = messages::find_reused_control_id(conn, &key)?.map(|first| {
                    format!(
                        "control id reused with different content (first used by message {first})"
                    )
                });
                let id = messages::insert(
                    conn,
                    &NewMessage {
                        key: &key,
                        received_at: now_micros(),
                        msg_type: &msg_type,
                        raw: &raw,
                        note: note.as_deref(),
                    },
                )?;
                if note.is_some() {
                    tracing::warn!(
                        message_id = id,
                        "HL7 control id reused with different content"
                    );
                }
                Ok(Stage1::New(id))
            })
        })
        .await??;
        match stage1 {
            Stage1::Existing(s) if s.status != messages::RECEIVED => {
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
            // Stored earlier but never finished (e.g. a crash): process it now.
            Stage1::Existing(s) => self.process(s.id, frame, false).await,
            Stage1::New(id) => self.process(id, frame, false).await,
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
        let _guard = match &mapped.patient_key {
            Some(k) => Some(self.locks.lock(k).await),
            None => None,
        };
        let store = self.store.clone();
        let base = self.base.clone();
        let sender = sender_of(&frame);
        let (frame, applied) = blocking(move || {
            // Every resource the message writes is audited with the sending system as agent.
            let _actor = audit::act_as(Actor::system(sender.clone()));
            let result = store.write(|conn| {
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
                // Any error rolls the whole transaction back: nothing of the Bundle is applied.
                let mut written: Vec<String> =
                    transaction::process_in_tx(conn, &mapped.bundle, &base)?
                        .touched
                        .iter()
                        .map(|t| format!("{}/{}/_history/{}", t.res_type, t.id, t.version))
                        .collect();
                for m in &mapped.merges {
                    written.extend(patient_merge::move_references(conn, &m.source, &m.target)?);
                }
                let ack = reply::ack(&frame, id, Outcome::Accept, None);
                let resources =
                    serde_json::to_string(&written).map_err(|e| Error::Internal(e.to_string()))?;
                audit::record_in_tx(
                    conn,
                    &import_record(&sender, id, written, AuditOutcome::Success, None),
                )?;
                messages::finish(
                    conn,
                    id,
                    &messages::Outcome {
                        status: messages::PROCESSED,
                        error: None,
                        ack: ack.bytes.as_deref(),
                        ack_code: Some(ack.code.as_str()),
                        resources: Some(&resources),
                        processed_at: now_micros(),
                    },
                )?;
                Ok(Reply {
                    message_id: id,
                    code: Some(ack.code),
                    ack: ack.bytes,
                    duplicate: false,
                })
            });
            (frame, result)
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
                messages::finish(
                    conn,
                    id,
                    &messages::Outcome {
                        status,
                        error: Some(&text),
                        ack: ack.bytes.as_deref(),
                        ack_code: Some(ack.code.as_str()),
                        resources: None,
                        processed_at: now_micros(),
                    },
                )?;
                Ok(Reply {
                    message_id: id,
                    code: Some(ack.code),
                    ack: ack.bytes,
                    duplicate: false,
                })
            })
        })
        .await??;
        tracing::info!(message_id = id, code = ?reply.code, "HL7 message refused");
        Ok(reply)
    }
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
