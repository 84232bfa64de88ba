//! AuditEvent records in the shape of IHE Basic Audit Log Patterns (BALP): who (user and client
//! agents with the source IP), what (entities: resources, patients, the query), when, outcome.
//! Pure: a `Record` in, AuditEvent JSON out. No resource content is ever copied into a record.

use base64::Engine;
use serde_json::{Value, json};

use super::time;

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const REST: &str = "http://hl7.org/fhir/restful-interaction";

/// AuditEvent.action: Create, Read, Update, Delete, Execute (search, operations, login).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    C,
    R,
    U,
    D,
    E,
}

impl Action {
    pub fn code(self) -> &'static str {
        match self {
            Action::C => "C",
            Action::R => "R",
            Action::U => "U",
            Action::D => "D",
            Action::E => "E",
        }
    }

    /// The action of a RESTful interaction (FHIR AuditEvent guidance: search and operations are E).
    pub fn of_interaction(interaction: &str) -> Action {
        match interaction {
            "create" => Action::C,
            "update" | "patch" => Action::U,
            "delete" => Action::D,
            "read" | "vread" | "history-instance" | "history-type" | "history-system" => Action::R,
            _ => Action::E,
        }
    }
}

/// AuditEvent.outcome: 0 success, 4 minor failure (refused, not found), 8 serious failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Minor,
    Serious,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Success => "0",
            Outcome::Minor => "4",
            Outcome::Serious => "8",
        }
    }
}

/// What kind of event: a RESTful interaction (its restful-interaction code), a login, an HL7 v2
/// import, or a sync export (delivery to another system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Rest(String),
    Login,
    Import,
    Export,
}

/// Who acted. `user` and `client` come from a validated access token; a process acting on its own
/// (CLI, HL7 sender, sync destination) is a `system` agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    pub user: Option<String>,
    pub client: Option<String>,
    pub system: Option<String>,
    pub source_ip: Option<String>,
}

impl Actor {
    pub fn system(name: impl Into<String>) -> Actor {
        Actor {
            system: Some(name.into()),
            ..Actor::default()
        }
    }

    /// The values `agent=` matches: user, client and system names.
    pub fn names(&self) -> Vec<String> {
        [&self.user, &self.client, &self.system]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

/// One audit record before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub action: Action,
    /// µs since the epoch.
    pub recorded: i64,
    pub outcome: Outcome,
    pub outcome_desc: Option<String>,
    pub actor: Actor,
    /// Resources acted on, as `Type/id` or `Type/id/_history/n`.
    pub entities: Vec<String>,
    /// Ids of the patients whose data was touched (deduplicated, in order).
    pub patients: Vec<String>,
    /// The query string of a search (BALP: entity with role Query, base64).
    pub query: Option<String>,
    /// Operation name (`$everything`), shown as a second subtype.
    pub operation: Option<String>,
}

impl Record {
    pub fn new(kind: Kind, action: Action, recorded: i64, actor: Actor) -> Record {
        Record {
            kind,
            action,
            recorded,
            outcome: Outcome::Success,
            outcome_desc: None,
            actor,
            entities: Vec::new(),
            patients: Vec::new(),
            query: None,
            operation: None,
        }
    }

    pub fn add_patient(&mut self, id: &str) {
        if !self.patients.iter().any(|p| p == id) {
            self.patients.push(id.to_string());
        }
    }

    /// The AuditEvent resource (without id: the id is the record's place in the log).
    pub fn to_event(&self) -> Value {
        let (ty, subtype) = match &self.kind {
            Kind::Rest(code) => {
                let mut sub = vec![json!({"system": REST, "code": code})];
                if let Some(op) = &self.operation {
                    sub.push(json!({"system": "urn:hms:operation", "code": op}));
                }
                (
                    json!({"system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                           "code": "rest", "display": "Restful Operation"}),
                    sub,
                )
            }
            Kind::Login => (
                json!({"system": DCM, "code": "110114", "display": "User Authentication"}),
                vec![json!({"system": DCM, "code": "110122", "display": "Login"})],
            ),
            Kind::Import => (
                json!({"system": DCM, "code": "110107", "display": "Import"}),
                vec![],
            ),
            Kind::Export => (
                json!({"system": DCM, "code": "110106", "display": "Export"}),
                vec![],
            ),
        };
        let mut event = json!({
            "resourceType": "AuditEvent",
            "type": ty,
            "action": self.action.code(),
            "recorded": time::fhir_instant(self.recorded),
            "outcome": self.outcome.code(),
            "agent": agents(&self.actor),
            "source": {
                "observer": {"display": "HMS Interop"},
                "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                          "code": "4", "display": "Application Server"}]
            },
        });
        if !subtype.is_empty() {
            event["subtype"] = Value::Array(subtype);
        }
        if let Some(d) = &self.outcome_desc {
            event["outcomeDesc"] = Value::String(d.clone());
        }
        let mut entity: Vec<Value> = self
            .patients
            .iter()
            .map(|p| {
                json!({
                    "what": {"reference": format!("Patient/{p}")},
                    "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
                    "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}
                })
            })
            .collect();
        entity.extend(self.entities.iter().map(|r| {
            json!({
                "what": {"reference": r},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4", "display": "Domain Resource"}
            })
        }));
        if let Some(q) = &self.query {
            entity.push(json!({
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24", "display": "Query"},
                "query": base64::engine::general_purpose::STANDARD.encode(q.as_bytes())
            }));
        }
        if !entity.is_empty() {
            event["entity"] = Value::Array(entity);
        }
        event
    }
}

fn network(ip: &Option<String>) -> Option<Value> {
    ip.as_ref().map(|a| json!({"address": a, "type": "2"}))
}

/// BALP agents: the user (requestor, human), the client application, or the system process.
/// The network address goes on the requestor.
fn agents(a: &Actor) -> Vec<Value> {
    let mut out = Vec::new();
    let mut requestor_done = false;
    if let Some(u) = &a.user {
        let mut v = json!({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                                  "code": "humanuser", "display": "human user"}]},
            "who": {"identifier": {"system": "urn:hms:user", "value": u}},
            "requestor": true
        });
        if let Some(n) = network(&a.source_ip) {
            v["network"] = n;
        }
        out.push(v);
        requestor_done = true;
    }
    for (name, system) in [(&a.client, "urn:hms:client"), (&a.system, "urn:hms:system")] {
        let Some(name) = name else { continue };
        let mut v = json!({
            "type": {"coding": [{"system": DCM, "code": "110150", "display": "Application"}]},
            "who": {"identifier": {"system": system, "value": name}},
            "requestor": !requestor_done
        });
        if !requestor_done && let Some(n) = network(&a.source_ip) {
            v["network"] = n;
        }
        requestor_done = true;
        out.push(v);
    }
    if out.is_empty() {
        let mut v = json!({"who": {"display": "anonymous"}, "requestor": true});
        if let Some(n) = network(&a.source_ip) {
            v["network"] = n;
        }
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_event_has_balp_fields() {
        let mut r = Record::new(
            Kind::Rest("read".into()),
            Action::R,
            0,
            Actor {
                user: Some("alice".into()),
                client: Some("app".into()),
                system: None,
                source_ip: Some("10.0.0.1".into()),
            },
        );
        r.entities.push("Observation/o1/_history/2".into());
        r.add_patient("p1");
        r.add_patient("p1");
        r.query = Some("a=b".into());
        let e = r.to_event();
        assert_eq!(e["action"], "R");
        assert_eq!(e["outcome"], "0");
        assert_eq!(e["recorded"], "1970-01-01T00:00:00.000Z");
        assert_eq!(e["subtype"][0]["code"], "read");
        assert_eq!(e["agent"][0]["who"]["identifier"]["value"], "alice");
        assert_eq!(e["agent"][0]["network"]["address"], "10.0.0.1");
        assert_eq!(e["agent"][1]["who"]["identifier"]["value"], "app");
        assert_eq!(e["agent"][1]["requestor"], false);
        assert_eq!(e["entity"][0]["what"]["reference"], "Patient/p1");
        assert_eq!(
            e["entity"][1]["what"]["reference"],
            "Observation/o1/_history/2"
        );
        assert_eq!(e["entity"][2]["query"], "YT1i");
        assert_eq!(e["entity"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn actions_of_interactions() {
        assert_eq!(Action::of_interaction("vread"), Action::R);
        assert_eq!(Action::of_interaction("search-type"), Action::E);
        assert_eq!(Action::of_interaction("patch"), Action::U);
        assert_eq!(Action::of_interaction("operation"), Action::E);
    }
}
