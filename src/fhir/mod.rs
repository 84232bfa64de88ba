//! FHIR glue for the server: ids, meta stamping, Bundles, OperationOutcome, CapabilityStatement.
//! Pure: values in, values out. The R4 model and validator live in the `hms-fhir` crate.

pub mod audit_event;
pub mod bundle;
pub mod capability;
pub mod ids;
pub mod outcome;
pub mod references;
pub mod resource;
pub mod time;
pub mod types;
