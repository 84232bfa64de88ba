//! hms-x12: pure X12 EDI for billing (837P export, 835 import, 270/271).
//!
//! Bytes and FHIR JSON values in, values out: no I/O, no clock reads.

pub mod dates;
pub mod decimal;
pub mod delimiters;
pub mod error;
pub mod reader;
pub mod segment;
pub mod writer;

pub use decimal::Decimal;
pub use delimiters::Delimiters;
pub use error::{ElementProblem, WriteError, X12Error};
pub use reader::{
    Document, FunctionalGroup, Interchange, ReadOptions, TransactionSet, read, read_bytes,
    read_lenient,
};
pub use segment::{Element, Segment};
pub use writer::{
    EnvelopeParams, SetBody, Usage, write_interchange, write_segment, write_segments,
};

pub mod claim;
pub mod fhir;
pub mod p837;
pub mod scrub;

pub use claim::ClaimExportInput;
pub use p837::{ExportError, build_837p};
pub use scrub::{Edit, Severity, scrub_claim};

pub mod ids;
pub mod r835;
pub mod remit_fhir;

pub use r835::{
    Adjustment, ClaimPayment, ProviderAdjustment, Remittance, ServicePayment, parse_835,
};
pub use remit_fhir::{RemitContext, remittance_to_fhir};

pub mod eligibility;

pub use eligibility::{build_270, parse_271};
