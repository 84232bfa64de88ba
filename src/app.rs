//! Composition root: open the store, migrate, build the HTTP server. Used by `hms serve` and by the
//! integration tests, so tests run exactly what production runs.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::api::{self, AppState};
use crate::config::Config;

use crate::interactions::Services;
use crate::interactions::hl7_ingest::Hl7Ingest;
use crate::mllp::listener::MllpHandle;
use crate::store::{DbTarget, Store, migrate};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Mllp(#[from] crate::mllp::listener::ListenError),
    // The io error is in the message, not a `source`: an error chain would print it twice.
    #[error("cannot listen on {addr}: {error} (choose another address with --http ADDR)")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// Opens the configured database and applies pending migrations.
pub fn open_store(config: &Config) -> Result<Store, StartError> {
    let mut target =
        DbTarget::parse(&config.database_url).map_err(|e| StartError::Config(e.to_string()))?;
    if let Some(schema) = &config.database_schema {
        if !schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StartError::Config(format!(
                "invalid schema name {schema:?}"
            )));
        }
        target.schema = Some(schema.clone());
    }
    let pool_size = config.db_pool_size.unwrap_or(match target.backend {
        crate::store::Backend::Postgres => 16,
        crate::store::Backend::Sqlite => 8,
    });
    tracing::info!(database = %target.describe(), pool_size, "opening database");
    let store = Store::open(target, pool_size)?;
    let applied = migrate::run_pending(&store)?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied database migrations");
    }
    check_index(&store, &config.search_zone)?;
    attach_cache(store, config)
}

/// Adds the read cache. Its Redis keys carry a per-database secret, so that every process on the
/// same database shares entries and no two databases do.
pub fn attach_cache(store: Store, config: &Config) -> Result<Store, StartError> {
    let mut settings = config.cache.clone();
    // The Redis URL is read at startup; tests and tools may set it after Config::load.
    settings.redis_url = config.sync.redis_url.clone();
    if settings.size_mib == 0 {
        return Ok(store);
    }
    let namespace = store.write(|c| crate::store::secret::get_or_create(c, "cache-namespace"))?;
    let namespace = namespace.get(..16).unwrap_or(&namespace).to_string();
    let cache = crate::store::cache::ResourceCache::new(&settings, &namespace)
        .map_err(|e| StartError::Config(format!("read cache: {e}")))?;
    if let Some(c) = &cache {
        tracing::info!(
            backend = c.backend_name(),
            validate = c.validates(),
            "read cache on"
        );
    }
    Ok(store.with_cache(cache))
}

/// Records the configured search zone and extraction format in a database that has none yet, and
/// warns loudly when the index was built with others: searches and new writes keep the recorded
/// zone (the index never mixes zones) until `hms reindex` rebuilds it.
fn check_index(store: &Store, configured: &crate::fhir::time::Zone) -> Result<(), StartError> {
    use crate::interactions::reindex::INDEX_FORMAT;
    use crate::store::search_meta;
    let (zone, format) =
        store.write(|c| -> Result<(String, String), crate::store::StoreError> {
            Ok((
                search_meta::init(c, search_meta::ZONE, &configured.name())?,
                search_meta::init(c, search_meta::FORMAT, INDEX_FORMAT)?,
            ))
        })?;
    let recorded = crate::fhir::time::Zone::parse(&zone).ok();
    if recorded.as_ref() != Some(configured) {
        tracing::warn!(
            recorded = %zone,
            configured = %configured,
            "SEARCH INDEX ZONE MISMATCH: the search index reads dates without an offset in {zone}, \
             but the configured search timezone is {configured}. Searches and new writes keep using \
             {zone} until you run `hms reindex` (with the same configuration), which rebuilds every \
             search index row in {configured}."
        );
    }
    if format != INDEX_FORMAT {
        tracing::warn!(
            recorded = %format,
            current = INDEX_FORMAT,
            "SEARCH INDEX OUTDATED OR INCOMPLETE: rows written by an older version (or an \
             interrupted reindex) may miss matches (e.g. system|code on coded elements such as \
             Patient.gender). Run `hms reindex` to rebuild them."
        );
    }
    Ok(())
}

/// Opens the read replicas (HMS_DATABASE_REPLICA_URLS); they are not migrated (a PostgreSQL hot
/// standby is read-only and follows the primary's schema).
pub fn open_replicas(config: &Config) -> Result<crate::store::replica::Replicas, StartError> {
    if config.database_replica_urls.is_empty() {
        return Ok(Default::default());
    }
    let pool_size = config.db_pool_size.unwrap_or(16);
    let replicas = crate::store::replica::Replicas::open(&config.database_replica_urls, pool_size)?;
    tracing::info!(
        replicas = replicas.len(),
        "reads and searches go to read replicas (read-your-writes via X-HMS-Read-After)"
    );
    Ok(replicas)
}

/// Refuses a non-loopback listen address unless explicitly allowed: without authentication the
/// server must not be reachable from the network by accident.
pub fn check_exposure(config: &Config) -> Result<(), StartError> {
    if let Some(addr) = config.mllp.addr
        && !addr.ip().is_loopback()
        && !config.insecure_allow_remote
    {
        return Err(StartError::Config(format!(
            "refusing to listen for MLLP on {addr} without authentication; use a loopback address, \
             --no-mllp, or --insecure-allow-remote (HMS_INSECURE_ALLOW_REMOTE=true) if you really mean it"
        )));
    }
    if config.auth.mode != crate::config::AuthMode::None {
        // Every /fhir request needs a valid access token: any listen address is allowed.
        return Ok(());
    }
    if config.http_addr.ip().is_loopback() {
        tracing::warn!(
            "NO AUTHENTICATION IS CONFIGURED: every client can read and write all data. \
             Listening on loopback ({}) only.",
            config.http_addr
        );
        return Ok(());
    }
    if config.insecure_allow_remote {
        tracing::warn!(
            "NO AUTHENTICATION IS CONFIGURED and the server listens on {} (--insecure-allow-remote): \
             anyone who can reach this address can read and write all data.",
            config.http_addr
        );
        return Ok(());
    }
    Err(StartError::Config(format!(
        "refusing to listen on {} without authentication; use a loopback address, or pass \
         --insecure-allow-remote (HMS_INSECURE_ALLOW_REMOTE=true) if you really mean it",
        config.http_addr
    )))
}

/// A bound, not yet running HTTP server and the address it listens on, plus the running MLLP
/// listener when configured.
pub struct Built {
    pub server: actix_web::dev::Server,
    pub addr: SocketAddr,
    pub mllp: Option<MllpHandle>,
}

/// The HL7 v2 ingest use case over `store` (also used by `hms hl7 messages/replay`).
pub fn hl7_ingest(store: Store, config: &Config) -> Hl7Ingest {
    let base = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}/fhir", config.http_addr));
    Hl7Ingest::new(store, config.hl7.clone(), base)
}

/// The rate limiter; with HMS_REDIS_URL its buckets live in Redis under a per-database namespace,
/// so the nodes of one deployment share them and other databases on the same Redis do not.
fn rate_limiter(
    config: &Config,
    store: &Store,
) -> Result<api::edge::ratelimit::Limiter, StartError> {
    use api::edge::ratelimit::Limiter;
    let on = config.edge.per_ip.is_some() || config.edge.per_client.is_some();
    let redis = match (&config.sync.redis_url, on) {
        (Some(url), true) => {
            let ns =
                store.write(|c| crate::store::secret::get_or_create(c, "ratelimit-namespace"))?;
            Some((url.clone(), ns.get(..16).unwrap_or(&ns).to_string()))
        }
        _ => None,
    };
    let limiter = Limiter::new(
        &config.edge,
        redis.as_ref().map(|(u, n)| (u.as_str(), n.as_str())),
    )
    .map_err(|e| StartError::Config(format!("rate limiter: {e}")))?;
    if limiter.is_on() {
        tracing::info!(
            backend = limiter.backend_name(),
            per_ip = ?config.edge.per_ip,
            per_client = ?config.edge.per_client,
            "rate limits on"
        );
    }
    Ok(limiter)
}

/// Must run inside a tokio runtime (the MLLP accept loop is spawned on it).
pub fn build(config: Config, store: Store) -> Result<Built, StartError> {
    check_exposure(&config)?;
    let mllp_store = store.clone();
    let config = Arc::new(config);
    let authenticator = api::auth::Authenticator::new(&config.auth, &store)
        .map_err(|e| StartError::Config(format!("cannot initialise authentication: {e}")))?;
    let replicas = open_replicas(&config)?;
    let mut services = Services::new(store)
        .map_err(|e| StartError::Config(format!("cannot initialise services: {e}")))?
        .with_replicas(replicas);
    services.allow_private_endpoints = config.sync.allow_private_endpoints;
    services.search_total_cap = config.search_total_cap;
    let limiter = rate_limiter(&config, &services.store)?;
    let state = AppState {
        services: services.clone(),
        config: config.clone(),
        started_at: crate::store::now_micros(),
        auth: Arc::new(authenticator),
        limiter: Arc::new(limiter),
        actor: Default::default(),
    };
    let data = web::Data::new(state);
    api::metrics::install();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(api::consistency::mint))
            .wrap(from_fn(api::edge::ratelimit::limit_ip))
            .wrap(from_fn(api::edge::cors::cors))
            .wrap(from_fn(api::edge::hosts::check_host))
            .wrap(from_fn(api::edge::uri::check_length))
            .wrap(from_fn(api::metrics::track))
            .wrap(from_fn(api::security_headers))
            .wrap(from_fn(api::request_log))
            .configure(api::configure)
    })
    .workers(config.http_workers)
    .shutdown_timeout(30);
    let bind_err = |error| StartError::Bind {
        addr: config.http_addr,
        error,
    };
    let server = match &config.tls {
        Some((cert, key)) => {
            let tls = crate::mllp::tls::server_config(cert, key)
                .map_err(|e| StartError::Config(format!("HTTPS: {e}")))?;
            server
                .bind_rustls_0_23(config.http_addr, tls)
                .map_err(bind_err)?
        }
        None => server.bind(config.http_addr).map_err(bind_err)?,
    };
    let addr = server.addrs().first().copied().unwrap_or(config.http_addr);
    let mllp = match config.mllp.addr {
        Some(addr) => Some(crate::mllp::listener::start(
            addr,
            &config.mllp,
            hl7_ingest(mllp_store, &config),
        )?),
        None => None,
    };
    crate::sync::worker::start(&config, &services, addr);
    Ok(Built {
        server: server.run(),
        addr,
        mllp,
    })
}
