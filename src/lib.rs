//! HMS Interop: a FHIR R4 interoperability server.
//!
//! Edges (HTTP in `api`, the CLI in `cli`) turn requests into `interactions`, which run inside one
//! database transaction in `store`. `fhir` holds pure FHIR glue; the R4 model and validator live in
//! the `hms-fhir` crate. See ARCHITECTURE.md.

pub mod api;
pub mod app;
pub mod auth;
pub mod auth_cli;
pub mod bench;
pub mod claims_cli;
pub mod cli;
pub mod config;
pub mod conformance;
pub mod error;
pub mod fhir;
pub mod hl7_cli;
pub mod import;
pub mod interactions;
pub mod mllp;
pub mod search;
pub mod store;
pub mod sync;
pub mod telemetry;
