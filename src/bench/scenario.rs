//! Scenarios: what each worker asks the server next. A worker owns its `Worker` state (random
//! generator, the resources it created and has not deleted); the warm data set is shared.

use std::sync::Arc;

use serde_json::Value;

use super::data::{self, Rng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// GET [type]/[id] of warm patients.
    Read,
    /// POST Patient with identifiers.
    Create,
    /// PUT Patient/[id] of warm patients.
    Update,
    /// create/read/update/delete over nine resource types.
    CrudMix,
    /// string, token, date range, reference, quantity, composite and _include searches.
    SearchMix,
    /// N idle keep-alive connections; server RSS.
    Connections,
    /// transaction Bundles (needs issue 4).
    Transaction,
    /// HL7v2 ADT over MLLP (needs issue 5).
    Hl7Adt,
}

pub const NAMES: &[&str] = &[
    "read",
    "create",
    "update",
    "crud-mix",
    "search-mix",
    "connections",
    "transaction",
    "hl7-adt",
];

impl Scenario {
    pub fn parse(name: &str) -> Option<Scenario> {
        Some(match name {
            "read" => Scenario::Read,
            "create" => Scenario::Create,
            "update" => Scenario::Update,
            "crud-mix" => Scenario::CrudMix,
            "search-mix" => Scenario::SearchMix,
            "connections" => Scenario::Connections,
            "transaction" => Scenario::Transaction,
            "hl7-adt" => Scenario::Hl7Adt,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Read => "read",
            Scenario::Create => "create",
            Scenario::Update => "update",
            Scenario::CrudMix => "crud-mix",
            Scenario::SearchMix => "search-mix",
            Scenario::Connections => "connections",
            Scenario::Transaction => "transaction",
            Scenario::Hl7Adt => "hl7-adt",
        }
    }

    /// Whether the scenario needs warm patients created (or discovered) before the clock starts.
    pub fn needs_warm(self) -> bool {
        matches!(
            self,
            Scenario::Read | Scenario::Update | Scenario::CrudMix | Scenario::SearchMix
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// One request a worker sends; `path` is relative to the FHIR base.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Operation name in the report (e.g. "read", "search-token").
    pub op: &'static str,
    pub method: Method,
    pub path: String,
    pub body: Option<Vec<u8>>,
    /// For a create: the resource type whose new id the worker should remember.
    pub remember: Option<&'static str>,
}

/// A patient that exists before the run starts.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmPatient {
    pub id: String,
    pub mrn: String,
    pub family: String,
}

/// Data every worker may use: warm patients (with an encounter and observations each).
#[derive(Debug, Clone, Default)]
pub struct Warm {
    pub patients: Vec<WarmPatient>,
}

impl WarmPatient {
    /// Reads id, MRN and family name from a stored Patient.
    pub fn from_resource(v: &Value) -> Option<WarmPatient> {
        let id = v.get("id")?.as_str()?.to_string();
        let mrn = v
            .get("identifier")?
            .as_array()?
            .iter()
            .find(|i| i.get("system").and_then(Value::as_str) == Some(data::MRN_SYSTEM))
            .and_then(|i| i.get("value")?.as_str())
            .unwrap_or("")
            .to_string();
        let family = v
            .get("name")
            .and_then(|n| n.get(0)?.get("family")?.as_str())
            .unwrap_or("")
            .to_string();
        Some(WarmPatient { id, mrn, family })
    }
}

/// crud-mix weights (percent): read, create, update, delete.
pub const CRUD_WEIGHTS: [(CrudOp, u32); 4] = [
    (CrudOp::Read, 40),
    (CrudOp::Create, 30),
    (CrudOp::Update, 20),
    (CrudOp::Delete, 10),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrudOp {
    Read,
    Create,
    Update,
    Delete,
}

/// The searches of search-mix, equally weighted.
pub const SEARCHES: &[&str] = &[
    "search-string",
    "search-token",
    "search-date",
    "search-reference",
    "search-quantity",
    "search-composite",
    "search-include",
];

/// A worker's state: its generator and the resources it created and has not deleted.
pub struct Worker {
    scenario: Scenario,
    rng: Rng,
    warm: Arc<Warm>,
    live: Vec<(&'static str, String)>,
    seq: u64,
    worker_id: u64,
}

impl Worker {
    pub fn new(scenario: Scenario, worker_id: u64, warm: Arc<Warm>) -> Worker {
        Worker {
            scenario,
            rng: Rng::new(worker_id + 1),
            warm,
            live: Vec::new(),
            seq: 0,
            worker_id,
        }
    }

    fn warm_patient(&mut self) -> Option<WarmPatient> {
        if self.warm.patients.is_empty() {
            return None;
        }
        let i = self.rng.below(self.warm.patients.len());
        self.warm.patients.get(i).cloned()
    }

    /// A unique MRN number for new patients of this worker.
    fn next_n(&mut self) -> u64 {
        self.seq += 1;
        1_000_000_000 + self.worker_id * 100_000_000 + self.seq
    }

    pub fn next_request(&mut self) -> Request {
        match self.scenario {
            Scenario::Read => match self.warm_patient() {
                Some(p) => get("read", format!("Patient/{}", p.id)),
                None => self.create_patient(),
            },
            Scenario::Update => match self.warm_patient() {
                Some(p) => {
                    let n = self.next_n();
                    let body = data::patient(&mut self.rng, Some(&p.id), n);
                    put("update", format!("Patient/{}", p.id), &body)
                }
                None => self.create_patient(),
            },
            Scenario::CrudMix => self.crud(),
            Scenario::SearchMix => self.search(),
            Scenario::Transaction => self.transaction(),
            // Scenarios with their own loop (connections, hl7-adt) never ask; create is the default.
            Scenario::Create | Scenario::Connections | Scenario::Hl7Adt => self.create_patient(),
        }
    }

    fn create_patient(&mut self) -> Request {
        let n = self.next_n();
        let body = data::patient(&mut self.rng, None, n);
        post("create", "Patient".into(), &body, Some("Patient"))
    }

    /// A transaction Bundle: a new patient, an encounter and a heart rate referencing it through
    /// urn:uuid fullUrls (resolved by the server), all POSTs.
    fn transaction(&mut self) -> Request {
        let n = self.next_n();
        let (p, e, o) = (self.rng.id(), self.rng.id(), self.rng.id());
        let day = data::date(&mut self.rng);
        let patient = data::patient(&mut self.rng, None, n);
        let mut enc = data::encounter(&mut self.rng, None, "x", &day);
        enc["subject"] = serde_json::json!({"reference": format!("urn:uuid:{p}")});
        let mut obs = data::heart_rate(&mut self.rng, None, "x", None, &day);
        obs["subject"] = serde_json::json!({"reference": format!("urn:uuid:{p}")});
        obs["encounter"] = serde_json::json!({"reference": format!("urn:uuid:{e}")});
        let entry = |id: &str, r: Value, t: &str| serde_json::json!({"fullUrl": format!("urn:uuid:{id}"), "resource": r, "request": {"method": "POST", "url": t}});
        let bundle = serde_json::json!({
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [entry(&p, patient, "Patient"), entry(&e, enc, "Encounter"), entry(&o, obs, "Observation")]
        });
        post("transaction", String::new(), &bundle, None)
    }

    fn pick_crud(&mut self) -> CrudOp {
        let total: u32 = CRUD_WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut x = self.rng.below(total as usize) as u32;
        for (op, w) in CRUD_WEIGHTS {
            if x < w {
                return op;
            }
            x -= w;
        }
        CrudOp::Read
    }

    fn crud(&mut self) -> Request {
        let op = if self.live.is_empty() {
            CrudOp::Create
        } else {
            self.pick_crud()
        };
        let subject = self
            .warm_patient()
            .map(|p| p.id)
            .unwrap_or_else(|| "unknown".into());
        match op {
            CrudOp::Create => {
                let t = *self.rng.pick(data::CRUD_TYPES);
                let n = self.next_n();
                let body = data::any(&mut self.rng, t, None, &subject, n);
                post("create", t.to_string(), &body, Some(t))
            }
            CrudOp::Read => {
                let (t, id) = self.live[self.rng.below(self.live.len())].clone();
                get("read", format!("{t}/{id}"))
            }
            CrudOp::Update => {
                let (t, id) = self.live[self.rng.below(self.live.len())].clone();
                let n = self.next_n();
                let body = data::any(&mut self.rng, t, Some(&id), &subject, n);
                put("update", format!("{t}/{id}"), &body)
            }
            CrudOp::Delete => {
                let i = self.rng.below(self.live.len());
                let (t, id) = self.live.swap_remove(i);
                Request {
                    op: "delete",
                    method: Method::Delete,
                    path: format!("{t}/{id}"),
                    body: None,
                    remember: None,
                }
            }
        }
    }

    fn search(&mut self) -> Request {
        let Some(p) = self.warm_patient() else {
            return get(
                "search-token",
                "Patient?identifier=urn:bench:mrn|none".into(),
            );
        };
        let op = *self.rng.pick(SEARCHES);
        let path = match op {
            "search-string" => {
                let prefix: String = p.family.chars().take(4).collect();
                format!("Patient?name={prefix}&_count=20")
            }
            "search-token" => format!("Patient?identifier={}|{}", data::MRN_SYSTEM, p.mrn),
            "search-date" => {
                let year = self.rng.range(2015, 2024);
                let month = self.rng.range(1, 12);
                format!(
                    "Encounter?date=ge{year}-{month:02}-01&date=lt{year}-{month:02}-15&_count=20"
                )
            }
            "search-reference" => format!("Observation?subject=Patient/{}&_count=20", p.id),
            "search-quantity" => {
                let v = self.rng.range(60, 125);
                format!(
                    "Observation?value-quantity=gt{v}|{}|/min&subject=Patient/{}",
                    data::UCUM,
                    p.id
                )
            }
            "search-composite" => {
                let v = self.rng.range(60, 125);
                format!(
                    "Observation?code-value-quantity={}|8867-4$gt{v}&_count=20",
                    data::LOINC
                )
            }
            _ => format!(
                "Encounter?subject=Patient/{}&_include=Encounter:subject",
                p.id
            ),
        };
        get(op, path)
    }

    /// Notes the outcome of a request: remembers the id of a successful create.
    pub fn observe(&mut self, req: &Request, status: u16, location: Option<&str>) {
        if self.scenario != Scenario::CrudMix {
            return;
        }
        if let (Some(t), true, Some(loc)) = (req.remember, status == 201, location)
            && let Some(id) = id_from_location(loc, t)
        {
            self.live.push((t, id));
        }
    }

    pub fn live_count(&self) -> usize {
        self.live.len()
    }
}

/// The logical id in a Location header (`.../Type/id/_history/n`).
pub fn id_from_location(location: &str, resource_type: &str) -> Option<String> {
    let mut segs = location.split('/').skip_while(|s| *s != resource_type);
    segs.next()?;
    segs.next().filter(|s| !s.is_empty()).map(str::to_string)
}

fn get(op: &'static str, path: String) -> Request {
    Request {
        op,
        method: Method::Get,
        path,
        body: None,
        remember: None,
    }
}

fn post(op: &'static str, path: String, body: &Value, remember: Option<&'static str>) -> Request {
    Request {
        op,
        method: Method::Post,
        path,
        body: serde_json::to_vec(body).ok(),
        remember,
    }
}

fn put(op: &'static str, path: String, body: &Value) -> Request {
    Request {
        op,
        method: Method::Put,
        path,
        body: serde_json::to_vec(body).ok(),
        remember: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn warm(n: usize) -> Arc<Warm> {
        Arc::new(Warm {
            patients: (0..n)
                .map(|i| WarmPatient {
                    id: format!("p{i}"),
                    mrn: format!("MRN-{i}"),
                    family: "Smith".into(),
                })
                .collect(),
        })
    }

    #[test]
    fn names_round_trip() {
        for n in NAMES {
            assert_eq!(Scenario::parse(n).map(Scenario::name), Some(*n));
        }
        assert!(Scenario::parse("nope").is_none());
    }

    #[test]
    fn crud_mix_follows_weights_and_tracks_ids() {
        let mut w = Worker::new(Scenario::CrudMix, 0, warm(5));
        // With nothing live the first request must be a create.
        let first = w.next_request();
        assert_eq!(first.op, "create");
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut types = std::collections::BTreeSet::new();
        let mut n = 0;
        for _ in 0..20_000 {
            let r = w.next_request();
            *counts.entry(r.op).or_default() += 1;
            match r.method {
                Method::Post => {
                    n += 1;
                    let t = r.remember.unwrap();
                    types.insert(t);
                    assert_eq!(r.path, t);
                    let body: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
                    assert_eq!(body["resourceType"], t);
                    w.observe(
                        &r,
                        201,
                        Some(&format!("http://h/fhir/{t}/id{n}/_history/1")),
                    );
                }
                Method::Put => {
                    let body: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
                    assert_eq!(
                        r.path,
                        format!(
                            "{}/{}",
                            body["resourceType"].as_str().unwrap(),
                            body["id"].as_str().unwrap()
                        )
                    );
                }
                Method::Get | Method::Delete => {
                    assert!(r.path.contains("/id"), "{}", r.path);
                }
            }
        }
        assert_eq!(types.len(), 9, "{types:?}");
        let pct = |op: &str| counts[op] as f64 / 20_000.0 * 100.0;
        assert!((pct("read") - 40.0).abs() < 2.0, "{counts:?}");
        assert!((pct("create") - 30.0).abs() < 2.0, "{counts:?}");
        assert!((pct("update") - 20.0).abs() < 2.0, "{counts:?}");
        assert!((pct("delete") - 10.0).abs() < 2.0, "{counts:?}");
        // Creates outnumber deletes, so the live set grows; deleted ids are forgotten.
        assert!(w.live_count() > 0);
    }

    #[test]
    fn search_mix_covers_every_kind() {
        let mut w = Worker::new(Scenario::SearchMix, 1, warm(10));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let r = w.next_request();
            assert_eq!(r.method, Method::Get);
            seen.insert(r.op);
        }
        assert_eq!(seen.len(), SEARCHES.len());
    }

    #[test]
    fn read_update_create_shapes() {
        let mut r = Worker::new(Scenario::Read, 2, warm(3));
        let q = r.next_request();
        assert_eq!((q.op, q.method), ("read", Method::Get));
        assert!(q.path.starts_with("Patient/p"));
        let mut u = Worker::new(Scenario::Update, 2, warm(3));
        let q = u.next_request();
        assert_eq!((q.op, q.method), ("update", Method::Put));
        let mut c = Worker::new(Scenario::Create, 2, warm(0));
        let q = c.next_request();
        assert_eq!(
            (q.op, q.method, q.path.as_str()),
            ("create", Method::Post, "Patient")
        );
        // Read without warm data degrades to creating.
        let mut r0 = Worker::new(Scenario::Read, 2, warm(0));
        assert_eq!(r0.next_request().op, "create");
    }

    #[test]
    fn transaction_bundles_reference_by_urn() {
        let mut w = Worker::new(Scenario::Transaction, 3, warm(0));
        let r = w.next_request();
        assert_eq!(
            (r.op, r.method, r.path.as_str()),
            ("transaction", Method::Post, "")
        );
        let b: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
        assert_eq!(b["type"], "transaction");
        let entries = b["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 3);
        let patient_url = entries[0]["fullUrl"].as_str().unwrap();
        assert_eq!(entries[1]["resource"]["subject"]["reference"], patient_url);
        assert_eq!(entries[2]["resource"]["subject"]["reference"], patient_url);
        for e in entries {
            crate::interactions::write::validate(&e["resource"]).unwrap();
        }
    }

    #[test]
    fn location_parsing() {
        assert_eq!(
            id_from_location("http://x/fhir/Patient/abc/_history/1", "Patient").as_deref(),
            Some("abc")
        );
        assert_eq!(id_from_location("http://x/fhir/Other/abc", "Patient"), None);
    }
}
