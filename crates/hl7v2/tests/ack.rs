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
