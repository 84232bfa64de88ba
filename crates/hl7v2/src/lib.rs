//! Pure HL7 v2.x support for HMS Interop: bytes and values in, values out.
//!
//! * [`mllp`] — sans-IO MLLP frame codec (the listener owns the socket).
//! * [`message`] — lossless parser/encoder with delimiter, charset and escape handling.
//! * [`ack`] — original and enhanced mode acknowledgements.
//! * [`map`] — HL7 v2 → FHIR R4 transaction Bundle mapping (ADT, SIU).
//!
//! No sockets, no SQL, no clock: timestamps and control ids are parameters.

pub mod ack;
pub mod map;
pub mod message;
pub mod mllp;
pub mod outbound;

pub use message::{
    Charset, Component, Delimiters, Field, Message, ParseError, Repetition, Segment,
    SegmentBuilder, Subcomponent, normalize_segment_terminators, parse_batch, split_messages,
};
