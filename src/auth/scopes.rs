//! SMART on FHIR scopes, v1 (`patient/*.read`, `user/Patient.write`, `system/*.*`) and v2
//! (`patient/Patient.rs`, `user/*.cruds`), including v2 granular scopes restricted by token search
//! parameters (`patient/Observation.rs?category=http://...|laboratory`), checked per interaction
//! and resource type.

use serde_json::Value;

use crate::search::registry::{BUILTIN, Kind, Registry};
use crate::search::tokenize::split_token;
use crate::store::index::IndexRow;

/// What a request does, as SMART v2 permission letters name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// read, vread, instance history
    Read,
    /// search, type/system history
    Search,
    Create,
    /// update, patch
    Update,
    Delete,
}

impl Perm {
    fn letter(self) -> char {
        match self {
            Perm::Read => 'r',
            Perm::Search => 's',
            Perm::Create => 'c',
            Perm::Update => 'u',
            Perm::Delete => 'd',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Patient,
    User,
    System,
}

/// One value of a token test, as FHIR token search reads it: `code`, `system|code`, `|code` (no
/// system) or `system|` (any code of the system).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenValue {
    /// None: any system; Some(None): no system; Some(Some(s)): that system.
    pub system: Option<Option<String>>,
    /// None: any code.
    pub code: Option<String>,
}

impl TokenValue {
    /// Same test as the search engine's token predicate on an index row (`store::search_sql`).
    fn matches(&self, row: &IndexRow) -> bool {
        let code_ok = match &self.code {
            Some(c) => row.code.as_deref() == Some(c.as_str()),
            None => row.code.is_some(),
        };
        let system_ok = match &self.system {
            None => true,
            Some(None) => row.system.is_none(),
            Some(Some(s)) => row.system.as_deref() == Some(s.as_str()),
        };
        code_ok && system_ok
    }

    /// The value in search syntax (never carries escapes: values with `\` are refused at parse).
    pub fn to_search(&self) -> String {
        let code = self.code.as_deref().unwrap_or("");
        match &self.system {
            None => code.to_string(),
            Some(None) => format!("|{code}"),
            Some(Some(s)) => format!("{s}|{code}"),
        }
    }
}

/// One condition of a granular scope: the token parameter `param` has a value among `values`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cond {
    pub param: String,
    /// Sorted, without duplicates (so equal conditions compare equal).
    pub values: Vec<TokenValue>,
}

/// The `?query` of a granular scope: every condition must hold (AND).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Restriction {
    /// Sorted, without duplicates.
    pub conds: Vec<Cond>,
}

impl Restriction {
    /// Parses the query of a scope on `resource_type`. Only what can be enforced exactly is
    /// accepted: token parameters of the type that the index holds, without modifiers or chains,
    /// with plain (unescaped, not percent-encoded) values.
    fn parse(resource_type: &str, query: &str) -> Result<Restriction, String> {
        let reg = Registry::r4();
        let mut conds = Vec::new();
        for part in query.split('&') {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not name=value"))?;
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "{name:?}: modifiers and chained parameters are not supported in scopes"
                ));
            }
            // `_id`, `_lastUpdated` are answered from the resource table, not index rows.
            if BUILTIN.contains(&name) {
                return Err(format!("{name:?} cannot restrict a scope"));
            }
            let sp = reg
                .get(resource_type, name)
                .ok_or_else(|| format!("{resource_type} has no search parameter {name:?}"))?;
            if sp.kind != Kind::Token {
                return Err(format!(
                    "{name:?} is a {} parameter; only token parameters can restrict a scope",
                    sp.kind.as_str()
                ));
            }
            if value.is_empty()
                || value.contains(['\\', '%'])
                || value.chars().any(char::is_control)
            {
                return Err(format!(
                    "{name}={value:?}: the value must be plain system|code or code (no escapes, \
                     no percent-encoding)"
                ));
            }
            let mut values = Vec::new();
            for item in value.split(',') {
                let (system, code) = split_token(item);
                let v = TokenValue {
                    system: system.map(|s| (!s.is_empty()).then(|| s.to_string())),
                    code: (!code.is_empty()).then(|| code.to_string()),
                };
                if v.code.is_none() && !matches!(v.system, Some(Some(_))) {
                    return Err(format!("{name}={value:?}: an empty token value"));
                }
                values.push(v);
            }
            values.sort();
            values.dedup();
            conds.push(Cond {
                param: name.to_string(),
                values,
            });
        }
        conds.sort();
        conds.dedup();
        Ok(Restriction { conds })
    }

    /// True when `resource` meets every condition, evaluated on the index rows the store would
    /// write for it (so a read agrees with what a search finds).
    pub fn matches(&self, resource: &Value) -> bool {
        let Some(t) = resource.get("resourceType").and_then(Value::as_str) else {
            return false;
        };
        let reg = Registry::r4();
        self.conds.iter().all(|c| {
            let Some(sp) = reg.get(t, &c.param) else {
                return false;
            };
            // Token rows do not depend on the zone.
            let rows = crate::search::extract::rows_for_params(
                resource,
                std::iter::once(sp.as_ref()),
                &crate::fhir::time::Zone::Utc,
            );
            rows.iter()
                .any(|r| r.param == c.param && c.values.iter().any(|v| v.matches(r)))
        })
    }
}

/// One resource scope. Scopes that do not name resources (openid, launch, ...) and granular scopes
/// that cannot be enforced exactly are dropped at parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub context: Context,
    /// None: `*` (every type).
    pub resource: Option<String>,
    /// Granted letters among c, r, u, d, s.
    pub perms: String,
    /// v2 granular scope: only resources matching this.
    pub restriction: Option<Restriction>,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::try_parse(s).ok()
    }

    /// Like [`parse`](Self::parse), with the reason a scope is refused.
    pub fn try_parse(s: &str) -> Result<Scope, String> {
        let not_scope = || format!("{s}: not a SMART resource scope");
        let (ctx, rest) = s.split_once('/').ok_or_else(not_scope)?;
        let context = match ctx {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => return Err(not_scope()),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (res, act) = rest.split_once('.').ok_or_else(not_scope)?;
        let resource = match res {
            "*" => None,
            t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphabetic()) => Some(t.to_string()),
            _ => return Err(not_scope()),
        };
        let perms = match act {
            "read" => "rs".to_string(),
            "write" => "cud".to_string(),
            "*" => "cruds".to_string(),
            v2 => {
                // v2: a non-empty subsequence of "cruds", in that order.
                let order = "cruds";
                let mut pos = 0;
                for ch in v2.chars() {
                    match order[pos..].find(ch) {
                        Some(i) => pos += i + 1,
                        None => return Err(not_scope()),
                    }
                }
                if v2.is_empty() {
                    return Err(not_scope());
                }
                v2.to_string()
            }
        };
        let restriction = match (query, &resource) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(format!(
                    "{s}: a search restriction needs a resource type, not *"
                ));
            }
            (Some(q), Some(t)) => {
                if !(act.len() <= 5 && act.bytes().all(|b| b"cruds".contains(&b))) {
                    return Err(format!(
                        "{s}: a search restriction needs SMART v2 permissions (.rs, .cruds, ...)"
                    ));
                }
                Some(Restriction::parse(t, q).map_err(|e| format!("{s}: {e}"))?)
            }
        };
        Ok(Scope {
            context,
            resource,
            perms,
            restriction,
        })
    }

    fn allows(&self, resource_type: &str, perm: Perm) -> bool {
        self.resource.as_deref().is_none_or(|r| r == resource_type)
            && self.perms.contains(perm.letter())
    }

    /// True when holding `self` is enough to hand out `other`: same context, `*` or the same type,
    /// at least its permissions, and no restriction or the identical one.
    pub fn covers(&self, other: &Scope) -> bool {
        let types = match (&self.resource, &other.resource) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        let restriction = match (&self.restriction, &other.restriction) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        self.context == other.context
            && types
            && other.perms.chars().all(|c| self.perms.contains(c))
            && restriction
    }
}

/// Scopes that grant no resource access but are part of SMART App Launch.
const LAUNCH_SCOPES: [&str; 8] = [
    "launch",
    "launch/patient",
    "launch/encounter",
    "openid",
    "fhirUser",
    "profile",
    "offline_access",
    "online_access",
];

/// Checks a space-separated scope list given to `hms user add` / `hms client add`: every item must
/// be a SMART resource scope or a launch/identity scope, so that a typo is not silently granted
/// as nothing, and a granular scope the server cannot enforce exactly is refused with the reason.
pub fn check_list(scope: &str) -> Result<String, String> {
    let items: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !LAUNCH_SCOPES.contains(s))
        .collect();
    let unenforceable: Vec<String> = items
        .iter()
        .filter(|s| s.contains('?'))
        .filter_map(|s| Scope::try_parse(s).err())
        .collect();
    if !unenforceable.is_empty() {
        return Err(format!(
            "granular scope not supported: {}",
            unenforceable.join("; ")
        ));
    }
    let bad: Vec<&str> = items
        .into_iter()
        .filter(|s| Scope::parse(s).is_none())
        .collect();
    if !bad.is_empty() {
        return Err(format!(
            "not a SMART scope: {} (e.g. user/*.cruds, patient/Observation.rs, system/*.read, \
             launch/patient, offline_access)",
            bad.join(", ")
        ));
    }
    if scope.split_whitespace().next().is_none() {
        return Err("at least one scope is needed".into());
    }
    Ok(scope.to_string())
}

/// Parses a space-separated `scope` claim.
pub fn parse_all(scope: &str) -> Vec<Scope> {
    scope.split_whitespace().filter_map(Scope::parse).collect()
}

/// What a grant allows for one interaction on one type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Access {
    /// Some: only resources in this Patient's compartment (patient/ scopes with a `patient` claim).
    pub patient: Option<String>,
    /// Some: only resources matching one of these restrictions (granular scopes; alternatives).
    pub only: Option<Vec<Restriction>>,
}

impl Access {
    /// Every resource of the type.
    pub const FULL: Access = Access {
        patient: None,
        only: None,
    };

    /// The patient-compartment part alone (without the granular restrictions): what decides
    /// between "looks unknown" (404) and "refused" (403) for limited writes.
    pub fn compartment(&self) -> Access {
        Access {
            patient: self.patient.clone(),
            only: None,
        }
    }

    pub fn is_full(&self) -> bool {
        self.patient.is_none() && self.only.is_none()
    }

    /// True when `resource` is within this access: in the compartment and matching a restriction.
    pub fn admits(&self, resource: &Value) -> bool {
        self.patient
            .as_deref()
            .is_none_or(|p| crate::auth::compartment::contains(resource, p))
            && self
                .only
                .as_ref()
                .is_none_or(|alts| alts.iter().any(|r| r.matches(resource)))
    }

    /// The restriction as conditions a search can AND to its criteria (empty: unrestricted).
    /// Alternatives are only expressible when each is one condition on the same parameter (their
    /// values then form one OR list); otherwise Err, and the search must be refused, not widened.
    pub fn search_conds(&self) -> Result<Vec<Cond>, String> {
        let Some(alts) = &self.only else {
            return Ok(Vec::new());
        };
        match alts.as_slice() {
            [one] => Ok(one.conds.clone()),
            [first, ..]
                if alts.iter().all(|a| {
                    a.conds.len() == 1
                        && first.conds.len() == 1
                        && a.conds[0].param == first.conds[0].param
                }) =>
            {
                let mut values: Vec<TokenValue> = alts
                    .iter()
                    .flat_map(|a| a.conds[0].values.iter().cloned())
                    .collect();
                values.sort();
                values.dedup();
                Ok(vec![Cond {
                    param: first.conds[0].param.clone(),
                    values,
                }])
            }
            _ => Err(
                "the access token's granular scopes for this type are alternatives over different \
                 search parameters, which a search cannot combine; request one granular scope per \
                 type (or alternatives on one parameter) to search"
                    .into(),
            ),
        }
    }
}

/// The restrictions of the scopes giving access, as alternatives: None when one of them is
/// unrestricted. An alternative implied by a weaker one (a superset of its conditions) is dropped.
fn alternatives(scopes: &[&Scope]) -> Option<Vec<Restriction>> {
    let mut alts: Vec<Restriction> = scopes
        .iter()
        .map(|s| s.restriction.clone())
        .collect::<Option<Vec<_>>>()?;
    alts.sort();
    alts.dedup();
    let kept = alts
        .iter()
        .filter(|a| {
            !alts
                .iter()
                .any(|b| b != *a && b.conds.iter().all(|c| a.conds.contains(c)))
        })
        .cloned()
        .collect();
    Some(kept)
}

/// The best access `scopes` give for (type, perm): user/ or system/ scopes give access to every
/// resource, patient/ scopes within the token's patient; granular scopes limit either to matching
/// resources. user/system scopes win over patient/ ones, as without restrictions (a grant mixing
/// both for one type may so get less than both together, never more). None when nothing allows
/// it (or only patient/ scopes apply and the token carries no patient).
pub fn access(
    scopes: &[Scope],
    patient: Option<&str>,
    resource_type: &str,
    perm: Perm,
) -> Option<Access> {
    let allowing: Vec<&Scope> = scopes
        .iter()
        .filter(|s| s.allows(resource_type, perm))
        .collect();
    let wide: Vec<&Scope> = allowing
        .iter()
        .copied()
        .filter(|s| s.context != Context::Patient)
        .collect();
    if !wide.is_empty() {
        return Some(Access {
            patient: None,
            only: alternatives(&wide),
        });
    }
    if allowing.is_empty() {
        return None;
    }
    Some(Access {
        patient: Some(patient?.to_string()),
        only: alternatives(&allowing),
    })
}

/// True when some scope reads every type without a granular restriction (within the token's
/// patient at most): then a count over mixed types hides nothing from it.
pub fn reads_all_types(scopes: &[Scope]) -> bool {
    scopes
        .iter()
        .any(|s| s.resource.is_none() && s.restriction.is_none() && s.perms.contains('r'))
}

/// True when a `system/*` scope grants `perm` on every type: what admin operations (system history,
/// search across all types, Subscription event replay) need. `user/*` is not enough: it acts for a
/// person, not for the system.
pub fn system_wide(scopes: &[Scope], perm: Perm) -> bool {
    scopes.iter().any(|s| {
        s.context == Context::System && s.resource.is_none() && s.perms.contains(perm.letter())
    })
}

/// True when some scope carries a search restriction (such tokens cannot use chains or `_has`,
/// whose criteria would reach resources outside the restriction).
pub fn any_restricted(scopes: &[Scope]) -> bool {
    scopes.iter().any(|s| s.restriction.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CAT: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

    fn full() -> Option<Access> {
        Some(Access::FULL)
    }

    fn patient(p: &str) -> Option<Access> {
        Some(Access {
            patient: Some(p.into()),
            only: None,
        })
    }

    fn obs(category: &str) -> Value {
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
               "category": [{"coding": [{"system": CAT, "code": category}]}],
               "subject": {"reference": "Patient/p1"}})
    }

    #[test]
    fn scope_lists_for_the_cli() {
        let ok = "user/*.cruds patient/Observation.rs system/*.read launch/patient offline_access";
        assert_eq!(check_list(ok).as_deref(), Ok(ok));
        let err = check_list("user/*.cruds garbage scope!!").unwrap_err();
        assert!(
            err.starts_with("not a SMART scope: garbage, scope!!"),
            "{err}"
        );
        assert!(check_list("  ").is_err());
        let granular = format!("user/Condition.rs?category={CAT}|problem-list-item openid");
        assert_eq!(check_list(&granular).as_deref(), Ok(granular.as_str()));
        assert_eq!(
            check_list("user/*.cruds patient/Observation.rs?date=ge2020").unwrap_err(),
            "granular scope not supported: patient/Observation.rs?date=ge2020: \"date\" is a date \
             parameter; only token parameters can restrict a scope"
        );
    }

    #[test]
    fn granular_parse() {
        let s = Scope::parse(&format!(
            "patient/Observation.rs?code=http://loinc.org|1234-5,|x&category={CAT}|laboratory"
        ))
        .unwrap();
        assert_eq!(s.perms, "rs");
        assert_eq!(
            s.restriction,
            Some(Restriction {
                conds: vec![
                    Cond {
                        param: "category".into(),
                        values: vec![TokenValue {
                            system: Some(Some(CAT.into())),
                            code: Some("laboratory".into())
                        }]
                    },
                    Cond {
                        param: "code".into(),
                        values: vec![
                            TokenValue {
                                system: Some(None),
                                code: Some("x".into())
                            },
                            TokenValue {
                                system: Some(Some("http://loinc.org".into())),
                                code: Some("1234-5".into())
                            },
                        ]
                    },
                ]
            })
        );
        // Everything that cannot be enforced exactly is refused, with the reason.
        for (bad, why) in [
            ("patient/Observation.rs?date=2020", "is a date parameter"),
            (
                "patient/Observation.rs?subject=Patient/1",
                "is a reference parameter",
            ),
            ("patient/Observation.rs?code:not=x", "modifiers and chained"),
            (
                "patient/Observation.rs?subject.name=x",
                "modifiers and chained",
            ),
            (
                "patient/Observation.rs?bogus=x",
                "has no search parameter \"bogus\"",
            ),
            ("patient/Observation.rs?_id=x", "cannot restrict a scope"),
            ("patient/Observation.rs?code=a%7Cb", "no percent-encoding"),
            ("patient/Observation.rs?code=a\\,b", "no escapes"),
            ("patient/Observation.rs?code=", "no escapes"),
            ("patient/Observation.rs?code=|", "an empty token value"),
            ("patient/Observation.rs?code", "is not name=value"),
            ("patient/*.rs?code=x", "needs a resource type"),
            (
                "patient/Observation.read?code=x",
                "needs SMART v2 permissions",
            ),
        ] {
            let err = Scope::try_parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert_eq!(Scope::parse(bad), None);
        }
        assert!(Scope::parse("patient/Observation.rs?_tag=http://x|y").is_some());
        assert!(Scope::parse("patient/Observation.rs?category=http://x|").is_some());
    }

    #[test]
    fn restriction_matches_like_the_index() {
        let lab = Scope::parse(&format!("patient/Observation.rs?category={CAT}|laboratory"))
            .unwrap()
            .restriction
            .unwrap();
        assert!(lab.matches(&obs("laboratory")));
        assert!(!lab.matches(&obs("vital-signs")));
        let mut none = obs("laboratory");
        none.as_object_mut().unwrap().remove("category");
        assert!(!lab.matches(&none));
        // A bare code matches any system; `|code` only a coding without one.
        let bare = Restriction::parse("Observation", "category=laboratory").unwrap();
        assert!(bare.matches(&obs("laboratory")));
        let no_system = Restriction::parse("Observation", "category=|laboratory").unwrap();
        assert!(!no_system.matches(&obs("laboratory")));
        let any_code = Restriction::parse("Observation", &format!("category={CAT}|")).unwrap();
        assert!(any_code.matches(&obs("vital-signs")));
        // AND across parameters.
        let both = Restriction::parse("Observation", "category=laboratory&status=final").unwrap();
        assert!(both.matches(&obs("laboratory")));
        let mut prelim = obs("laboratory");
        prelim["status"] = json!("preliminary");
        assert!(!both.matches(&prelim));
        // A body of another type never matches.
        assert!(!lab.matches(
            &json!({"resourceType": "Condition", "subject": {"reference": "Patient/p1"}})
        ));
    }

    #[test]
    fn alternatives_and_search_conditions() {
        let s = parse_all(&format!(
            "patient/Observation.rs?category={CAT}|laboratory patient/Observation.rs?category={CAT}|vital-signs"
        ));
        let a = access(&s, Some("p1"), "Observation", Perm::Read).unwrap();
        assert_eq!(a.patient.as_deref(), Some("p1"));
        assert!(a.admits(&obs("laboratory")));
        assert!(a.admits(&obs("vital-signs")));
        assert!(!a.admits(&obs("survey")));
        let mut other = obs("laboratory");
        other["subject"] = json!({"reference": "Patient/p2"});
        assert!(!a.admits(&other));
        let conds = a.search_conds().unwrap();
        assert_eq!(conds.len(), 1);
        assert_eq!(
            conds[0]
                .values
                .iter()
                .map(TokenValue::to_search)
                .collect::<Vec<_>>(),
            vec![format!("{CAT}|laboratory"), format!("{CAT}|vital-signs")]
        );
        // Alternatives over different parameters: readable one by one, not searchable.
        let s = parse_all("user/Observation.rs?category=laboratory user/Observation.rs?code=x");
        let a = access(&s, None, "Observation", Perm::Search).unwrap();
        assert_eq!(a.patient, None);
        assert!(a.admits(&obs("laboratory")));
        assert!(a.search_conds().is_err());
        // An unrestricted scope for the type wins; a weaker alternative absorbs a stronger one.
        let s = parse_all("user/Observation.rs?category=laboratory user/Observation.r");
        assert_eq!(access(&s, None, "Observation", Perm::Read), full());
        assert_eq!(
            access(&s, None, "Observation", Perm::Search).unwrap().only,
            Some(vec![
                Restriction::parse("Observation", "category=laboratory").unwrap()
            ])
        );
        let s = parse_all(
            "user/Observation.rs?category=laboratory user/Observation.rs?category=laboratory&code=x",
        );
        let a = access(&s, None, "Observation", Perm::Search).unwrap();
        assert_eq!(a.search_conds().unwrap().len(), 1);
        // The restriction of one type does not reach another.
        assert_eq!(access(&s, None, "Condition", Perm::Read), None);
        let s = parse_all("patient/Observation.rs?category=laboratory patient/Patient.rs");
        assert_eq!(access(&s, Some("p1"), "Patient", Perm::Read), patient("p1"));
        assert!(any_restricted(&s));
        assert!(!any_restricted(&parse_all("patient/*.rs")));
    }

    #[test]
    fn coverage() {
        let c = |held: &str, wanted: &str| {
            Scope::parse(held)
                .unwrap()
                .covers(&Scope::parse(wanted).unwrap())
        };
        assert!(c("system/*.cruds", "system/Patient.rs"));
        assert!(c("system/*.*", "system/Patient.read"));
        assert!(c("system/*.read", "system/Patient.s"));
        assert!(c("system/*.rs", "system/Patient.rs?gender=male"));
        assert!(c("system/Patient.write", "system/Patient.cu"));
        assert!(!c("system/Patient.write", "system/Patient.r"));
        assert!(!c("system/Patient.rs", "system/*.rs"));
        assert!(!c("user/*.cruds", "system/Patient.rs"));
        assert!(!c("system/Patient.rs", "system/Observation.rs"));
        assert!(c(
            "patient/Observation.rs?category=laboratory&status=final",
            "patient/Observation.r?status=final&category=laboratory"
        ));
        assert!(!c(
            "patient/Observation.rs?category=laboratory",
            "patient/Observation.rs"
        ));
        assert!(!c(
            "patient/Observation.rs?category=laboratory",
            "patient/Observation.rs?category=laboratory&status=final"
        ));
    }

    #[test]
    fn v1_and_v2() {
        let s = parse_all(
            "openid launch patient/*.read user/Patient.write system/Observation.* patient/Encounter.rs x/y.z patient/Condition.sr patient/Obs.r?code=1",
        );
        assert_eq!(s.len(), 4);
        assert_eq!(access(&s, Some("p1"), "Observation", Perm::Read), full());
        assert_eq!(
            access(&s, Some("p1"), "Encounter", Perm::Search),
            patient("p1")
        );
        assert_eq!(access(&s, None, "Encounter", Perm::Search), None);
        assert_eq!(access(&s, Some("p1"), "Encounter", Perm::Create), None);
        assert_eq!(access(&s, Some("p1"), "Patient", Perm::Update), full());
        assert_eq!(access(&s, Some("p1"), "Patient", Perm::Delete), full());
        assert_eq!(access(&s, Some("p1"), "Claim", Perm::Create), None);
        assert_eq!(
            access(&parse_all("user/*.cruds"), None, "Claim", Perm::Delete),
            full()
        );
        assert_eq!(
            access(&parse_all("user/*.rs"), None, "Claim", Perm::Delete),
            None
        );
        assert!(system_wide(&parse_all("system/*.read"), Perm::Search));
        assert!(system_wide(&parse_all("system/*.rs"), Perm::Read));
        assert!(!system_wide(&parse_all("system/*.r"), Perm::Search));
        assert!(!system_wide(&parse_all("user/*.cruds"), Perm::Search));
        assert!(!system_wide(
            &parse_all("system/Patient.rs system/Observation.rs"),
            Perm::Search
        ));
    }
}
