//! Transport-free FHIR interactions. Each write is one database transaction: validate → store the
//! version and its index rows → commit; callers answer only after it returns.

pub mod audit;
pub mod auth;
pub mod billing;
pub mod everything;
pub mod fhirpath_patch;
pub mod history;
pub mod hl7_ingest;
pub mod json_patch;
pub mod oauth;
pub mod patch;
pub mod patient_locks;
pub mod patient_merge;
pub mod read;
pub mod reindex;
pub mod search;
pub mod subscription;
pub mod transaction;
pub mod write;

use serde_json::Value;

use crate::error::Error;
use crate::fhir::ids::ResourceType;
use crate::store::Store;

/// What the interactions need: the store (and, as they land, the search registry, audit, outbox).
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    /// Signs paging cursors; shared by every node on the same database.
    pub paging_secret: std::sync::Arc<String>,
    /// Subscription endpoints may be private addresses (tests, closed networks).
    pub allow_private_endpoints: bool,
    /// Bundle.total is counted up to this many matches unless `_total=accurate`.
    pub search_total_cap: i64,
    /// Read replicas (empty: everything reads the primary).
    pub replicas: crate::store::replica::Replicas,
    /// The requesting client's last write, for read-your-writes (set per request by the API).
    pub read_after: Option<crate::store::replica::WriteToken>,
    /// The store this request's reads use, chosen on first use so that every statement of one
    /// search sees the same database. The API clones `Services` per request, so the choice is too.
    /// The second field: whether that store is the primary.
    read_store: std::sync::OnceLock<(Store, bool)>,
    /// Group-commit writer of read audits (on the primary).
    pub audit: audit::writer::AuditWriter,
}

impl Services {
    pub fn new(store: Store) -> Result<Services, Error> {
        let secret = store.write(|c| -> Result<String, Error> {
            Ok(crate::store::secret::get_or_create(c, "paging")?)
        })?;
        Ok(Services {
            audit: audit::writer::AuditWriter::start(store.clone()),
            store,
            paging_secret: std::sync::Arc::new(secret),
            allow_private_endpoints: false,
            search_total_cap: crate::search::query::TOTAL_COUNT_CAP,
            replicas: Default::default(),
            read_after: None,
            read_store: std::sync::OnceLock::new(),
        })
    }

    /// Sends reads and searches to these replicas from now on.
    pub fn with_replicas(mut self, replicas: crate::store::replica::Replicas) -> Services {
        self.replicas = replicas;
        self
    }

    /// The same services for one request whose client last wrote at `token` (read-your-writes).
    pub fn for_request(&self, token: Option<crate::store::replica::WriteToken>) -> Services {
        let mut s = self.clone();
        s.read_after = token;
        s.read_store = std::sync::OnceLock::new();
        s
    }

    /// Where a read or search runs: a replica, unless read-your-writes needs the primary.
    pub fn reader(&self) -> &Store {
        if self.replicas.is_empty() {
            return &self.store;
        }
        let (store, _) = self.read_store.get_or_init(|| {
            let chosen = self.replicas.route(&self.store, self.read_after.as_ref());
            (chosen.clone(), std::ptr::eq(chosen, &self.store))
        });
        store
    }

    /// Whether this request's reads run on the primary (committed, never lagging data).
    pub fn reads_primary(&self) -> bool {
        if self.replicas.is_empty() {
            return true;
        }
        self.reader();
        self.read_store.get().is_some_and(|(_, primary)| *primary)
    }
}

/// The zone the search index was built in, as recorded in the database. Index writes and search
/// values without an offset both use it, so the index never mixes zones; `hms reindex` moves it to
/// the configured zone. Unrecorded (never started with this code): UTC, what older builds used.
pub fn index_zone(
    conn: &mut crate::store::AnyConnection,
) -> Result<crate::fhir::time::Zone, Error> {
    use crate::store::search_meta;
    match search_meta::get(conn, search_meta::ZONE)? {
        None => Ok(Default::default()),
        Some(name) => crate::fhir::time::Zone::parse(&name)
            .map_err(|e| Error::Internal(format!("recorded index zone: {e}"))),
    }
}

impl Services {
    /// `index_zone` on the store this request reads from.
    pub fn index_zone(&self) -> Result<crate::fhir::time::Zone, Error> {
        self.reader().read(index_zone)
    }
}

/// A version as the interactions hand it back.
#[derive(Debug, Clone)]
pub struct Stored {
    pub res_type: String,
    pub id: String,
    pub version: i64,
    pub last_updated: i64,
    /// Resource JSON as stored; None for a deletion.
    pub body: Option<Vec<u8>>,
}

impl Stored {
    pub fn from_version(v: crate::store::resources::Version) -> Result<Stored, Error> {
        let body = v.json()?;
        Ok(Stored {
            res_type: v.res_type,
            id: v.res_id,
            version: v.version,
            last_updated: v.last_updated,
            body,
        })
    }
}

/// Checks the resourceType element against the type the URL names.
pub fn check_type(resource: &Value, expected: &ResourceType) -> Result<(), Error> {
    match resource.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == expected.as_str() => Ok(()),
        Some(t) => Err(Error::invalid(
            Some("resourceType"),
            format!("resourceType {t:?} does not match the type in the URL ({expected})"),
        )),
        None => Err(Error::invalid(
            Some("resourceType"),
            "resourceType is missing",
        )),
    }
}
