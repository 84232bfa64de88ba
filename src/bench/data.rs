//! Synthetic but realistic R4 resources for load and seeding: patients with identifiers, names,
//! addresses; encounters, vital-sign observations, conditions, procedures, appointments and
//! claims that reference them. Deterministic for a given seed; every resource passes validation.

use serde_json::{Value, json};

/// A small xorshift64* generator: deterministic, fast, and good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Avoid the all-zero state, and spread nearby seeds apart.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    pub fn range(&mut self, lo: i64, hi_inclusive: i64) -> i64 {
        let span = (hi_inclusive - lo + 1).max(1) as u64;
        lo + (self.next_u64() % span) as i64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A random id in the R4 id alphabet (UUID-shaped, 36 characters).
    pub fn id(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

pub const FAMILIES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
];
const GIVEN: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Daniel",
    "Matthew",
    "Ashley",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Boston", "MA", "02110"),
    ("Worcester", "MA", "01608"),
    ("Springfield", "MA", "01103"),
    ("Cambridge", "MA", "02139"),
    ("Lowell", "MA", "01852"),
    ("Quincy", "MA", "02169"),
];
const CONDITIONS: &[(&str, &str)] = &[
    ("44054006", "Diabetes mellitus type 2"),
    ("38341003", "Hypertensive disorder"),
    ("195662009", "Acute viral pharyngitis"),
    ("10509002", "Acute bronchitis"),
    ("40055000", "Chronic sinusitis"),
];
const PROCEDURES: &[(&str, &str)] = &[
    ("430193006", "Medication reconciliation"),
    ("710824005", "Assessment of health and social care needs"),
    ("428191000124101", "Documentation of current medications"),
];
const CPT: &[(&str, u32)] = &[
    ("99213", 120),
    ("99214", 180),
    ("99203", 150),
    ("93000", 60),
];
pub const UCUM: &str = "http://unitsofmeasure.org";
pub const LOINC: &str = "http://loinc.org";
pub const MRN_SYSTEM: &str = "urn:bench:mrn";

/// The nine resource types crud-mix cycles through.
pub const CRUD_TYPES: &[&str] = &[
    "Patient",
    "Practitioner",
    "Organization",
    "Encounter",
    "Observation",
    "Condition",
    "Procedure",
    "Appointment",
    "Claim",
];

/// `YYYY-MM-DD` between 2015 and 2024.
pub fn date(rng: &mut Rng) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        rng.range(2015, 2024),
        rng.range(1, 12),
        rng.range(1, 28)
    )
}

fn date_time(day: &str, rng: &mut Rng) -> String {
    format!("{day}T{:02}:{:02}:00Z", rng.range(7, 18), rng.range(0, 59))
}

/// A patient with an MRN (`MRN-<n>`), a second identifier, name, address and telecom.
pub fn patient(rng: &mut Rng, id: Option<&str>, n: u64) -> Value {
    let (city, state, zip) = *rng.pick(CITIES);
    let gender = if rng.below(2) == 0 { "female" } else { "male" };
    let mut v = json!({
        "resourceType": "Patient",
        "identifier": [
            {"use": "usual", "system": MRN_SYSTEM, "value": format!("MRN-{n}")},
            {"system": "http://hl7.org/fhir/sid/us-ssn", "value": format!("999-{:02}-{:04}", rng.range(10, 99), rng.range(1000, 9999))}
        ],
        "active": true,
        "name": [{"use": "official", "family": rng.pick(FAMILIES), "given": [rng.pick(GIVEN), rng.pick(GIVEN)]}],
        "telecom": [{"system": "phone", "value": format!("555-{:04}", rng.range(0, 9999)), "use": "home"}],
        "gender": gender,
        "birthDate": format!("{:04}-{:02}-{:02}", rng.range(1930, 2020), rng.range(1, 12), rng.range(1, 28)),
        "address": [{"line": [format!("{} Main St", rng.range(1, 999))], "city": city, "state": state, "postalCode": zip, "country": "US"}]
    });
    set_id(&mut v, id);
    v
}

pub fn practitioner(rng: &mut Rng, id: Option<&str>) -> Value {
    let mut v = json!({
        "resourceType": "Practitioner",
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": format!("{}", rng.range(1_000_000_000, 1_999_999_999))}],
        "active": true,
        "name": [{"family": rng.pick(FAMILIES), "given": [rng.pick(GIVEN)], "prefix": ["Dr."]}],
        "gender": if rng.below(2) == 0 { "female" } else { "male" }
    });
    set_id(&mut v, id);
    v
}

pub fn organization(rng: &mut Rng, id: Option<&str>) -> Value {
    let (city, state, zip) = *rng.pick(CITIES);
    let mut v = json!({
        "resourceType": "Organization",
        "identifier": [{"system": "urn:bench:org", "value": format!("ORG-{}", rng.range(1, 99_999))}],
        "active": true,
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov", "display": "Healthcare Provider"}]}],
        "name": format!("{city} {} Clinic", rng.pick(FAMILIES)),
        "address": [{"city": city, "state": state, "postalCode": zip, "country": "US"}]
    });
    set_id(&mut v, id);
    v
}

pub fn encounter(rng: &mut Rng, id: Option<&str>, patient: &str, day: &str) -> Value {
    let start = date_time(day, rng);
    let mut v = json!({
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003", "display": "Encounter for check up"}]}],
        "subject": {"reference": format!("Patient/{patient}")},
        "period": {"start": start, "end": start}
    });
    set_id(&mut v, id);
    v
}

/// A heart-rate observation (LOINC 8867-4) in beats per minute.
pub fn heart_rate(
    rng: &mut Rng,
    id: Option<&str>,
    patient: &str,
    encounter: Option<&str>,
    day: &str,
) -> Value {
    let mut v = json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": date_time(day, rng),
        "valueQuantity": {"value": rng.range(50, 130), "unit": "beats/minute", "system": UCUM, "code": "/min"}
    });
    if let (Some(e), Some(obj)) = (encounter, v.as_object_mut()) {
        obj.insert(
            "encounter".into(),
            json!({"reference": format!("Encounter/{e}")}),
        );
    }
    set_id(&mut v, id);
    v
}

/// A blood-pressure panel (LOINC 85354-9) with systolic and diastolic components.
pub fn blood_pressure(
    rng: &mut Rng,
    id: Option<&str>,
    patient: &str,
    encounter: Option<&str>,
    day: &str,
) -> Value {
    let mut v = json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": date_time(day, rng),
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": {"value": rng.range(100, 170), "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": {"value": rng.range(60, 100), "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}
        ]
    });
    if let (Some(e), Some(obj)) = (encounter, v.as_object_mut()) {
        obj.insert(
            "encounter".into(),
            json!({"reference": format!("Encounter/{e}")}),
        );
    }
    set_id(&mut v, id);
    v
}

pub fn condition(rng: &mut Rng, id: Option<&str>, patient: &str, day: &str) -> Value {
    let (code, display) = *rng.pick(CONDITIONS);
    let mut v = json!({
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "onsetDateTime": date_time(day, rng)
    });
    set_id(&mut v, id);
    v
}

pub fn procedure(rng: &mut Rng, id: Option<&str>, patient: &str, day: &str) -> Value {
    let (code, display) = *rng.pick(PROCEDURES);
    let mut v = json!({
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "performedDateTime": date_time(day, rng)
    });
    set_id(&mut v, id);
    v
}

pub fn appointment(rng: &mut Rng, id: Option<&str>, patient: &str, day: &str) -> Value {
    let start = date_time(day, rng);
    let mut v = json!({
        "resourceType": "Appointment",
        "status": "booked",
        "serviceType": [{"coding": [{"system": "http://snomed.info/sct", "code": "394814009", "display": "General practice"}]}],
        "description": "Follow-up visit",
        "start": start,
        "end": start,
        "participant": [{"actor": {"reference": format!("Patient/{patient}")}, "required": "required", "status": "accepted"}]
    });
    set_id(&mut v, id);
    v
}

pub fn claim(
    rng: &mut Rng,
    id: Option<&str>,
    patient: &str,
    encounter: Option<&str>,
    day: &str,
) -> Value {
    let (cpt, price) = *rng.pick(CPT);
    let mut item = json!({
        "sequence": 1,
        "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": cpt}]},
        "servicedDate": day,
        "unitPrice": {"value": price, "currency": "USD"},
        "net": {"value": price, "currency": "USD"}
    });
    if let (Some(e), Some(obj)) = (encounter, item.as_object_mut()) {
        obj.insert(
            "encounter".into(),
            json!([{"reference": format!("Encounter/{e}")}]),
        );
    }
    let mut v = json!({
        "resourceType": "Claim",
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "claim",
        "patient": {"reference": format!("Patient/{patient}")},
        "created": day,
        "provider": {"display": "Bench Clinic"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": true, "coverage": {"display": "Bench Health Plan"}}],
        "item": [item],
        "total": {"value": price, "currency": "USD"}
    });
    set_id(&mut v, id);
    v
}

/// One resource of `resource_type` (one of `CRUD_TYPES`), referencing `patient` where it can.
pub fn any(rng: &mut Rng, resource_type: &str, id: Option<&str>, subject: &str, n: u64) -> Value {
    let day = date(rng);
    match resource_type {
        "Practitioner" => practitioner(rng, id),
        "Organization" => organization(rng, id),
        "Encounter" => encounter(rng, id, subject, &day),
        "Observation" => heart_rate(rng, id, subject, None, &day),
        "Condition" => condition(rng, id, subject, &day),
        "Procedure" => procedure(rng, id, subject, &day),
        "Appointment" => appointment(rng, id, subject, &day),
        "Claim" => claim(rng, id, subject, None, &day),
        _ => patient(rng, id, n),
    }
}

/// Encounters per seeded patient; each has two observations and a claim.
pub const ENCOUNTERS_PER_PATIENT: usize = 3;
/// Resources `patient_record` produces per patient.
pub const RESOURCES_PER_PATIENT: usize = 1 + ENCOUNTERS_PER_PATIENT * 4 + 2;

/// A whole patient record with ids assigned: the patient, encounters with a heart rate, a blood
/// pressure and a claim each, a condition and an appointment.
pub fn patient_record(rng: &mut Rng, n: u64) -> Vec<Value> {
    let pid = rng.id();
    let mut out = Vec::with_capacity(RESOURCES_PER_PATIENT);
    out.push(patient(rng, Some(&pid), n));
    for _ in 0..ENCOUNTERS_PER_PATIENT {
        let day = date(rng);
        let eid = rng.id();
        out.push(encounter(rng, Some(&eid), &pid, &day));
        let oid = rng.id();
        out.push(heart_rate(rng, Some(&oid), &pid, Some(&eid), &day));
        let bid = rng.id();
        out.push(blood_pressure(rng, Some(&bid), &pid, Some(&eid), &day));
        let cid = rng.id();
        out.push(claim(rng, Some(&cid), &pid, Some(&eid), &day));
    }
    let day = date(rng);
    let cid = rng.id();
    out.push(condition(rng, Some(&cid), &pid, &day));
    let aid = rng.id();
    out.push(appointment(rng, Some(&aid), &pid, &day));
    out
}

fn set_id(v: &mut Value, id: Option<&str>) {
    if let (Some(id), Some(obj)) = (id, v.as_object_mut()) {
        obj.insert("id".into(), Value::String(id.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_resource_validates() {
        let mut rng = Rng::new(7);
        let mut all = patient_record(&mut rng, 1);
        assert_eq!(all.len(), RESOURCES_PER_PATIENT);
        for t in CRUD_TYPES {
            all.push(any(&mut rng, t, None, "p1", 2));
        }
        for r in &all {
            crate::interactions::write::validate(r)
                .unwrap_or_else(|e| panic!("{e}: {}", serde_json::to_string(r).unwrap()));
            let id = r.get("id").and_then(Value::as_str).unwrap_or("x");
            crate::fhir::ids::LogicalId::parse(id).unwrap();
        }
    }

    #[test]
    fn records_index_searchable_values() {
        let mut rng = Rng::new(3);
        let rec = patient_record(&mut rng, 42);
        let rows = crate::search::extract::index_rows(&rec[0], &[], &crate::fhir::time::Zone::Utc);
        assert!(rows.iter().any(|r| r.param == "identifier"
            && r.system.as_deref() == Some(MRN_SYSTEM)
            && r.code.as_deref() == Some("MRN-42")));
        let obs = crate::search::extract::index_rows(&rec[2], &[], &crate::fhir::time::Zone::Utc);
        assert!(obs.iter().any(|r| r.param == "code-value-quantity"));
    }

    #[test]
    fn rng_is_deterministic_and_bounded() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(1);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.range(5, 9);
            assert!((5..=9).contains(&x));
            b.range(5, 9);
        }
        assert_eq!(a.below(0), 0);
    }
}
