//! Typed configuration. Precedence: built-in defaults < hms.toml < HMS_* environment < command-line
//! flags (clap reads the flag first, then the environment variable; the file fills what both left unset).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use hms_hl7v2::map::MappingConfig;
use serde::Deserialize;

/// Server options shared by `serve`, `migrate` and the other commands that open the store.
#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    /// Configuration file (TOML). Default: ./hms.toml when it exists.
    #[arg(long, env = "HMS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTP listen address.  [default: 127.0.0.1:8080]
    #[arg(long = "http", env = "HMS_HTTP_ADDR", value_name = "ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Directory for local state: the SQLite database file (hms.db) and other files.  [default: ./hms-data]
    #[arg(long, env = "HMS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: postgres://user:pass@host/db or sqlite://path/to/file.db.  [default: sqlite file in the data dir]
    #[arg(long, env = "HMS_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Read replicas (comma separated database URLs): reads and searches go there, writes to the primary.
    #[arg(
        long,
        env = "HMS_DATABASE_REPLICA_URLS",
        value_name = "URLS",
        value_delimiter = ','
    )]
    pub database_replica_urls: Option<Vec<String>>,
    /// Public FHIR base URL used in Location headers and Bundle links.  [default: from the request's Host header]
    #[arg(long, env = "HMS_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Largest accepted request body in bytes.  [default: 16777216]
    #[arg(long, env = "HMS_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most entries accepted in one transaction/batch Bundle (more → 413).  [default: 10000]
    #[arg(long, env = "HMS_MAX_BUNDLE_ENTRIES", value_name = "N")]
    pub max_bundle_entries: Option<usize>,
    /// Default Bundle.total: given when the first page holds every match or a criterion narrows the candidates to at most N, left out otherwise (`_total=accurate` always counts; a full count over millions of rows costs seconds). Also the most index rows a search-planning probe reads.  [default: 1000]
    #[arg(long, env = "HMS_SEARCH_TOTAL_CAP", value_name = "N")]
    pub search_total_cap: Option<i64>,
    /// Database connections per process.  [default: 16 on PostgreSQL, 8 on SQLite]
    #[arg(long, env = "HMS_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
    /// HTTP worker threads.  [default: number of CPUs]
    #[arg(long, env = "HMS_HTTP_WORKERS", value_name = "N")]
    pub http_workers: Option<usize>,
    /// Read cache budget in MiB (in-process; with HMS_REDIS_URL the cache lives in Redis); 0 = off.  [default: 64]
    #[arg(long, env = "HMS_CACHE_SIZE", value_name = "MIB")]
    pub cache_size: Option<u64>,
    /// Read cache entries expire after this many seconds.  [default: 300]
    #[arg(long, env = "HMS_CACHE_TTL_SECS", value_name = "SECS")]
    pub cache_ttl_secs: Option<u64>,
    /// Confirm every read cache hit with a version-only query (several nodes without Redis).
    #[arg(long, env = "HMS_CACHE_VALIDATE")]
    pub cache_validate: bool,
    /// Log format: text or json.  [default: text]
    #[arg(long, env = "HMS_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Allow binding a non-loopback address although no authentication is configured.
    #[arg(long, env = "HMS_INSECURE_ALLOW_REMOTE")]
    pub insecure_allow_remote: bool,
    /// PEM certificate chain: serve HTTPS (TLS 1.2+) instead of HTTP (needs --tls-key).
    #[arg(long, env = "HMS_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "HMS_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Authentication: none, builtin (users, clients and tokens in this server) or external
    /// (validate RS256 JWTs from an external authorization server).  [default: none]
    #[arg(long, env = "HMS_AUTH", value_name = "MODE")]
    pub auth: Option<String>,
    /// Issuer (`iss`) of the tokens this server issues in builtin mode.  [default: <scheme>://<host>/auth]
    #[arg(long, env = "HMS_AUTH_ISSUER", value_name = "URL")]
    pub auth_issuer: Option<String>,
    /// External mode: accepted token issuers, comma-separated.
    #[arg(long, env = "HMS_AUTH_ISSUERS", value_name = "URLS")]
    pub auth_issuers: Option<String>,
    /// External mode: JSON Web Key Set file with the issuers' public keys.  [default: discovered
    /// from each issuer's /.well-known/openid-configuration]
    #[arg(long, env = "HMS_AUTH_JWKS_FILE", value_name = "FILE")]
    pub auth_jwks_file: Option<PathBuf>,
    /// HL7 v2 MLLP listen address.  [default: 127.0.0.1:2575]
    #[arg(long = "mllp", env = "HMS_MLLP_ADDR", value_name = "ADDR")]
    pub mllp_addr: Option<SocketAddr>,
    /// Do not start the MLLP listener.
    #[arg(long, env = "HMS_NO_MLLP")]
    pub no_mllp: bool,
    /// PEM certificate chain: serve MLLP over TLS (needs --mllp-tls-key).
    #[arg(long, env = "HMS_MLLP_TLS_CERT", value_name = "FILE")]
    pub mllp_tls_cert: Option<PathBuf>,
    /// PEM private key for --mllp-tls-cert.
    #[arg(long, env = "HMS_MLLP_TLS_KEY", value_name = "FILE")]
    pub mllp_tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): MLLP TLS peers must present a client certificate signed by one of
    /// them (refused at the handshake otherwise).
    #[arg(long, env = "HMS_MLLP_TLS_CLIENT_CA", value_name = "FILE")]
    pub mllp_tls_client_ca: Option<PathBuf>,
    /// Largest accepted HL7 message (MLLP frame payload) in bytes.  [default: 1048576]
    #[arg(long, env = "HMS_MLLP_MAX_FRAME_BYTES", value_name = "BYTES")]
    pub mllp_max_frame_bytes: Option<usize>,
    /// Close an MLLP connection idle for this many seconds.  [default: 300]
    #[arg(long, env = "HMS_MLLP_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub mllp_idle_timeout_secs: Option<u64>,
    /// Most concurrent MLLP connections; more are closed at once.  [default: 64]
    #[arg(long, env = "HMS_MLLP_MAX_CONNECTIONS", value_name = "N")]
    pub mllp_max_connections: Option<usize>,
    /// X12 interchange sender id (ISA06, GS02, 837P submitter ETIN).  [default: HMSINTEROP]
    #[arg(long, env = "HMS_X12_SENDER_ID", value_name = "ID")]
    pub x12_sender_id: Option<String>,
    /// X12 interchange receiver id (ISA08, GS03, 837P receiver).  [default: RECEIVER]
    #[arg(long, env = "HMS_X12_RECEIVER_ID", value_name = "ID")]
    pub x12_receiver_id: Option<String>,
    /// X12 usage indicator (ISA15): T (test) or P (production).  [default: T]
    #[arg(long, env = "HMS_X12_USAGE", value_name = "T|P")]
    pub x12_usage: Option<String>,
    /// Zone in which dates and dateTimes WITHOUT an offset are read, for the search index and for
    /// search values: UTC, a fixed offset (+05:30) or an IANA name (Europe/Berlin). Changing it
    /// needs `hms reindex`.  [default: UTC]
    #[arg(long, env = "HMS_SEARCH_TIMEZONE", value_name = "ZONE")]
    pub search_timezone: Option<String>,
    #[command(flatten)]
    pub sync: crate::sync::config::SyncArgs,
    #[command(flatten)]
    pub edge: crate::api::edge::EdgeArgs,
}

/// The same options as read from hms.toml (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http_addr: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_replica_urls: Option<Vec<String>>,
    base_url: Option<String>,
    max_body_bytes: Option<usize>,
    max_bundle_entries: Option<usize>,
    search_total_cap: Option<i64>,
    db_pool_size: Option<u32>,
    http_workers: Option<usize>,
    cache_size: Option<u64>,
    cache_ttl_secs: Option<u64>,
    cache_validate: Option<bool>,
    log_format: Option<String>,
    insecure_allow_remote: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    auth: Option<String>,
    auth_issuer: Option<String>,
    auth_issuers: Option<String>,
    auth_jwks_file: Option<PathBuf>,
    mllp_addr: Option<SocketAddr>,
    no_mllp: Option<bool>,
    mllp_tls_cert: Option<PathBuf>,
    mllp_tls_key: Option<PathBuf>,
    mllp_tls_client_ca: Option<PathBuf>,
    mllp_max_frame_bytes: Option<usize>,
    mllp_idle_timeout_secs: Option<u64>,
    mllp_max_connections: Option<usize>,
    x12_sender_id: Option<String>,
    x12_receiver_id: Option<String>,
    x12_usage: Option<String>,
    search_timezone: Option<String>,
    // Sync (see crate::sync::config).
    allow_private_endpoints: Option<bool>,
    sync_poll_interval_ms: Option<u64>,
    redis_url: Option<String>,
    mirror_url: Option<String>,
    mirror_token: Option<String>,
    mirror_conflict: Option<String>,
    sync_retry_base_ms: Option<u64>,
    sync_retry_max_ms: Option<u64>,
    sync_max_attempts: Option<u32>,
    sync_lease_ms: Option<u64>,
    sync_disabled: Option<bool>,
    hl7_destinations: Option<Vec<String>>,
    outbox_retention: Option<String>,
    // Edge (see crate::api::edge).
    rate_limit_per_ip: Option<String>,
    rate_limit_per_client: Option<String>,
    rate_limit_burst: Option<u64>,
    cors_origins: Option<Vec<String>>,
    allowed_hosts: Option<Vec<String>>,
    /// Site overrides of the HL7 v2 → FHIR mapping (`[hl7]` table; maps only fit a file).
    hl7: Option<Hl7File>,
}

/// The `[hl7]` table of hms.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hl7File {
    default_system_prefix: Option<String>,
    default_offset: Option<String>,
    assigning_authorities: Option<HashMap<String, String>>,
    patient_class: Option<HashMap<String, String>>,
}

#[derive(Clone)]
pub struct Config {
    pub http_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Read replicas; empty: every read uses the primary.
    pub database_replica_urls: Vec<String>,
    /// PostgreSQL schema to use instead of `public` (tests isolate themselves this way).
    pub database_schema: Option<String>,
    pub base_url: Option<String>,
    pub max_body_bytes: usize,
    pub max_bundle_entries: usize,
    /// See `ServerArgs::search_total_cap`.
    pub search_total_cap: i64,
    pub db_pool_size: Option<u32>,
    pub http_workers: usize,
    /// The read cache (the Redis URL is the sync one).
    pub cache: crate::store::cache::CacheSettings,
    pub log_format: LogFormat,
    pub insecure_allow_remote: bool,
    pub sync: crate::sync::config::SyncConfig,
    /// HTTPS: (certificate chain, private key) PEM files; None serves plain HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub auth: AuthConfig,
    pub mllp: MllpConfig,
    /// HL7 v2 → FHIR mapping with the site's overrides.
    pub hl7: MappingConfig,
    /// X12 envelope settings (billing).
    pub x12: X12Config,
    /// Where dates without an offset are read by the search index (see `fhir::time::Zone`).
    pub search_zone: crate::fhir::time::Zone,
    /// Rate limits, CORS, allowed hosts.
    pub edge: crate::api::edge::EdgeConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// No authentication (loopback only unless --insecure-allow-remote).
    #[default]
    None,
    /// Users, clients and HS256 access tokens managed by this server.
    Builtin,
    /// RS256 access tokens from an external authorization server, checked against a JWKS.
    External,
}

/// How /fhir requests are authenticated.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// Builtin: the `iss` of issued tokens (None: derived from the request).
    pub issuer: Option<String>,
    /// External: accepted issuers.
    pub external_issuers: Vec<String>,
    /// External: JWKS file; None discovers each issuer's `jwks_uri` through
    /// `/.well-known/openid-configuration`.
    pub jwks_file: Option<PathBuf>,
}

/// The HL7 v2 MLLP listener.
#[derive(Debug, Clone)]
pub struct MllpConfig {
    /// None: no listener.
    pub addr: Option<SocketAddr>,
    /// (certificate chain, private key) PEM files: TLS when set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// PEM CA file: TLS peers must present a client certificate it signed.
    pub tls_client_ca: Option<PathBuf>,
    pub max_frame_bytes: usize,
    pub idle_timeout: std::time::Duration,
    pub max_connections: usize,
}

/// Who we are in X12 interchanges. Qualifiers are ZZ (mutually defined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X12Config {
    pub sender_id: String,
    pub receiver_id: String,
    /// ISA15: true = P (production), false = T (test).
    pub production: bool,
}

impl std::fmt::Debug for Config {
    // The database URL can hold a password: it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("http_addr", &self.http_addr)
            .field("data_dir", &self.data_dir)
            .field("base_url", &self.base_url)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("mllp", &self.mllp)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    pub fn load(args: &ServerArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(p) => read_file(p)?,
            None if Path::new("hms.toml").exists() => read_file(Path::new("hms.toml"))?,
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("hms-data"));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("hms.db").display()));
        let log_format = match args.log_format.clone().or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "log format must be text or json, got {other:?}"
                )));
            }
        };
        let workers = args.http_workers.or(file.http_workers).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        let no_mllp = args.no_mllp || file.no_mllp.unwrap_or(false);
        let tls = match (
            args.mllp_tls_cert.clone().or(file.mllp_tls_cert),
            args.mllp_tls_key.clone().or(file.mllp_tls_key),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "MLLP over TLS needs both --mllp-tls-cert and --mllp-tls-key".into(),
                ));
            }
        };
        let tls_client_ca = args.mllp_tls_client_ca.clone().or(file.mllp_tls_client_ca);
        if tls_client_ca.is_some() && tls.is_none() {
            return Err(ConfigError::Invalid(
                "--mllp-tls-client-ca needs MLLP over TLS (--mllp-tls-cert and --mllp-tls-key)"
                    .into(),
            ));
        }
        let http_tls = match (
            args.tls_cert.clone().or(file.tls_cert),
            args.tls_key.clone().or(file.tls_key),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "HTTPS needs both --tls-cert and --tls-key".into(),
                ));
            }
        };
        let mode = match args.auth.clone().or(file.auth).as_deref().map(str::trim) {
            None | Some("none") => AuthMode::None,
            Some("builtin") => AuthMode::Builtin,
            Some("external") => AuthMode::External,
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "auth must be none, builtin or external, got {other:?}"
                )));
            }
        };
        let external_issuers: Vec<String> = args
            .auth_issuers
            .clone()
            .or(file.auth_issuers)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let jwks_file = args.auth_jwks_file.clone().or(file.auth_jwks_file);
        if mode == AuthMode::External && external_issuers.is_empty() {
            return Err(ConfigError::Invalid(
                "--auth external needs --auth-issuers (HMS_AUTH_ISSUERS)".into(),
            ));
        }
        let auth = AuthConfig {
            mode,
            issuer: args.auth_issuer.clone().or(file.auth_issuer),
            external_issuers,
            jwks_file,
        };
        let mllp = MllpConfig {
            addr: (!no_mllp).then(|| {
                args.mllp_addr
                    .or(file.mllp_addr)
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 2575)))
            }),
            tls,
            tls_client_ca,
            max_frame_bytes: args
                .mllp_max_frame_bytes
                .or(file.mllp_max_frame_bytes)
                .unwrap_or(1024 * 1024)
                .max(64),
            idle_timeout: std::time::Duration::from_secs(
                args.mllp_idle_timeout_secs
                    .or(file.mllp_idle_timeout_secs)
                    .unwrap_or(300)
                    .max(1),
            ),
            max_connections: args
                .mllp_max_connections
                .or(file.mllp_max_connections)
                .unwrap_or(64)
                .max(1),
        };
        let x12 = x12_config(
            args.x12_sender_id.clone().or(file.x12_sender_id),
            args.x12_receiver_id.clone().or(file.x12_receiver_id),
            args.x12_usage.clone().or(file.x12_usage),
        )?;
        let search_zone = match args.search_timezone.clone().or(file.search_timezone) {
            None => crate::fhir::time::Zone::Utc,
            Some(z) => crate::fhir::time::Zone::parse(&z)
                .map_err(|e| ConfigError::Invalid(format!("search timezone: {e}")))?,
        };
        let hl7 = hl7_mapping(file.hl7.unwrap_or_default())?;
        let sync = crate::sync::config::SyncConfig::resolve(
            &args.sync,
            crate::sync::config::SyncFile {
                allow_private_endpoints: file.allow_private_endpoints,
                sync_poll_interval_ms: file.sync_poll_interval_ms,
                redis_url: file.redis_url.clone(),
                mirror_url: file.mirror_url.clone(),
                mirror_token: file.mirror_token.clone(),
                mirror_conflict: file.mirror_conflict.clone(),
                sync_retry_base_ms: file.sync_retry_base_ms,
                sync_retry_max_ms: file.sync_retry_max_ms,
                sync_max_attempts: file.sync_max_attempts,
                sync_lease_ms: file.sync_lease_ms,
                sync_disabled: file.sync_disabled,
                hl7_destinations: file.hl7_destinations.clone(),
                outbox_retention: file.outbox_retention.clone(),
            },
        )
        .map_err(ConfigError::Invalid)?;
        let edge = crate::api::edge::EdgeConfig::resolve(
            &args.edge,
            crate::api::edge::EdgeFile {
                rate_limit_per_ip: file.rate_limit_per_ip.clone(),
                rate_limit_per_client: file.rate_limit_per_client.clone(),
                rate_limit_burst: file.rate_limit_burst,
                cors_origins: file.cors_origins.clone(),
                allowed_hosts: file.allowed_hosts.clone(),
            },
        )
        .map_err(ConfigError::Invalid)?;
        let cache = crate::store::cache::CacheSettings {
            size_mib: args.cache_size.or(file.cache_size).unwrap_or(64),
            ttl: std::time::Duration::from_secs(
                args.cache_ttl_secs
                    .or(file.cache_ttl_secs)
                    .unwrap_or(300)
                    .max(1),
            ),
            validate: args.cache_validate || file.cache_validate.unwrap_or(false),
            redis_url: sync.redis_url.clone(),
        };
        Ok(Config {
            edge,
            cache,
            mllp,
            hl7,
            http_addr: args
                .http_addr
                .or(file.http_addr)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            database_url,
            database_replica_urls: args
                .database_replica_urls
                .clone()
                .or(file.database_replica_urls)
                .unwrap_or_default()
                .into_iter()
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .collect(),
            database_schema: None,
            base_url: args.base_url.clone().or(file.base_url),
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(16 * 1024 * 1024),
            max_bundle_entries: args
                .max_bundle_entries
                .or(file.max_bundle_entries)
                .unwrap_or(crate::interactions::transaction::DEFAULT_MAX_ENTRIES),
            search_total_cap: args
                .search_total_cap
                .or(file.search_total_cap)
                .unwrap_or(crate::search::query::TOTAL_COUNT_CAP)
                .max(0),
            db_pool_size: args.db_pool_size.or(file.db_pool_size),
            http_workers: workers.max(1),
            log_format,
            insecure_allow_remote: args.insecure_allow_remote
                || file.insecure_allow_remote.unwrap_or(false),
            x12,
            search_zone,
            sync,
            tls: http_tls,
            auth,
        })
    }
}

/// ISA06/ISA08 are at most 15 characters of the X12 basic/extended set (no delimiters).
fn x12_id(name: &str, value: String) -> Result<String, ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 15
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" .-_/".contains(&b));
    if ok {
        Ok(value)
    } else {
        Err(ConfigError::Invalid(format!(
            "{name} must be 1-15 characters of A-Z, 0-9, space, '.', '-', '_' or '/', got {value:?}"
        )))
    }
}

fn x12_config(
    sender: Option<String>,
    receiver: Option<String>,
    usage: Option<String>,
) -> Result<X12Config, ConfigError> {
    let production = match usage.as_deref().map(str::trim) {
        None | Some("T") | Some("t") => false,
        Some("P") | Some("p") => true,
        Some(other) => {
            return Err(ConfigError::Invalid(format!(
                "x12_usage must be T or P, got {other:?}"
            )));
        }
    };
    Ok(X12Config {
        sender_id: x12_id(
            "x12_sender_id",
            sender.unwrap_or_else(|| "HMSINTEROP".into()),
        )?,
        receiver_id: x12_id(
            "x12_receiver_id",
            receiver.unwrap_or_else(|| "RECEIVER".into()),
        )?,
        production,
    })
}

/// The built-in mapping with the `[hl7]` overrides applied, checked so a typo fails at start-up
/// instead of producing odd identifiers.
fn hl7_mapping(f: Hl7File) -> Result<MappingConfig, ConfigError> {
    let mut m = MappingConfig::default();
    let bad = |what: String| Err(ConfigError::Invalid(format!("[hl7] {what}")));
    // Systems end up in `identifier=system|value` searches: no '|', no blanks.
    let is_uri = |s: &str| {
        s.contains(':') && !s.is_empty() && !s.contains('|') && !s.contains(char::is_whitespace)
    };
    if let Some(p) = f.default_system_prefix {
        if !is_uri(&p) {
            return bad(format!(
                "default_system_prefix must be a URI prefix without '|' or blanks, got {p:?}"
            ));
        }
        m.default_system_prefix = p;
    }
    if let Some(o) = f.default_offset {
        let b = o.as_bytes();
        let ok = b.len() == 6
            && (b[0] == b'+' || b[0] == b'-')
            && b[3] == b':'
            && [1, 2, 4, 5].iter().all(|&i| b[i].is_ascii_digit())
            && o[1..3] <= *"14"
            && o[4..6] < *"60";
        if !ok {
            return bad(format!(
                "default_offset must be +HH:MM or -HH:MM, got {o:?}"
            ));
        }
        m.default_offset = o;
    }
    for (authority, system) in f.assigning_authorities.unwrap_or_default() {
        if authority.is_empty() || !is_uri(&system) {
            return bad(format!(
                "assigning_authorities: {authority:?} = {system:?}: the system must be a URI without '|' or blanks"
            ));
        }
        m.assigning_authority_systems.insert(authority, system);
    }
    for (class, code) in f.patient_class.unwrap_or_default() {
        if class.is_empty() || code.is_empty() || !code.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return bad(format!(
                "patient_class: {class:?} = {code:?}: the value must be a v3 ActCode code (letters, digits)"
            ));
        }
        m.class_overrides.insert(class, code);
    }
    Ok(m)
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::load(&ServerArgs {
            config: Some(PathBuf::from("/nonexistent/hms.toml")),
            ..Default::default()
        });
        assert!(matches!(c, Err(ConfigError::Read { .. })));
        let c = Config::load(&ServerArgs::default()).unwrap();
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://hms-data/hms.db");
        assert_eq!(c.mllp.addr.unwrap().to_string(), "127.0.0.1:2575");
        assert_eq!(c.mllp.max_frame_bytes, 1024 * 1024);
        let c = Config::load(&ServerArgs {
            no_mllp: true,
            ..Default::default()
        })
        .unwrap();
        assert!(c.mllp.addr.is_none());
        let c = Config::load(&ServerArgs {
            mllp_tls_cert: Some(PathBuf::from("c.pem")),
            ..Default::default()
        });
        assert!(matches!(c, Err(ConfigError::Invalid(_))));
        let c = Config::load(&ServerArgs {
            mllp_tls_client_ca: Some(PathBuf::from("ca.pem")),
            ..Default::default()
        });
        assert!(matches!(c, Err(ConfigError::Invalid(_))));
        let c = Config::load(&ServerArgs::default()).unwrap();
        assert_eq!(c.x12.sender_id, "HMSINTEROP");
        assert_eq!(c.hl7, MappingConfig::default());
        assert!(!c.x12.production);
    }

    #[test]
    fn search_timezone_file_then_flag() {
        use crate::fhir::time::Zone;
        assert_eq!(
            Config::load(&ServerArgs::default()).unwrap().search_zone,
            Zone::Utc
        );
        let dir = std::env::temp_dir().join(format!("hms-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hms.toml");
        std::fs::write(&path, "search_timezone = \"Europe/Berlin\"\n").unwrap();
        let file_only = ServerArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let c = Config::load(&file_only).unwrap();
        assert_eq!(c.search_zone.name(), "Europe/Berlin");
        let c = Config::load(&ServerArgs {
            search_timezone: Some("+05:30".into()),
            ..file_only
        })
        .unwrap();
        assert_eq!(c.search_zone.name(), "+05:30");
        let c = Config::load(&ServerArgs {
            search_timezone: Some("Nowhere/Else".into()),
            ..Default::default()
        });
        assert!(matches!(c, Err(ConfigError::Invalid(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn x12_settings_are_checked() {
        let c = x12_config(Some("ACME".into()), Some("PAYER1".into()), Some("P".into())).unwrap();
        assert_eq!((c.sender_id.as_str(), c.production), ("ACME", true));
        assert!(x12_config(Some("A*B".into()), None, None).is_err());
        assert!(x12_config(Some("X".repeat(16)), None, None).is_err());
        assert!(x12_config(None, None, Some("X".into())).is_err());
    }

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("hms-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hms.toml");
        std::fs::write(
            &path,
            "http_addr = \"127.0.0.1:9999\"\ndata_dir = \"/tmp/x\"\nmax_body_bytes = 10\n",
        )
        .unwrap();
        let c = Config::load(&ServerArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:9999");
        assert_eq!(c.database_url, "sqlite:///tmp/x/hms.db");
        assert_eq!(c.max_body_bytes, 10);
        let c = Config::load(&ServerArgs {
            config: Some(path.clone()),
            http_addr: Some("127.0.0.1:7000".parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:7000");
        std::fs::write(
            &path,
            "rate_limit_per_ip = \"50/s\"\nrate_limit_per_client = \"off\"\nrate_limit_burst = 10\n\
             cors_origins = [\"https://app.example.org\"]\nallowed_hosts = [\"fhir.example.org\"]\n",
        )
        .unwrap();
        let c = Config::load(&ServerArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        let ip = c.edge.per_ip.unwrap();
        assert_eq!((ip.interval_us, ip.burst), (20_000, 10));
        assert_eq!(c.edge.per_client, None);
        assert_eq!(
            c.edge.cors,
            crate::api::edge::cors::Origins::List(vec!["https://app.example.org".into()])
        );
        assert_eq!(c.edge.allowed_hosts, Some(vec!["fhir.example.org".into()]));
        std::fs::write(&path, "rate_limit_per_ip = \"5/fortnight\"\n").unwrap();
        assert!(matches!(
            Config::load(&ServerArgs {
                config: Some(path.clone()),
                ..Default::default()
            }),
            Err(ConfigError::Invalid(_))
        ));
        std::fs::write(
            &path,
            "[hl7]\ndefault_offset = \"-05:00\"\n[hl7.assigning_authorities]\nMRN_HOSP = \"urn:oid:1.2.3\"\n[hl7.patient_class]\nO = \"AMB\"\n",
        )
        .unwrap();
        let c = Config::load(&ServerArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.hl7.default_offset, "-05:00");
        assert_eq!(c.hl7.default_system_prefix, "urn:hms:id:");
        assert_eq!(
            c.hl7.assigning_authority_systems,
            HashMap::from([("MRN_HOSP".to_string(), "urn:oid:1.2.3".to_string())])
        );
        assert_eq!(
            c.hl7.class_overrides,
            HashMap::from([("O".to_string(), "AMB".to_string())])
        );
        for bad in [
            "[hl7.assigning_authorities]\nX = \"urn:a|b\"\n",
            "[hl7]\ndefault_offset = \"+0500\"\n",
            "[hl7.patient_class]\nE = \"\"\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            let r = Config::load(&ServerArgs {
                config: Some(path.clone()),
                ..Default::default()
            });
            assert!(matches!(r, Err(ConfigError::Invalid(_))), "{bad}");
        }
        std::fs::write(&path, "[hl7]\nbogus = 1\n").unwrap();
        assert!(matches!(
            Config::load(&ServerArgs {
                config: Some(path.clone()),
                ..Default::default()
            }),
            Err(ConfigError::Parse { .. })
        ));
        std::fs::write(&path, "bogus = 1\n").unwrap();
        assert!(matches!(
            Config::load(&ServerArgs {
                config: Some(path),
                ..Default::default()
            }),
            Err(ConfigError::Parse { .. })
        ));
    }
}
