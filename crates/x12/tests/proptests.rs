//! Reader robustness and writer/reader round trip.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use hms_x12::{
    Delimiters, Element, EnvelopeParams, ReadOptions, Segment, SetBody, read, read_bytes,
    read_lenient, write_interchange, write_segments,
};
use proptest::prelude::*;

fn env() -> EnvelopeParams {
    EnvelopeParams::new("SENDER", "RECEIVER", 42, "2024-03-05", "1230")
}

/// Delimiter-free element text (printable ASCII minus * : ^ ~).
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 .,/()&'!#$%+=?@_-]{0,12}"
}

fn element() -> impl Strategy<Value = Element> {
    prop::collection::vec(prop::collection::vec(text(), 1..3), 1..3).prop_map(Element)
}

fn segment() -> impl Strategy<Value = Segment> {
    (
        "[A-Z][A-Z0-9]{1,2}".prop_filter("not an envelope id", |id| {
            !matches!(id.as_str(), "ISA" | "IEA" | "GS" | "GE" | "ST" | "SE")
        }),
        prop::collection::vec(element(), 0..6),
    )
        .prop_map(|(id, elements)| Segment {
            id,
            elements,
            position: 0,
        })
}

/// What the writer is allowed to drop: trailing empty components,
/// repetitions and elements.
fn normalize(seg: &Segment) -> Segment {
    let mut elements: Vec<Element> = seg
        .elements
        .iter()
        .map(|e| {
            let mut reps: Vec<Vec<String>> =
                e.0.iter()
                    .map(|r| {
                        let mut r = r.clone();
                        while r.len() > 1 && r.last().is_some_and(String::is_empty) {
                            r.pop();
                        }
                        r
                    })
                    .collect();
            while reps.len() > 1 && reps.last().is_some_and(|r| r.iter().all(String::is_empty)) {
                reps.pop();
            }
            if reps.iter().all(|r| r.iter().all(String::is_empty)) {
                reps = vec![vec![String::new()]];
            }
            Element(reps)
        })
        .collect();
    while elements.last().is_some_and(Element::is_empty) {
        elements.pop();
    }
    Segment {
        id: seg.id.clone(),
        elements,
        position: 0,
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = read_bytes(&bytes, ReadOptions::default());
        let _ = read_bytes(&bytes, ReadOptions { lenient: true });
    }

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,300}") {
        let _ = read(&s);
        let _ = read_lenient(&s);
    }

    #[test]
    fn isa_prefixed_garbage_never_panics(tail in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut bytes = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240305*1230*^*00501*000000042*0*T*:~".to_vec();
        bytes.extend(tail);
        let _ = read_bytes(&bytes, ReadOptions::default());
    }

    #[test]
    fn write_read_round_trip(segs in prop::collection::vec(segment(), 0..12)) {
        let d = Delimiters::default();
        let text = write_interchange(&env(), "HC", "005010X222A1",
            &[SetBody { code: "837".into(), segments: segs.clone() }], &d).expect("write");
        let ics = read(&text).expect("read back");
        prop_assert_eq!(ics.len(), 1);
        let set = ics[0].sets().next().expect("one set");
        let expected: Vec<Segment> = segs.iter().map(normalize).collect();
        let got: Vec<Segment> = set.body.iter().map(normalize).collect();
        prop_assert_eq!(got, expected);
        // Bare writer output re-read inside an envelope gives the same text.
        let bare = write_segments(&set.body, &d, false).expect("bare");
        let again = write_segments(&segs.iter().map(normalize).collect::<Vec<_>>(), &d, false).expect("bare2");
        prop_assert_eq!(bare, again);
    }
}

#[test]
fn writer_produces_fixed_width_isa_and_consistent_trailers() {
    let seg = Segment::new("BHT", ["0019", "00", "X1", "20240305", "1230", "CH"]);
    let text = write_interchange(
        &env(),
        "HC",
        "005010X222A1",
        &[
            SetBody {
                code: "837".into(),
                segments: vec![seg.clone()],
            },
            SetBody {
                code: "837".into(),
                segments: vec![seg.clone(), seg],
            },
        ],
        &Delimiters::default(),
    )
    .expect("write");
    let first = text.lines().next().expect("isa");
    assert_eq!(first.len(), 106);
    assert_eq!(
        first,
        "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240305*1230*^*00501*000000042*0*T*:~"
    );
    assert!(text.contains("ST*837*0001*005010X222A1~\n"));
    assert!(text.contains("SE*3*0001~\n"));
    assert!(text.contains("ST*837*0002*005010X222A1~\n"));
    assert!(text.contains("SE*4*0002~\n"));
    assert!(text.ends_with("GE*2*42~\nIEA*1*000000042~\n"));
    assert_eq!(read(&text).expect("strict read").len(), 1);
}

#[test]
fn writer_rejects_delimiters_in_data() {
    let seg = Segment::new("NM1", ["IL", "1", "O*BRIEN"]);
    let err = write_segments(&[seg], &Delimiters::default(), false).expect_err("delimiter");
    assert_eq!(
        err.to_string(),
        "NM103: value \"O*BRIEN\" contains a delimiter character"
    );
}
