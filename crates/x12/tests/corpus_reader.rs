//! Every fixture in tests/fixtures/x12 either parses or fails with the exact
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic
//! error naming segment and element.

use hms_x12::{X12Error, read, read_lenient};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/x12")
}

fn load(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).expect("fixture")
}

/// Files whose envelope is well-formed.
const VALID: &[&str] = &[
    "270_5010_lfhx12_dependent.270",
    "270_5010_lfhx12_subscriber.270",
    "271_5010_lfhx12_dependent.271",
    "271_5010_lfhx12_subscriber.271",
    "835_5010_lfhx12_managed_care.835",
    "835_5010_lfhx12_medicare_part_a.835",
    "835_5010_lfhx12_secondary_payment.835",
    "835_5010_pyx12_mult_loops.txt",
    "837i_4010_pyx12_simple.txt",
    "837i_5010_lfhx12_institutional.837i",
    "837i_5010_lfhx12_ppo_repriced.837i",
    "837i_5010_lfhx12_two_claims.837i",
    "837p_4010_pyx12_simple.txt",
    "837p_5010_lfhx12_ambulance_example5.837",
    "837p_5010_lfhx12_autoaccident.837",
    "837p_5010_lfhx12_cob_example3A.837",
    "837p_5010_lfhx12_drug_example10_2.837",
    "837p_5010_lfhx12_example1.837",
];

/// Broken files and the exact first error a strict read reports.
const BROKEN: &[(&str, &str)] = &[
    (
        "271_5010_lfhx12_subscriber_error.271",
        "segment 10 (SE), element SE02: \"4323\" does not match ST02 \"4321\"",
    ),
    (
        "837i_4010_pyx12_trailer_errors.txt",
        "segment 61 (SE), element SE01: count \"60\" does not match 59 segments (ST through SE) counted",
    ),
    (
        "837i_4010_pyx12_trailing_terms.txt",
        "segment 24 (CLM): trailing element separators: elements CLM10 to CLM17 are empty at the end of the segment",
    ),
    (
        "837p_4010_pyx12_bad_elements.txt",
        "segment 31 (SE), element SE01: count \"30\" does not match 29 segments (ST through SE) counted",
    ),
];

#[test]
fn every_fixture_is_classified() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SOURCES.md" && !n.ends_with(".997") && !n.ends_with(".999"))
        .collect();
    names.sort();
    let mut known: Vec<String> = VALID
        .iter()
        .map(|s| s.to_string())
        .chain(BROKEN.iter().map(|(s, _)| s.to_string()))
        .collect();
    known.sort();
    assert_eq!(names, known);
}

#[test]
fn valid_fixtures_parse_with_consistent_envelopes() {
    for name in VALID {
        let text = load(name);
        let ics = read(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ics.len(), 1, "{name}");
        let ic = &ics[0];
        assert_eq!(ic.isa.el(13), ic.iea.el(2), "{name}");
        assert!(ic.sets().count() >= 1, "{name}");
        for set in ic.sets() {
            assert_eq!(set.st.el(2), set.se.el(2));
        }
    }
}

#[test]
fn broken_fixtures_give_exact_errors() {
    for (name, msg) in BROKEN {
        let err = read(&load(name)).expect_err(name);
        assert_eq!(err.to_string(), *msg, "{name}");
    }
}

#[test]
fn broken_fixtures_read_leniently_with_all_warnings() {
    let doc = read_lenient(&load("837i_4010_pyx12_trailer_errors.txt")).expect("lenient");
    let warnings: Vec<String> = doc.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        vec![
            "segment 61 (SE), element SE01: count \"60\" does not match 59 segments (ST through SE) counted".to_string(),
            "segment 121 (GE), element GE02: \"333\" does not match GS06 \"1\"".to_string(),
            "segment 122 (IEA), element IEA01: count \"5\" does not match 1 functional groups counted".to_string(),
            "segment 122 (IEA), element IEA02: \"333\" does not match ISA13 \"000484950\"".to_string(),
        ]
    );
    assert_eq!(doc.interchanges[0].sets().count(), 2);
}

#[test]
fn repetition_separator_only_from_00402() {
    let ic = &read(&load("271_5010_lfhx12_subscriber.271")).expect("271")[0];
    assert_eq!(ic.delimiters.repetition, Some(b'^'));
    let eb = ic
        .sets()
        .flat_map(|s| s.body.iter())
        .find(|s| s.id == "EB" && s.el(1) == "B")
        .expect("EB*B");
    assert_eq!(
        eb.repeats(3),
        vec!["1", "33", "35", "47", "86", "88", "98", "AL", "MH", "UC"]
    );
    let ic4010 = &read(&load("837p_4010_pyx12_simple.txt")).expect("4010")[0];
    assert_eq!(ic4010.delimiters.repetition, None);
    assert_eq!(ic4010.isa.el(11), "U");
}

#[test]
fn element_errors_name_segment_and_element() {
    let text =
        load("837p_5010_lfhx12_example1.837").replace("CLM*26463774*100.00", "CLM*26463774*1OO.00");
    let ic = &read(&text).expect("still a valid envelope")[0];
    let clm = ic
        .sets()
        .flat_map(|s| s.body.iter())
        .find(|s| s.id == "CLM")
        .expect("CLM");
    assert_eq!(
        clm.decimal(2).expect_err("bad").to_string(),
        "segment 27 (CLM), element CLM02: not a decimal: \"1OO.00\""
    );
}

#[test]
fn isa_problems() {
    assert_eq!(
        read("hello VISA ISA*00").expect_err("x"),
        X12Error::NoInterchange
    );
    assert_eq!(read("ISA*00*").expect_err("x"), X12Error::IsaTruncated(7));
    let good = load("837p_5010_lfhx12_example1.837");
    // Shorten ISA06 by one character: its fixed width is violated.
    let bad = good.replacen("*000000005      *", "*000000005     *", 1);
    assert_eq!(
        read(&bad).expect_err("x").to_string(),
        "segment 1 (ISA), element ISA06: fixed-width field must be 15 characters, found 14"
    );
    // CR/LF after terminators is tolerated.
    let crlf = good.replace("~\n", "~\r\n");
    assert!(read(&crlf).is_ok());
    let none = good.replace("~\n", "~");
    assert!(read(&none).is_ok());
    // Missing trailers.
    let cut: String = good.lines().take(10).collect::<Vec<_>>().join("\n");
    assert_eq!(
        read(&cut).expect_err("x").to_string(),
        "unexpected end of input: transaction set 0021 has no SE trailer"
    );
}

#[test]
fn the_letters_isa_never_start_an_interchange() {
    let good = load("837p_5010_lfhx12_example1.837");
    // Text before the ISA, or "ISA" inside data, is not an interchange start.
    assert_eq!(
        read(&format!("VISA {good}")).expect_err("x"),
        X12Error::NoInterchange
    );
    assert_eq!(
        read(&format!("ISAX{good}")).expect_err("x"),
        X12Error::NoInterchange
    );
    let with_data = good.replace("NM1*QC*1*SMITH*TED~", "NM1*QC*1*SMITH*ISA~");
    let ic = &read(&with_data).expect("ISA as data is fine")[0];
    assert!(
        ic.sets()
            .flat_map(|s| s.body.iter())
            .any(|s| s.el(4) == "ISA")
    );
    // An "ISA" segment inside a transaction set is a structure error.
    let nested = good.replace("PAT*19~", "ISA*19~");
    assert!(read(&nested).is_err());
}
