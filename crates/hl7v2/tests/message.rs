#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic
mod common;
use common::*;
use hms_hl7v2::message::{Charset, Delimiters, ParseError, escape, unescape};
use hms_hl7v2::{Message, normalize_segment_terminators, parse_batch};
use proptest::prelude::*;

#[test]
fn access_api_uses_hl7_numbering() {
    let m = parse("adt_a01_msconv_1.hl7");
    let msh = m.msh().unwrap();
    assert_eq!(msh.field(1).raw(), "|");
    assert_eq!(msh.field(2).raw(), "^~\\&");
    assert_eq!(msh.field(3).text(), "ADTApp");
    assert_eq!(msh.field(9).component(2).text(), "A01");
    assert_eq!(m.get("MSH.9.3").as_deref(), Some("ADT_A01"));
    assert_eq!(m.get("MSH.12").as_deref(), Some("2.8"));
    let pid = m.segment("PID").unwrap();
    assert_eq!(pid.field(3).repetition_count(), 2);
    assert_eq!(pid.field(3).repetition(2).component(1).text(), "123456789");
    assert_eq!(
        pid.field(3)
            .repetition(1)
            .component(4)
            .subcomponent(2)
            .text(),
        "2.16.1"
    );
    assert_eq!(m.get("PID.3[2].4").as_deref(), Some("USSSA"));
    assert_eq!(m.get("PID.3.4.3").as_deref(), Some("HCD"));
    assert_eq!(m.get("PID.5[2].1.5").as_deref(), Some("Bing"));
    assert_eq!(m.get("PID.99"), None);
    assert_eq!(m.get("garbage"), None);
    assert_eq!(m.segments("NK1").count(), 1);
    assert!(pid.field(0).is_empty());
    assert!(pid.field(3).repetition(9).component(0).is_empty());
}

#[test]
fn segment_occurrence_path_and_z_segments() {
    let m = parse("oru_r01_hl7parser_lab.hl7");
    assert!(m.segment("ZDR").is_some() || m.segment("ZPR").is_some());
    let second = m.segments("OBX").nth(1).unwrap().field(3).raw().to_owned();
    assert_eq!(
        m.get("OBX(2).3").unwrap_or_default(),
        hms_hl7v2::message::unescape(&second, m.delimiters(), Charset::Utf8)
    );
}

#[test]
fn escapes_decode() {
    let m = parse("orm_o01_hl7dotnetcore_escapes.hl7");
    let ntes: Vec<_> = m.segments("NTE").map(|s| s.field(3).text()).collect();
    assert_eq!(
        ntes[0],
        "some text\nsome text after \\H\\new line\\N\\\nissue Efferent-Health#82"
    );
    assert_eq!(
        ntes[1],
        "some text\r\nsome text after new line\r\nissue Efferent-Health#81"
    );
    let m = parse("adt_a08_hl7parser_escaped.hl7");
    assert_eq!(m.get("MSH.5").as_deref(), Some("Isaac^2"));
    assert_eq!(m.msh().unwrap().field(5).component_count_first(), 1);
}

trait FirstCount {
    fn component_count_first(&self) -> usize;
}
impl FirstCount for hms_hl7v2::Field<'_> {
    fn component_count_first(&self) -> usize {
        self.repetition(1).component_count()
    }
}

#[test]
fn hex_escape_is_multibyte_and_charset_aware() {
    let d = Delimiters::default();
    assert_eq!(unescape("caf\\XC3A9\\", &d, Charset::Utf8), "café");
    assert_eq!(unescape("caf\\XC3\\\\XA9\\", &d, Charset::Utf8), "café");
    assert_eq!(unescape("caf\\XE9\\", &d, Charset::Latin1), "café");
    assert_eq!(
        unescape(
            "\\Zabc\\ and \\.sp2\\ and \\unterminated",
            &d,
            Charset::Utf8
        ),
        "\\Zabc\\ and \\.sp2\\ and \\unterminated"
    );
    assert_eq!(
        escape("a|b^c&d~e\\f\rg", &d).unwrap(),
        "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D\\g"
    );
}

#[test]
fn empty_and_explicit_null_are_distinct() {
    let m =
        Message::parse(b"MSH|^~\\&|A||||20240101||ADT^A08|1|P|2.5\rPID|1||42||\"\"|x\r").unwrap();
    let pid = m.segment("PID").unwrap();
    assert!(pid.field(4).is_empty() && !pid.field(4).is_null());
    assert!(pid.field(5).is_null() && !pid.field(5).is_empty());
    assert_eq!(pid.field(5).value(), None);
    assert_eq!(pid.field(5).text(), "\"\"");
    assert_eq!(pid.field_count(), 6);
}

#[test]
fn custom_and_partial_delimiters() {
    let m =
        Message::parse(b"MSH#*@!$#APP#FAC#ME#US#20240101##ADT*A08#X1#P#2.5\rPID#1##a*b$c@d!F!e\r")
            .unwrap();
    assert_eq!(m.trigger_event(), "A08");
    assert_eq!(m.get("PID.3.2.2").as_deref(), Some("c"));
    assert_eq!(m.get("PID.3[2]").as_deref(), Some("d#e"));
    // MSH-2 with component and repetition only: no escaping, no sub-components.
    let m = Message::parse(b"MSH|^~|A||||20240101||ADT^A08|1|P|2.1\rPID|1||a\\b&c^d\r").unwrap();
    assert_eq!(m.delimiters().escape, None);
    assert_eq!(m.get("PID.3.1").as_deref(), Some("a\\b&c"));
    assert_eq!(
        m.encode(),
        b"MSH|^~|A||||20240101||ADT^A08|1|P|2.1\rPID|1||a\\b&c^d\r"
    );
}

#[test]
fn bad_headers_give_specific_errors() {
    assert_eq!(Message::parse(b""), Err(ParseError::Empty));
    assert_eq!(Message::parse(b"\r\r  "), Err(ParseError::Empty));
    assert!(matches!(
        Message::parse(b"PID|1\r"),
        Err(ParseError::MissingMsh { .. })
    ));
    assert!(matches!(
        Message::parse(b"MSH|^^~\\&|A"),
        Err(ParseError::BadDelimiters { .. })
    ));
    assert!(matches!(
        Message::parse(b"MSHA^~\\&|A"),
        Err(ParseError::BadDelimiters { .. })
    ));
    assert!(matches!(
        Message::parse(b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5||||||X-UNKNOWN\r"),
        Err(ParseError::UnsupportedCharset { .. })
    ));
    assert!(matches!(
        Message::parse(b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rpid|1\r"),
        Err(ParseError::BadSegmentId { index: 2, .. })
    ));
    assert_eq!(ParseError::MissingMsh9.hl7_code(), 101);
    assert_eq!(ParseError::MissingMsh9.location().unwrap().field, Some(9));
}

#[test]
fn latin1_charset_round_trips() {
    let bytes =
        b"MSH|^~\\&|A||||20240101||ADT^A08|1|P|2.5||||||8859/1\rPID|1||||M\xfcller^J\xf6rg\r";
    let m = Message::parse(bytes).unwrap();
    assert_eq!(m.charset(), Charset::Latin1);
    assert_eq!(m.get("PID.5.1").as_deref(), Some("Müller"));
    assert_eq!(m.encode(), bytes.to_vec());
    // Same bytes declared UTF-8 are rejected with the offset.
    let bad = b"MSH|^~\\&|A||||20240101||ADT^A08|1|P|2.5\rPID|1||||M\xfcller\r";
    assert!(matches!(
        Message::parse(bad),
        Err(ParseError::InvalidEncoding { .. })
    ));
}

#[test]
fn lf_inside_cr_message_is_data_and_bom_survives() {
    let bytes = b"MSH|^~\\&|A||||20240101||ADT^A08|1|P|2.5\rNTE|1||line1\nline2\r";
    assert_eq!(normalize_segment_terminators(bytes).as_ref(), bytes);
    let m = Message::parse(bytes).unwrap();
    assert_eq!(m.get("NTE.3").as_deref(), Some("line1\nline2"));
    let bom = raw("adt_a04_msconv_bom_v23.hl7");
    let m = Message::parse(&normalize_segment_terminators(&bom)).unwrap();
    assert_eq!(m.get("PID.3.1").as_deref(), Some("MRN12345"));
    assert_eq!(m.encode(), normalize_segment_terminators(&bom).into_owned());
}

#[test]
fn normalisation_rules() {
    assert_eq!(normalize_segment_terminators(b"A\nB\n").as_ref(), b"A\rB\r");
    assert_eq!(
        normalize_segment_terminators(b"A\r\nB\r\n").as_ref(),
        b"A\rB\r"
    );
    assert_eq!(
        normalize_segment_terminators(b"A\rB\nC\r\n").as_ref(),
        b"A\rB\nC\r\n"
    );
    // The CR fixture with one trailing LF stays as is; the LF becomes a blank line.
    let cr = raw("oru_r01_cdcti_ca003_cr.hl7");
    assert_eq!(normalize_segment_terminators(&cr).as_ref(), cr.as_slice());
    assert_eq!(Message::parse(&cr).unwrap().encode(), cr);
}

#[test]
fn blank_lines_and_doubled_escape_tolerated() {
    let m = parse("adt_o01_hl7dotnetcore_blankline.hl7");
    assert_eq!(m.segments("NK1").count(), 2);
    assert_eq!(m.get("PV1.2").as_deref(), Some("O"));
    let m = parse("adt_a01_lfh_unix.hl7");
    assert_eq!(m.delimiters(), &Delimiters::default());
    assert_eq!(m.warnings().len(), 1);
    assert_eq!(m.get("OBX.16[2].2").as_deref(), Some("MRTTE"));
    // Literal "\r" text (unterminated escape) is kept as text.
    assert_eq!(m.get("OBX.17").as_deref(), Some("\\r"));
}

#[test]
fn batch_is_split_into_messages() {
    let a = normalized("adt_a04_msconv_2.hl7");
    let b = normalized("adt_a08_hl7parser_escaped.hl7");
    let mut batch = b"FHS|^~\\&|SND|FAC|||20240101\rBHS|^~\\&|SND|FAC\r".to_vec();
    batch.extend(&a);
    if !batch.ends_with(b"\r") {
        batch.push(b'\r');
    }
    batch.extend(&b);
    batch.extend(b"BTS|2\rFTS|1\r");
    let msgs = parse_batch(&batch).unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].trigger_event(), "A04");
    assert_eq!(msgs[1].trigger_event(), "A08");
    assert_eq!(parse_batch(b""), Err(ParseError::Empty));
}

#[test]
fn parse_throughput_debug_build() {
    let bytes = raw("oru_r01_cdcti_ca003_cr.hl7");
    let n = 200;
    let t = std::time::Instant::now();
    let mut segs = 0;
    for _ in 0..n {
        let m = Message::parse(&bytes).unwrap();
        segs += m.all_segments().count();
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "DEBUG build (unoptimised): parsed {n} x {} bytes ({segs} segments) in {dt:.3}s = {:.1} MB/s, {:.0} msg/s",
        bytes.len(),
        (n * bytes.len()) as f64 / dt / 1e6,
        n as f64 / dt
    );
}

proptest! {
    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Message::parse(&bytes);
        let _ = parse_batch(&bytes);
        let _ = hms_hl7v2::ack::AckHeader::sniff(&bytes);
    }

    #[test]
    fn parser_never_panics_on_msh_like_input(tail in "[|^~\\\\&A-Z0-9\r\n\"#]{0,200}") {
        let input = format!("MSH|^~\\&|{tail}");
        if let Ok(m) = Message::parse(input.as_bytes()) {
            prop_assert_eq!(m.encode(), input.as_bytes().to_vec());
            let _ = m.get("PID.3[2].4.1");
        }
    }

    #[test]
    fn escape_round_trip(s in any::<String>()) {
        let d = Delimiters::default();
        let e = escape(&s, &d).unwrap();
        prop_assert!(!e.contains(['|', '^', '~', '&', '\r', '\n']));
        prop_assert_eq!(unescape(&e, &d, Charset::Utf8), s);
    }

    #[test]
    fn escape_round_trip_custom(s in "[#*@!$a-z\r\n ]{0,40}") {
        let d = Delimiters { field: '#', component: Some('*'), repetition: Some('@'), escape: Some('!'), subcomponent: Some('$'), truncation: None };
        prop_assert_eq!(unescape(&escape(&s, &d).unwrap(), &d, Charset::Latin1), s);
    }
}
