//! FHIR TestScript runner.
