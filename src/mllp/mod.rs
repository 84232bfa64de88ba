//! HL7 v2 over MLLP: the listener (a thin edge in front of `interactions::hl7_ingest`), its TLS
//! setup, and the client behind `hms hl7 send`.

pub mod client;
pub mod connection;
pub mod listener;
pub mod tls;
