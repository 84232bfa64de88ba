//! SMART on FHIR scopes, v1 (`patient/*.read`, `user/Patient.write`, `system/*.*`) and v2
//! (`patient/Patient.rs`, `user/*.cruds`), checked per interaction and resource type. Pure code.

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

/// One resource scope. Scopes that do not name resources (openid, launch, ...) and v2 scopes with
/// a `?query` restriction (not supported: they would grant more than meant) are dropped at parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub context: Context,
    /// None: `*` (every type).
    pub resource: Option<String>,
    /// Granted letters among c, r, u, d, s.
    pub perms: String,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        let (ctx, rest) = s.split_once('/')?;
        let context = match ctx {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => return None,
        };
        if rest.contains('?') {
            return None;
        }
        let (res, act) = rest.split_once('.')?;
        let resource = match res {
            "*" => None,
            t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphabetic()) => Some(t.to_string()),
            _ => return None,
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
                        None => return None,
                    }
                }
                if v2.is_empty() {
                    return None;
                }
                v2.to_string()
            }
        };
        Some(Scope {
            context,
            resource,
            perms,
        })
    }

    fn allows(&self, resource_type: &str, perm: Perm) -> bool {
        self.resource.as_deref().is_none_or(|r| r == resource_type)
            && self.perms.contains(perm.letter())
    }
}

/// Parses a space-separated `scope` claim.
pub fn parse_all(scope: &str) -> Vec<Scope> {
    scope.split_whitespace().filter_map(Scope::parse).collect()
}

/// What a grant allows for one interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every resource of the type.
    Full,
    /// Only resources in this Patient's compartment (patient/ scopes with a `patient` claim).
    Patient(String),
}

/// The best access `scopes` give for (type, perm): a user/ or system/ scope gives full access, a
/// patient/ scope gives access within the token's patient; None when nothing allows it (or a
/// patient/ scope applies but the token carries no patient).
pub fn access(
    scopes: &[Scope],
    patient: Option<&str>,
    resource_type: &str,
    perm: Perm,
) -> Option<Access> {
    let mut patient_ok = false;
    for s in scopes.iter().filter(|s| s.allows(resource_type, perm)) {
        match s.context {
            Context::User | Context::System => return Some(Access::Full),
            Context::Patient => patient_ok = true,
        }
    }
    match (patient_ok, patient) {
        (true, Some(p)) => Some(Access::Patient(p.to_string())),
        _ => None,
    }
}

/// True when a `system/*` scope grants `perm` on every type: what admin operations (system history,
/// search across all types, Subscription event replay) need. `user/*` is not enough: it acts for a
/// person, not for the system.
pub fn system_wide(scopes: &[Scope], perm: Perm) -> bool {
    scopes.iter().any(|s| {
        s.context == Context::System && s.resource.is_none() && s.perms.contains(perm.letter())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2() {
        let s = parse_all(
            "openid launch patient/*.read user/Patient.write system/Observation.* patient/Encounter.rs x/y.z patient/Condition.sr patient/Obs.r?code=1",
        );
        assert_eq!(s.len(), 4);
        assert_eq!(
            access(&s, Some("p1"), "Observation", Perm::Read),
            Some(Access::Full)
        );
        assert_eq!(
            access(&s, Some("p1"), "Encounter", Perm::Search),
            Some(Access::Patient("p1".into()))
        );
        assert_eq!(access(&s, None, "Encounter", Perm::Search), None);
        assert_eq!(access(&s, Some("p1"), "Encounter", Perm::Create), None);
        assert_eq!(
            access(&s, Some("p1"), "Patient", Perm::Update),
            Some(Access::Full)
        );
        assert_eq!(
            access(&s, Some("p1"), "Patient", Perm::Delete),
            Some(Access::Full)
        );
        assert_eq!(access(&s, Some("p1"), "Claim", Perm::Create), None);
        assert_eq!(
            access(&parse_all("user/*.cruds"), None, "Claim", Perm::Delete),
            Some(Access::Full)
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
