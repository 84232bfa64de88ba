#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic
mod common;
use common::*;
use hms_hl7v2::{Message, ParseError};

#[test]
fn every_fixture_parses_or_gives_its_specific_error() {
    for name in all_fixtures() {
        let res = Message::parse(&normalized(&name));
        match name.as_str() {
            "malformed_empty_cdcti.hl7" => assert_eq!(res, Err(ParseError::Empty), "{name}"),
            "malformed_missing_msh2_cdcti.hl7" => {
                assert_eq!(res, Err(ParseError::MissingMsh2), "{name}")
            }
            "malformed_missing_msh9_cdcti.hl7" => {
                assert_eq!(res, Err(ParseError::MissingMsh9), "{name}")
            }
            _ => {
                let m = res.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(m.msh().is_some(), "{name}");
                println!(
                    "{name}: {} {}^{} v{}",
                    m.all_segments().count(),
                    m.message_code(),
                    m.trigger_event(),
                    m.version()
                );
            }
        }
    }
}

#[test]
fn round_trip_is_byte_exact_for_every_valid_fixture() {
    let mut n = 0;
    for name in all_fixtures() {
        let bytes = normalized(&name);
        if let Ok(m) = Message::parse(&bytes) {
            assert_eq!(m.encode(), bytes, "{name}");
            n += 1;
        }
    }
    assert_eq!(n, 28);
}
