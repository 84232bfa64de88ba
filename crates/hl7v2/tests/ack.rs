#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic
mod common;
use common::*;
use hms_hl7v2::Message;
use hms_hl7v2::ack::*;
use hms_hl7v2::message::ErrorLocation;

fn req(code: AckCode) -> AckRequest {
    AckRequest {
        code,
        control_id: "ACK0001".into(),
        timestamp: "20240102153000+0100".into(),
        text: None,
        error: None,
    }
}

fn s(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap()
}

#[test]
fn aa_original_mode_v28() {
    let m = parse("adt_a01_cdcti_other001.hl7");
    let h = AckHeader::from_message(&m).unwrap();
    assert_eq!(h.mode(), AckMode::Original);
    assert_eq!(h.code_for(Outcome::Accept), AckCode::AA);
    let ack = build_ack(&m, &req(AckCode::AA)).unwrap();
    assert_eq!(
        s(ack),
        "MSH|^~\\&|GHH LAB, INC.|GOOD HEALTH HOSPITAL|ADT1|GOOD HEALTH HOSPITAL|20240102153000+0100||ACK^A01^ACK|ACK0001|D|2.8\r\
         MSA|AA|MSG00001\r"
    );
}

#[test]
fn ae_names_pid_7_v28() {
    let m = parse("adt_a04_msconv_2.hl7");
    let mut r = req(AckCode::AE);
    r.text = Some("bad birth date".into());
    r.error = Some(AckError {
        location: Some(ErrorLocation {
            segment: "PID".into(),
            sequence: 1,
            field: Some(7),
            component: None,
        }),
        code: 102,
        message: "PID-7 '19XX0101' is not a valid DTM".into(),
    });
    let ack = s(build_ack(&m, &r).unwrap());
    assert_eq!(
        ack,
        "MSH|^~\\&|EHRApp^1.Edu^ISO|GHHRFacility^2.16.840.1.1122848.1.32^ISO|ADTApp|GHHSFacility^2.16.840.1.122848.1.30^ISO|20240102153000+0100||ACK^A04^ACK|ACK0001|P|2.8\r\
         MSA|AE|MSG00001|bad birth date\r\
         ERR||PID^1^7|102^Data type error^HL70357|E||||PID-7 '19XX0101' is not a valid DTM\r"
    );
    // The ACK itself parses and says what it says.
    let parsed = Message::parse(ack.as_bytes()).unwrap();
    assert_eq!(parsed.get("ERR.2.3").as_deref(), Some("7"));
    assert_eq!(parsed.get("MSA.1").as_deref(), Some("AE"));
}

#[test]
fn ae_v23_has_err1_and_two_component_msh9() {
    let m = parse("adt_a04_msconv_bom_v23.hl7");
    let mut r = req(AckCode::AE);
    r.error = Some(AckError {
        location: Some(ErrorLocation {
            segment: "PID".into(),
            sequence: 1,
            field: Some(7),
            component: None,
        }),
        code: 102,
        message: "bad date".into(),
    });
    assert_eq!(
        s(build_ack(&m, &r).unwrap()),
        "MSH|^~\\&|||REDOX|RDX|20240102153000+0100||ACK^A04|ACK0001|T|2.3\r\
         MSA|AE|1270326314\r\
         ERR|PID^1^7^102&Data type error&HL70357|PID^1^7|102^Data type error^HL70357|E||||bad date\r"
    );
}

#[test]
fn ar_for_unsupported_version() {
    let raw = b"MSH|^~\\&|LAB|HOSP|HMS|HMS|20240101120000||ORU^R01^ORU_R01|C1|P|2.9.9\rPID|1\r";
    let m = Message::parse(raw).unwrap();
    let mut r = req(AckCode::AR);
    r.error = Some(AckError {
        location: Some(ErrorLocation {
            segment: "MSH".into(),
            sequence: 1,
            field: Some(12),
            component: None,
        }),
        code: 203,
        message: "version 2.9.9 not supported".into(),
    });
    assert_eq!(
        s(build_ack(&m, &r).unwrap()),
        "MSH|^~\\&|HMS|HMS|LAB|HOSP|20240102153000+0100||ACK^R01^ACK|ACK0001|P|2.9.9\r\
         MSA|AR|C1\r\
         ERR||MSH^1^12|203^Unsupported version id^HL70357|E||||version 2.9.9 not supported\r"
    );
}

#[test]
fn enhanced_mode_ca() {
    let m = parse("adt_a01_lfh_unix.hl7"); // MSH-15 AL, MSH-16 NE
    let h = AckHeader::from_message(&m).unwrap();
    assert_eq!(
        h.mode(),
        AckMode::Enhanced {
            accept: Some(AckCondition::Always),
            application: Some(AckCondition::Never)
        }
    );
    assert_eq!(h.code_for(Outcome::Accept), AckCode::CA);
    assert!(h.wants_ack(Outcome::Accept));
    // Delimiters are the canonical ones even though this sender doubled the backslash.
    assert_eq!(
        s(build_ack(&m, &req(AckCode::CA)).unwrap()),
        "MSH|^~\\&|PACS|050|SE050|050|20240102153000+0100||ACK^A01^ACK|ACK0001|T|2.6\r\
         MSA|CA|102\r"
    );
}

#[test]
fn custom_delimiters_are_reused_and_text_escaped() {
    let raw = "MSH#*@!$#APP#FAC#ME#US#20240101##ADT*A08#X1#P#2.5\rPID#1##42\r";
    let m = Message::parse(raw.as_bytes()).unwrap();
    let mut r = req(AckCode::AA);
    r.text = Some("ok # * fine".into());
    assert_eq!(
        s(build_ack(&m, &r).unwrap()),
        "MSH#*@!$#ME#US#APP#FAC#20240102153000+0100##ACK*A08*ACK#ACK0001#P#2.5\rMSA#AA#X1#ok !F! !S! fine\r"
    );
}

#[test]
fn ar_for_unparseable_message() {
    let bytes = raw("malformed_missing_msh2_cdcti.hl7");
    assert!(Message::parse(&bytes).is_err());
    let mut r = req(AckCode::AR);
    r.error = Some(AckError {
        location: Some(ErrorLocation {
            segment: "MSH".into(),
            sequence: 1,
            field: Some(2),
            component: None,
        }),
        code: 101,
        message: "MSH-2 empty".into(),
    });
    assert_eq!(
        s(build_ack_for_unparsed(&bytes, &r).unwrap()),
        "MSH|^~\\&|Receiver Application^0.0.0.0.0.0.0.0^ISO|Receiver Facility^receiver.test.com^DNS|Sender Application^sender.test.com^DNS|Sender Facility^0.0.0.0.0.0.0.0^ISO|20240102153000+0100||ACK^O01^ACK|ACK0001|D|2.5.1\r\
         MSA|AR|111111\r\
         ERR||MSH^1^2|101^Required field missing^HL70357|E||||MSH-2 empty\r"
    );
    assert!(build_ack_for_unparsed(b"", &r).is_err());
    assert!(build_ack_for_unparsed(b"garbage", &r).is_err());
}

#[test]
fn ack_never_echoes_raw_nul_and_defaults_unusable_msh11_msh12() {
    let m =
        Message::parse(b"MSH|^~\\&|A\0PP|FAC|HMS|HMS|20240101||ADT^A04|C\0ID|20240101|ADT^A04\r")
            .unwrap();
    let mut r = req(AckCode::AE);
    r.error = Some(AckError {
        location: None,
        code: 102,
        message: "bad \0 value".into(),
    });
    assert_eq!(
        s(build_ack(&m, &r).unwrap()),
        "MSH|^~\\&|HMS|HMS|A\\X00\\PP|FAC|20240102153000+0100||ACK^A04^ACK|ACK0001|P|2.5.1\r\
         MSA|AE|C\\X00\\ID\r\
         ERR|||102^Data type error^HL70357|E||||bad \\X00\\ value\r"
    );
}

#[test]
fn sniffed_header_without_msh2_echoes_nothing_past_msh6() {
    let h =
        AckHeader::sniff(b"MSH|||||ATK|HOSP|HMS|HMS|20240101||ADT^A04|CTRL|P|2.5.1|AL\r").unwrap();
    assert_eq!(h.mode(), AckMode::Original);
    assert_eq!(
        s(h.build(&req(AckCode::AR)).unwrap()),
        "MSH|^~\\&||ATK|||20240102153000+0100||ACK^^ACK|ACK0001|P|2.5.1\rMSA|AR|\r"
    );
}

#[test]
fn second_msh_and_control_characters_are_found() {
    let two =
        b"MSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5.1\rPID|1\rMSH|^~\\&|A|B|C|D|1||ADT^A04|2|P|2.5.1\r";
    assert_eq!(Message::parse(two).unwrap().second_msh(), Some(3));
    let parts = hms_hl7v2::split_messages(two);
    assert_eq!(parts.len(), 2);
    assert!(
        parts[0].ends_with(b"PID|1\r") && parts[1].starts_with(b"MSH|^~\\&|A|B|C|D|1||ADT^A04|2|")
    );
    let one = b"MSH|^~\\&|A|B|C|D|1||ADT^A04|1|P|2.5.1\rPID|1||X||A\\X00\\B\rPID|2||Y||\x01\r";
    let m = Message::parse(one).unwrap();
    assert_eq!(m.second_msh(), None);
    let (at, c) = m.find_control_char().unwrap();
    assert_eq!(
        (at.segment.as_str(), at.sequence, at.field, c),
        ("PID", 1, Some(5), '\0')
    );
    let m = Message::parse(&one[..one.len() - 16]).unwrap();
    assert!(m.find_control_char().is_none(), "tab/LF are allowed");
}
