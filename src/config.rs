//! Typed configuration. Precedence: built-in defaults < hms.toml < HMS_* environment < command-line
//! flags (clap reads the flag first, then the environment variable; the file fills what both left unset).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
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
    /// Database connections per process.  [default: 16 on PostgreSQL, 8 on SQLite]
    #[arg(long, env = "HMS_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
    /// HTTP worker threads.  [default: number of CPUs]
    #[arg(long, env = "HMS_HTTP_WORKERS", value_name = "N")]
    pub http_workers: Option<usize>,
    /// Log format: text or json.  [default: text]
    #[arg(long, env = "HMS_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Allow binding a non-loopback address although no authentication is configured.
    #[arg(long, env = "HMS_INSECURE_ALLOW_REMOTE")]
    pub insecure_allow_remote: bool,
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
    db_pool_size: Option<u32>,
    http_workers: Option<usize>,
    log_format: Option<String>,
    insecure_allow_remote: Option<bool>,
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
    pub db_pool_size: Option<u32>,
    pub http_workers: usize,
    pub log_format: LogFormat,
    pub insecure_allow_remote: bool,
}

impl std::fmt::Debug for Config {
    // The database URL can hold a password: it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("http_addr", &self.http_addr)
            .field("data_dir", &self.data_dir)
            .field("base_url", &self.base_url)
            .field("max_body_bytes", &self.max_body_bytes)
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
        Ok(Config {
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
            db_pool_size: args.db_pool_size.or(file.db_pool_size),
            http_workers: workers.max(1),
            log_format,
            insecure_allow_remote: args.insecure_allow_remote
                || file.insecure_allow_remote.unwrap_or(false),
        })
    }
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
