//! hms-fhir: FHIR R4 (4.0.1) building blocks for HMS Interop — a strict JSON
//! parser, the R4 model loaded from the official definitions, and structural
//! validation that reports `OperationOutcome` issues. Pure code, no I/O.

pub mod json;
pub mod model;
mod numbers;
pub mod outcome;
pub mod validate;

pub use model::{ElementInfo, Model};
pub use outcome::{Issue, Severity};
