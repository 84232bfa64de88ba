#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic
mod common;
use common::*;
use hms_hl7v2::Message;
use hms_hl7v2::ack::Outcome;
use hms_hl7v2::map::{Mapped, MappingConfig, MergeInstruction, map_message, search_token};
use serde_json::{Value, json};

fn map(name: &str) -> Mapped {
    map_message(&parse(name), &MappingConfig::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn entries<'a>(m: &'a Mapped, rtype: &str) -> Vec<&'a Value> {
    m.bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == rtype)
        .collect()
}

fn one<'a>(m: &'a Mapped, rtype: &str) -> &'a Value {
    let v = entries(m, rtype);
    assert_eq!(v.len(), 1, "{rtype}");
    v[0]
}

fn key(s: &str, v: &str) -> Option<(String, String)> {
    Some((s.to_owned(), v.to_owned()))
}

const GHH: &str = "urn:uuid:665aeb64-a065-868a-80ef-837f3efd9939";

/// The rich FHIR-Converter patient shared by many msconv fixtures.
fn assert_everyman(m: &Mapped) {
    let p = one(m, "Patient");
    assert_eq!(
        p["request"],
        json!({"method": "PUT", "url": "Patient?identifier=urn:hms:id:test1|PATID1234"})
    );
    let r = &p["resource"];
    assert_eq!(r["identifier"][0]["system"], "urn:hms:id:test1");
    assert_eq!(r["identifier"][0]["value"], "PATID1234");
    assert_eq!(r["identifier"][0]["type"]["coding"][0]["code"], "MR");
    assert_eq!(r["identifier"][1]["value"], "123456789");
    assert_eq!(
        r["name"][0],
        json!({"use": "usual", "family": "EVERYMAN", "given": ["ADAM", "A"], "prefix": ["Dr."], "suffix": ["III", "MD"]})
    );
    assert_eq!(r["name"][1]["use"], "official");
    assert_eq!(r["birthDate"], "1988-08-18");
    assert_eq!(
        r["_birthDate"]["extension"][0]["valueDateTime"],
        "1988-08-18T11:26:00+02:15"
    );
    assert_eq!(r["gender"], "male");
    assert_eq!(
        r["maritalStatus"]["coding"][0],
        json!({"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"})
    );
    assert_eq!(
        r["address"][0]["line"],
        json!(["1000 Hospital Lane", "Ste. 123"])
    );
    assert_eq!(r["address"][0]["city"], "Ann Arbor");
    assert_eq!(r["address"][0]["type"], "postal");
    assert_eq!(
        r["telecom"][0],
        json!({"system": "phone", "value": "2222", "use": "mobile"})
    );
    assert_eq!(m.patient_key, key("urn:hms:id:test1", "PATID1234"));
}

fn encounter(m: &Mapped) -> &Value {
    let e = one(m, "Encounter");
    assert_eq!(
        e["request"]["url"],
        "Encounter?identifier=urn:hms:id:AccMng|40007716"
    );
    assert_eq!(
        e["resource"]["subject"]["reference"],
        one(m, "Patient")["fullUrl"]
    );
    &e["resource"]
}

#[test]
fn a01_admit_rich() {
    let m = map("adt_a01_msconv_1.hl7");
    assert_everyman(&m);
    let p = &one(&m, "Patient")["resource"];
    assert_eq!(p["deceasedDateTime"], "2008-08-25T11:16:30+01:15");
    assert_eq!(p["multipleBirthBoolean"], false);
    assert_eq!(p["contact"][0]["name"]["family"], "Evan");
    assert_eq!(
        p["contact"][0]["relationship"][0]["coding"][0]["code"],
        "EMC"
    );
    assert_eq!(p["generalPractitioner"][0]["display"], "rold H Hippo");
    let e = encounter(&m);
    assert_eq!(e["status"], "in-progress");
    assert_eq!(e["class"]["code"], "PRENC");
    assert_eq!(e["period"], json!({"start": "2015-02-08T11:34:19+01:10"}));
    assert_eq!(e["participant"][0]["type"][0]["coding"][0]["code"], "ATND");
    assert_eq!(
        e["participant"][0]["individual"]["identifier"]["value"],
        "1122334"
    );
    assert_eq!(e["location"][0]["location"]["reference"], "#loc1");
    assert_eq!(
        e["contained"][0]["name"],
        "HOMERTON UNIVER Homerton UH Floor5 HUH AE OMU OMU B Bed 03"
    );
    let prov = one(&m, "Provenance");
    assert_eq!(
        prov["request"],
        json!({"method": "POST", "url": "Provenance"})
    );
    assert_eq!(prov["resource"]["recorded"], "1989-08-18T11:26:00+02:15");
    assert_eq!(prov["resource"]["activity"]["coding"][0]["code"], "A01");
    assert_eq!(prov["resource"]["agent"][0]["who"]["display"], "ADTApp");
    assert_eq!(prov["resource"]["target"].as_array().unwrap().len(), 2);
    assert_eq!(m.bundle["type"], "transaction");
}

#[test]
fn a01_good_health_hospital_without_visit_number() {
    let m = map("adt_a01_cdcti_other001.hl7");
    assert_eq!(m.patient_key, key("urn:hms:id:ADT1", "PATID1234"));
    let p = &one(&m, "Patient")["resource"];
    assert_eq!(
        p["name"][0],
        json!({"family": "DOGCOW", "given": ["CLARUS", "M"], "suffix": ["III"]})
    );
    assert_eq!(p["birthDate"], "1961-06-15");
    assert_eq!(
        p["_birthDate"]["extension"][0]["valueDateTime"],
        "1961-06-15T17:36:19+00:00"
    );
    assert_eq!(p["gender"], "male");
    assert_eq!(p["maritalStatus"]["coding"][0]["code"], "S");
    assert!(entries(&m, "Encounter").is_empty());
    assert_eq!(m.warnings.len(), 1);
}

#[test]
fn a01_newborn_v23() {
    let m = map("adt_a01_cdcti_mn005.hl7");
    assert_eq!(m.patient_key, key("urn:hms:id:SCH", "11102779"));
    let p = &one(&m, "Patient")["resource"];
    assert_eq!(
        p["name"][0],
        json!({"family": "SMITH", "given": ["BB SARAH"]})
    );
    assert_eq!(p["birthDate"], "2023-05-04");
    assert_eq!(p["multipleBirthBoolean"], false);
    assert_eq!(p["contact"].as_array().unwrap().len(), 2);
    assert_eq!(
        p["contact"][1]["relationship"][0]["coding"][0]["code"],
        "MTH"
    );
    assert_eq!(p["address"][0]["postalCode"], "56527-9657");
}

#[test]
fn a01_lfh_unknown_class_and_default_offset() {
    let m = map("adt_a01_lfh_unix.hl7");
    assert_eq!(m.patient_key, key("urn:hms:id:A", "PID1234"));
    let p = &one(&m, "Patient")["resource"];
    assert_eq!(p["gender"], "female");
    assert_eq!(p["birthDate"], "1980-02-02");
    let e = one(&m, "Encounter");
    assert_eq!(
        e["request"]["url"],
        "Encounter?identifier=urn:hms:id:050|48390"
    );
    assert_eq!(e["resource"]["class"]["code"], "UNK");
    assert_eq!(
        e["resource"]["period"]["start"],
        "2014-09-12T22:00:00+00:00"
    );
    // Same message with CRLF maps identically.
    assert_eq!(map("adt_a01_lfh_win_crlf.hl7").bundle, m.bundle);
    // default_offset applies to times without offset.
    let cfg = MappingConfig {
        default_offset: "-05:00".into(),
        ..MappingConfig::default()
    };
    let m2 = map_message(&parse("adt_a01_lfh_unix.hl7"), &cfg).unwrap();
    assert_eq!(
        one(&m2, "Encounter")["resource"]["period"]["start"],
        "2014-09-12T22:00:00-05:00"
    );
}

#[test]
fn a02_transfer_keeps_prior_location() {
    let m = map("adt_a02_hl7parser.hl7");
    assert_eq!(m.patient_key, key("urn:hms:id:1", "10006579"));
    let p = &one(&m, "Patient")["resource"];
    assert_eq!(
        p["name"][0],
        json!({"family": "DUCK", "given": ["DONALD", "D"]})
    );
    assert_eq!(p["birthDate"], "1924-10-10");
    let e = one(&m, "Encounter");
    assert_eq!(
        e["request"]["url"],
        "Encounter?identifier=urn:hms:id:AccMgr|40007716"
    );
    let e = &e["resource"];
    assert_eq!(e["status"], "in-progress");
    assert_eq!(e["class"]["code"], "IMP");
    assert_eq!(e["location"][0]["status"], "active");
    assert_eq!(e["location"][0]["location"]["display"], "1 S IN1 214 1");
    assert_eq!(e["location"][1]["status"], "completed");
    assert_eq!(e["location"][1]["location"]["display"], "PREOP 101");
    assert_eq!(e["period"]["start"], "2005-01-10T04:52:53+00:00");
    let m = map("adt_a02_msconv_1.hl7");
    assert_eq!(encounter(&m)["status"], "in-progress");
}

#[test]
fn a03_discharge_finishes() {
    let m = map("adt_a03_msconv_1.hl7");
    assert_everyman(&m);
    let e = encounter(&m);
    assert_eq!(e["status"], "finished");
    assert_eq!(
        e["period"],
        json!({"start": "2015-02-08T11:34:19+01:10", "end": "2015-02-09T11:34:19+01:10"})
    );
    assert_eq!(e["location"][0]["status"], "completed");
}

#[test]
fn a04_registration_arrived() {
    let m = map("adt_a04_msconv_2.hl7");
    assert_everyman(&m);
    assert_eq!(encounter(&m)["status"], "arrived");
}

#[test]
fn a04_redox_v23_bom() {
    let m = map("adt_a04_msconv_bom_v23.hl7");
    // PID-3 has no assigning authority: scoped by the sending facility (MSH-4).
    assert_eq!(m.patient_key, key("urn:hms:id:RDX", "MRN12345"));
    let p = &one(&m, "Patient")["resource"];
    assert_eq!(p["name"][0], json!({"family": "Doe", "given": ["Jane"]}));
    assert_eq!(p["birthDate"], "1978-01-01");
    assert_eq!(p["gender"], "female");
    assert!(p.get("_birthDate").is_none());
    assert_eq!(
        p["contact"][0]["telecom"][0],
        json!({"system": "phone", "value": "(431) 2780404", "use": "home"})
    );
}

#[test]
fn a08_update_derives_status() {
    let m = map("adt_a08_msconv_1.hl7");
    assert_everyman(&m);
    let e = encounter(&m);
    assert_eq!(e["status"], "finished");
    assert_eq!(e["period"]["end"], "2015-02-09T11:34:19+01:10");
}

#[test]
fn a11_cancel_admit() {
    let m = map("adt_a11_msconv_1.hl7");
    assert_everyman(&m);
    assert_eq!(encounter(&m)["status"], "cancelled");
}

#[test]
fn a13_cancel_discharge_reopens() {
    let m = map("adt_a13_msconv_2.hl7");
    assert_everyman(&m);
    let e = encounter(&m);
    assert_eq!(e["status"], "in-progress");
    assert_eq!(e["period"], json!({"start": "2015-02-08T11:34:19+01:10"}));
}

#[test]
fn a40_merge_two_pairs() {
    let m = map("adt_a40_msconv_2.hl7");
    assert_eq!(
        m.merges,
        vec![
            MergeInstruction {
                source: ("urn:hms:id:BCBS".into(), "56789".into()),
                target: ("urn:hms:id:BCBS".into(), "12345".into())
            },
            MergeInstruction {
                source: ("urn:hms:id:BCBS".into(), "569".into()),
                target: ("urn:hms:id:BCBS".into(), "145".into())
            },
        ]
    );
    assert_eq!(m.patient_key, key("urn:hms:id:BCBS", "12345"));
    let pats = entries(&m, "Patient");
    assert_eq!(pats.len(), 2);
    assert_eq!(pats[0]["resource"]["active"], true);
    assert_eq!(
        pats[0]["resource"]["link"][0],
        json!({"other": {"identifier": {"system": "urn:hms:id:BCBS", "value": "56789"}}, "type": "replaces"})
    );
    assert_eq!(pats[0]["resource"]["birthDate"], "2018-02-05");
    let patches = entries(&m, "Binary");
    assert_eq!(patches.len(), 2);
    assert_eq!(
        patches[0]["request"],
        json!({"method": "PATCH", "url": "Patient?identifier=urn:hms:id:BCBS|56789"})
    );
    assert_eq!(
        patches[0]["resource"]["contentType"],
        "application/json-patch+json"
    );
    assert_eq!(
        one(&m, "Provenance")["resource"]["target"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

fn appointment(m: &Mapped) -> &Value {
    let a = one(m, "Appointment");
    assert_eq!(
        a["request"]["url"],
        "Appointment?identifier=urn:hms:id:GHHSFacility|36996"
    );
    &a["resource"]
}

#[test]
fn s12_booked() {
    let m = map("siu_s12_msconv_1.hl7");
    assert_everyman(&m);
    let a = appointment(&m);
    assert_eq!(a["status"], "booked");
    assert_eq!(a["start"], "2021-09-24T09:30:00+02:15");
    assert_eq!(a["end"], "2021-09-24T10:20:00+02:15");
    assert_eq!(a["identifier"][0]["value"], "12345");
    assert_eq!(a["identifier"][0]["type"]["coding"][0]["code"], "PLAC");
    assert_eq!(a["participant"][0]["actor"]["reference"], GHH);
    assert_eq!(a["participant"][1]["actor"]["display"], "Robert C GE");
    assert_eq!(a["participant"][2]["actor"]["reference"], "#loc1");
    assert_eq!(a["contained"][0]["name"], "GH Clinic 055 Room01");
    assert_eq!(a["comment"], "Appointment booked for emergency procedure");
}

#[test]
fn s13_rescheduled() {
    let m = map("siu_s13_msconv_1.hl7");
    let a = appointment(&m);
    assert_eq!(a["status"], "booked");
    assert_eq!(a["start"], "2021-09-24T09:30:00+02:15");
}

#[test]
fn s14_modified_with_three_resource_groups() {
    let m = map("siu_s14_msconv_2.hl7");
    let a = appointment(&m);
    assert_eq!(a["status"], "booked");
    assert_eq!(a["start"], "2021-08-18T11:30:00+02:15");
    assert_eq!(a["end"], "2021-08-18T12:30:00+02:15");
    assert_eq!(a["minutesDuration"], 70);
    assert_eq!(a["contained"].as_array().unwrap().len(), 3);
    // patient + 3 AIP + 3 AIL + 2 AIG
    assert_eq!(a["participant"].as_array().unwrap().len(), 9);
}

#[test]
fn s15_cancelled_and_s26_noshow() {
    let a15 = map("siu_s15_msconv_1.hl7");
    assert_eq!(appointment(&a15)["status"], "cancelled");
    assert_eq!(appointment(&a15)["participant"][0]["status"], "declined");
    let a26 = map("siu_s26_msconv_1.hl7");
    assert_eq!(appointment(&a26)["status"], "noshow");
    assert_eq!(
        one(&a26, "Provenance")["resource"]["activity"]["coding"][0]["code"],
        "S26"
    );
}

#[test]
fn unsupported_types_are_rejected() {
    for (name, code, comp) in [
        ("oru_r01_msconv_1.hl7", 200, 1),
        ("orm_o01_hl7dotnetcore_escapes.hl7", 200, 1),
        ("dft_p03_msconv_1.hl7", 200, 1),
        ("ack_cdcti_natus001.hl7", 200, 1),
        ("adt_o01_hl7dotnetcore_blankline.hl7", 201, 2),
    ] {
        let e = map_message(&parse(name), &MappingConfig::default()).unwrap_err();
        assert_eq!(
            (e.segment.as_str(), e.field, e.component, e.code),
            ("MSH", 9, Some(comp), code),
            "{name}"
        );
        assert_eq!(e.outcome(), Outcome::Reject);
    }
}

fn with_pid7(value: &str) -> Message {
    let text = String::from_utf8(normalized("adt_a04_msconv_bom_v23.hl7"))
        .unwrap()
        .replace("19780101", value);
    Message::parse(text.as_bytes()).unwrap()
}

#[test]
fn broken_birth_date_is_a_data_type_error_on_pid_7() {
    let e = map_message(&with_pid7("19XX0101"), &MappingConfig::default()).unwrap_err();
    assert_eq!(
        (e.segment.as_str(), e.sequence, e.field, e.component, e.code),
        ("PID", 1, 7, None, 102)
    );
    assert_eq!(e.outcome(), Outcome::Error);
    let ack = e.to_ack_error();
    assert_eq!(ack.location.unwrap().field, Some(7));
    // Partial precision is kept.
    for (v, want) in [
        ("1970", "1970"),
        ("197001", "1970-01"),
        ("19700101", "1970-01-01"),
    ] {
        let m = map_message(&with_pid7(v), &MappingConfig::default()).unwrap();
        assert_eq!(one(&m, "Patient")["resource"]["birthDate"], want);
    }
}

#[test]
fn assigning_authority_config_and_search_escaping() {
    let mut cfg = MappingConfig::default();
    cfg.assigning_authority_systems
        .insert("test1".into(), "http://hospital.example/mrn".into());
    cfg.class_overrides.insert("P".into(), "SS".into());
    let m = map_message(&parse("adt_a01_msconv_1.hl7"), &cfg).unwrap();
    assert_eq!(
        m.patient_key,
        key("http://hospital.example/mrn", "PATID1234")
    );
    assert_eq!(
        one(&m, "Patient")["request"]["url"],
        "Patient?identifier=http://hospital.example/mrn|PATID1234"
    );
    assert_eq!(one(&m, "Encounter")["resource"]["class"]["code"], "SS");
    assert_eq!(search_token("s", "a,b$c"), "s|a%5C%2Cb%5C%24c");
}

#[test]
fn mapping_is_deterministic() {
    assert_eq!(
        map("siu_s12_msconv_1.hl7").bundle,
        map("siu_s12_msconv_1.hl7").bundle
    );
}

fn retrigger(name: &str, from: &str, to: &str) -> Mapped {
    let text = String::from_utf8(normalized(name))
        .unwrap()
        .replacen(from, to, 1);
    map_message(
        &Message::parse(text.as_bytes()).unwrap(),
        &MappingConfig::default(),
    )
    .unwrap()
}

#[test]
fn other_adt_events_without_fixtures() {
    assert_eq!(
        encounter(&retrigger("adt_a04_msconv_2.hl7", "ADT^A04", "ADT^A05"))["status"],
        "planned"
    );
    let a06 = retrigger("adt_a04_msconv_2.hl7", "ADT^A04", "ADT^A06");
    assert_eq!(encounter(&a06)["status"], "in-progress");
    let a12 = retrigger("adt_a02_hl7parser.hl7", "ADT^A02", "ADT^A12");
    assert_eq!(
        one(&a12, "Encounter")["resource"]["location"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for ev in ["ADT^A28", "ADT^A31"] {
        let m = retrigger("adt_a04_msconv_2.hl7", "ADT^A04", ev);
        assert!(entries(&m, "Encounter").is_empty());
        assert_eq!(entries(&m, "Patient").len(), 1);
    }
    let e = map_message(
        &Message::parse(
            String::from_utf8(normalized("siu_s12_msconv_1.hl7"))
                .unwrap()
                .replacen("SIU^S12", "SIU^S17", 1)
                .as_bytes(),
        )
        .unwrap(),
        &MappingConfig::default(),
    )
    .unwrap_err();
    assert_eq!((e.code, e.field, e.component), (201, 9, Some(2)));
}
