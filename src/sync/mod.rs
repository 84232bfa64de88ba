//! Synchronisation (issue 6): a transactional outbox of every committed change, fanned out into
//! per-destination deliveries (FHIR Subscriptions with rest-hook channels, a remote mirror), and
//! workers that claim and deliver them with retries. See src/store/outbox.rs for the tables and
//! the visibility rule on PostgreSQL.

pub mod backoff;
pub mod channel;
pub mod cli;
pub mod config;
pub mod fanout;
pub mod guard;
pub mod hl7out;
pub mod hook;
pub mod mirror;
pub mod notify;
pub mod subscription;
pub mod substatus;
pub mod wake;
pub mod watermark;
pub mod worker;

pub use worker::Worker;
