//! FHIR R4 → HL7 v2.5.1 for outbound feeds: ADT A04/A08 (Patient), A03 (finished Encounter),
//! SIU S12/S14/S15 (Appointment). The inverse of the essentials of [`crate::map`]: PID-3 from
//! Patient.identifier (CX.4 = system), PID-5 from the names, PV1-19 from the Encounter
//! identifier, SCH-1/SCH-2 from the Appointment identifier/id. Timestamps and control ids are
//! parameters.

use serde_json::Value;

use crate::message::{Delimiters, EscapeError, SegmentBuilder};

/// The message to send for one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    A04,
    A08,
    A03,
    S12,
    S14,
    S15,
}

impl Trigger {
    /// MSH-9 (message code ^ trigger ^ structure).
    pub fn msh9(self) -> [&'static str; 3] {
        match self {
            Trigger::A04 => ["ADT", "A04", "ADT_A01"],
            Trigger::A08 => ["ADT", "A08", "ADT_A01"],
            Trigger::A03 => ["ADT", "A03", "ADT_A03"],
            Trigger::S12 => ["SIU", "S12", "SIU_S12"],
            Trigger::S14 => ["SIU", "S14", "SIU_S12"],
            Trigger::S15 => ["SIU", "S15", "SIU_S12"],
        }
    }

    /// Which message a change of `resource` calls for; None = nothing to send.
    /// Patient: create → A04, update → A08. Encounter: finished → A03. Appointment: booked
    /// create → S12, cancelled → S15, other updates → S14.
    pub fn for_change(resource: &Value, created: bool) -> Option<Trigger> {
        let status = resource.get("status").and_then(Value::as_str);
        match resource.get("resourceType").and_then(Value::as_str)? {
            "Patient" if created => Some(Trigger::A04),
            "Patient" => Some(Trigger::A08),
            "Encounter" if status == Some("finished") => Some(Trigger::A03),
            "Appointment" if status == Some("cancelled") => Some(Trigger::S15),
            "Appointment" if created && status == Some("booked") => Some(Trigger::S12),
            "Appointment" if !created => Some(Trigger::S14),
            _ => None,
        }
    }
}

/// MSH fields chosen by the sender.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    pub sending_application: &'a str,
    pub sending_facility: &'a str,
    pub receiving_application: &'a str,
    pub receiving_facility: &'a str,
    /// HL7 DTM, e.g. 20240102103000+0000.
    pub timestamp: &'a str,
    pub control_id: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("value cannot be sent with these delimiters: {0}")]
    Escape(#[from] EscapeError),
    #[error("{0}")]
    Missing(&'static str),
}

/// Builds the message (segments joined by CR). `patient` is the subject Patient of an Encounter
/// or Appointment (for PID), `resource` the changed resource itself.
pub fn encode(
    trigger: Trigger,
    resource: &Value,
    patient: Option<&Value>,
    h: &Header<'_>,
) -> Result<String, OutboundError> {
    let d = Delimiters::default();
    let msh = SegmentBuilder::msh(d)
        .text(h.sending_application)?
        .text(h.sending_facility)?
        .text(h.receiving_application)?
        .text(h.receiving_facility)?
        .raw(h.timestamp)
        .raw("")
        .components(&trigger.msh9())?
        .text(h.control_id)?
        .raw("P")
        .raw("2.5.1")
        .build();
    let mut segs = vec![msh];
    match trigger {
        Trigger::A04 | Trigger::A08 => {
            segs.push(evn(d, trigger, h)?);
            segs.push(pid(d, resource)?);
            segs.push(SegmentBuilder::new("PV1", d).raw("1").raw("N").build());
        }
        Trigger::A03 => {
            segs.push(evn(d, trigger, h)?);
            let p = patient.ok_or(OutboundError::Missing(
                "Encounter.subject Patient not found",
            ))?;
            segs.push(pid(d, p)?);
            segs.push(pv1(d, resource)?);
        }
        Trigger::S12 | Trigger::S14 | Trigger::S15 => {
            segs.push(sch(d, resource)?);
            if let Some(p) = patient {
                segs.push(pid(d, p)?);
            }
        }
    }
    Ok(segs.join("\r") + "\r")
}

fn s<'v>(v: &'v Value, k: &str) -> &'v str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn arr<'v>(v: &'v Value, k: &str) -> &'v [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn evn(d: Delimiters, t: Trigger, h: &Header<'_>) -> Result<String, EscapeError> {
    Ok(SegmentBuilder::new("EVN", d)
        .text(t.msh9()[1])?
        .raw(h.timestamp)
        .build())
}

/// Repetitions of a field, each already joined into components.
fn reps(d: Delimiters, items: Vec<Vec<String>>) -> Result<String, EscapeError> {
    let b = SegmentBuilder::new("", d);
    let mut out = Vec::new();
    for comps in items {
        let refs: Vec<&str> = comps.iter().map(String::as_str).collect();
        out.push(b.join_components(&refs)?);
    }
    let sep = d.repetition.unwrap_or('~').to_string();
    Ok(out.join(&sep))
}

fn pid(d: Delimiters, p: &Value) -> Result<String, OutboundError> {
    let mut ids: Vec<Vec<String>> = arr(p, "identifier")
        .iter()
        .filter(|i| !s(i, "value").is_empty())
        .map(|i| {
            vec![
                s(i, "value").into(),
                String::new(),
                String::new(),
                s(i, "system").into(),
            ]
        })
        .collect();
    if ids.is_empty() {
        // No business identifier: the FHIR id is the only stable key the peer can use.
        ids.push(vec![s(p, "id").into()]);
    }
    let names = arr(p, "name")
        .iter()
        .map(|n| {
            let given: Vec<&str> = arr(n, "given").iter().filter_map(Value::as_str).collect();
            vec![
                s(n, "family").into(),
                given.first().copied().unwrap_or("").into(),
                given.get(1..).map(|g| g.join(" ")).unwrap_or_default(),
                String::new(),
                String::new(),
                String::new(),
                name_type(s(n, "use")).into(),
            ]
        })
        .collect();
    let gender = match s(p, "gender") {
        "male" => "M",
        "female" => "F",
        "other" => "O",
        "unknown" => "U",
        _ => "",
    };
    Ok(SegmentBuilder::new("PID", d)
        .raw("1")
        .raw("")
        .raw(&reps(d, ids)?)
        .raw("")
        .raw(&reps(d, names)?)
        .raw("")
        .raw(&dtm(s(p, "birthDate")))
        .raw(gender)
        .build())
}

/// HumanName.use → table 0200.
fn name_type(u: &str) -> &'static str {
    match u {
        "official" | "usual" => "L",
        "nickname" => "N",
        "maiden" => "M",
        "anonymous" => "S",
        _ => "",
    }
}

fn pv1(d: Delimiters, e: &Value) -> Result<String, OutboundError> {
    let class = match s(e.get("class").unwrap_or(&Value::Null), "code") {
        "IMP" | "ACUTE" | "NONAC" => "I",
        "EMER" => "E",
        "AMB" => "O",
        "PRENC" => "P",
        _ => "U",
    };
    let visit = arr(e, "identifier")
        .iter()
        .map(|i| s(i, "value"))
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| s(e, "id"));
    let period = e.get("period").unwrap_or(&Value::Null);
    let mut b = SegmentBuilder::new("PV1", d).raw("1").raw(class);
    for _ in 3..19 {
        b = b.raw("");
    }
    b = b.text(visit)?;
    for _ in 20..44 {
        b = b.raw("");
    }
    Ok(b.raw(&dtm(s(period, "start")))
        .raw(&dtm(s(period, "end")))
        .build())
}

fn sch(d: Delimiters, a: &Value) -> Result<String, OutboundError> {
    let placer = arr(a, "identifier")
        .iter()
        .map(|i| s(i, "value"))
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| s(a, "id"));
    // SCH-11 (TQ): ^^duration^start^end, SCH-25 filler status (table 0278).
    let status = match s(a, "status") {
        "booked" => "Booked",
        "cancelled" => "Cancelled",
        "noshow" => "Noshow",
        "pending" | "proposed" => "Pending",
        "arrived" | "checked-in" => "Started",
        "fulfilled" => "Complete",
        _ => "",
    };
    let b = SegmentBuilder::new("SCH", d);
    let tq = b.join_components(&["", "", "", &dtm(s(a, "start")), &dtm(s(a, "end"))])?;
    let mut b = b.text(placer)?.text(s(a, "id"))?;
    for _ in 3..11 {
        b = b.raw("");
    }
    b = b.raw(&tq);
    for _ in 12..25 {
        b = b.raw("");
    }
    Ok(b.raw(status).build())
}

/// FHIR date/dateTime/instant → HL7 DTM ("2024-01-02T10:30:00.5+01:00" → "20240102103000+0100").
pub fn dtm(v: &str) -> String {
    let (date, time) = v.split_once('T').unwrap_or((v, ""));
    let mut out: String = date.chars().filter(char::is_ascii_digit).collect();
    if time.is_empty() {
        return out;
    }
    let split = time.find(['+', '-', 'Z']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(split);
    let clock = clock.split('.').next().unwrap_or("");
    out.extend(clock.chars().filter(char::is_ascii_digit));
    match zone {
        "" => {}
        "Z" => out.push_str("+0000"),
        z => out.extend(z.chars().filter(|c| *c != ':')),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header() -> Header<'static> {
        Header {
            sending_application: "HMS",
            sending_facility: "HOSP",
            receiving_application: "EHR",
            receiving_facility: "",
            timestamp: "20240102103000+0000",
            control_id: "42",
        }
    }

    #[test]
    fn a04_from_a_patient() {
        let p = json!({"resourceType": "Patient", "id": "p1",
            "identifier": [{"system": "urn:mrn", "value": "MRN|1"}],
            "name": [{"use": "official", "family": "Doe", "given": ["Jane", "Q"]}],
            "gender": "female", "birthDate": "1980-02-29"});
        let t = Trigger::for_change(&p, true).unwrap();
        let m = encode(t, &p, None, &header()).unwrap();
        assert_eq!(
            m,
            "MSH|^~\\&|HMS|HOSP|EHR||20240102103000+0000||ADT^A04^ADT_A01|42|P|2.5.1\r\
             EVN|A04|20240102103000+0000\r\
             PID|1||MRN\\F\\1^^^urn:mrn||Doe^Jane^Q^^^^L||19800229|F\r\
             PV1|1|N\r"
        );
    }

    #[test]
    fn triggers_and_times() {
        let a = json!({"resourceType": "Appointment", "status": "cancelled"});
        assert_eq!(Trigger::for_change(&a, false), Some(Trigger::S15));
        let e = json!({"resourceType": "Encounter", "status": "in-progress"});
        assert_eq!(Trigger::for_change(&e, false), None);
        assert_eq!(dtm("2024-01-02T10:30:00.5+01:00"), "20240102103000+0100");
        assert_eq!(dtm("2024-01-02T10:30:00Z"), "20240102103000+0000");
    }
}
