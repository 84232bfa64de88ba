//! Sync settings: command-line/environment flags, hms.toml keys and the resolved values.

use std::time::Duration;

use clap::Args;

/// Flags (and HMS_* variables) of the sync feature, flattened into the server options.
#[derive(Debug, Clone, Default, Args)]
pub struct SyncArgs {
    /// Allow Subscription endpoints on loopback, private and link-local addresses.
    #[arg(long, env = "HMS_ALLOW_PRIVATE_ENDPOINTS")]
    pub allow_private_endpoints: bool,
    /// How often delivery workers poll without a wake-up (milliseconds).  [default: 500]
    #[arg(long, env = "HMS_SYNC_POLL_INTERVAL_MS", value_name = "MS")]
    pub sync_poll_interval_ms: Option<u64>,
    /// Redis URL: pub/sub wakes the delivery workers of every node at once.  [default: polling only]
    #[arg(long, env = "HMS_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
    /// Remote FHIR base to mirror every change to (PUT/DELETE [type]/[id]).
    #[arg(long, env = "HMS_MIRROR_URL", value_name = "URL")]
    pub mirror_url: Option<String>,
    /// Bearer token sent to the mirror.
    #[arg(
        long,
        env = "HMS_MIRROR_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub mirror_token: Option<String>,
    /// Mirror conflict policy: overwrite or skip-if-remote-newer.  [default: overwrite]
    #[arg(long, env = "HMS_MIRROR_CONFLICT", value_name = "POLICY")]
    pub mirror_conflict: Option<String>,
    /// First retry delay (milliseconds); doubles per attempt, with jitter.  [default: 1000]
    #[arg(long, env = "HMS_SYNC_RETRY_BASE_MS", value_name = "MS")]
    pub sync_retry_base_ms: Option<u64>,
    /// Longest retry delay (milliseconds).  [default: 300000]
    #[arg(long, env = "HMS_SYNC_RETRY_MAX_MS", value_name = "MS")]
    pub sync_retry_max_ms: Option<u64>,
    /// Attempts before a transiently failing delivery is dead; 0 = retry forever.  [default: 0]
    #[arg(long, env = "HMS_SYNC_MAX_ATTEMPTS", value_name = "N")]
    pub sync_max_attempts: Option<u32>,
    /// How long a claimed delivery stays leased to a worker (milliseconds).  [default: 60000]
    #[arg(long, env = "HMS_SYNC_LEASE_MS", value_name = "MS")]
    pub sync_lease_ms: Option<u64>,
    /// Do not run delivery workers in this process (events are still recorded).
    #[arg(long, env = "HMS_SYNC_DISABLED")]
    pub sync_disabled: bool,
    /// Outbound HL7 v2 over MLLP: NAME=HOST:PORT, repeatable (ADT from Patient/Encounter, SIU
    /// from Appointment changes).
    #[arg(
        long = "hl7-destination",
        env = "HMS_HL7_DESTINATIONS",
        value_name = "NAME=HOST:PORT",
        value_delimiter = ','
    )]
    pub hl7_destinations: Vec<String>,
    /// How long delivered (and skipped) events are kept, e.g. 7d, 12h, 30m.  [default: 7d]
    #[arg(long, env = "HMS_OUTBOX_RETENTION", value_name = "DURATION")]
    pub outbox_retention: Option<String>,
}

/// The same keys as read from hms.toml.
#[derive(Debug, Default, Clone)]
pub struct SyncFile {
    pub allow_private_endpoints: Option<bool>,
    pub sync_poll_interval_ms: Option<u64>,
    pub redis_url: Option<String>,
    pub mirror_url: Option<String>,
    pub mirror_token: Option<String>,
    pub mirror_conflict: Option<String>,
    pub sync_retry_base_ms: Option<u64>,
    pub sync_retry_max_ms: Option<u64>,
    pub sync_max_attempts: Option<u32>,
    pub sync_lease_ms: Option<u64>,
    pub sync_disabled: Option<bool>,
    pub hl7_destinations: Option<Vec<String>>,
    pub outbox_retention: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorConflict {
    Overwrite,
    SkipIfRemoteNewer,
}

#[derive(Clone)]
pub struct SyncConfig {
    pub enabled: bool,
    pub allow_private_endpoints: bool,
    pub poll_interval: Duration,
    pub redis_url: Option<String>,
    pub mirror_url: Option<String>,
    pub mirror_token: Option<String>,
    pub mirror_conflict: MirrorConflict,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// 0 = unbounded.
    pub max_attempts: u32,
    pub lease: Duration,
    /// Consecutive channel failures before a Subscription's status becomes `error`.
    pub error_after: i32,
    /// Deliveries claimed per round.
    pub batch: i64,
    /// Timeout of one outbound HTTP request (and of waiting for an MLLP ACK).
    pub request_timeout: Duration,
    /// Outbound HL7 v2 peers.
    pub hl7_destinations: Vec<Hl7Destination>,
    /// Delivered events older than this are pruned.
    pub outbox_retention: Duration,
}

/// One MLLP peer; its deliveries have the destination id `hl7:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hl7Destination {
    pub name: String,
    pub addr: String,
}

impl Hl7Destination {
    pub const PREFIX: &'static str = "hl7:";

    pub fn dest_id(&self) -> String {
        format!("{}{}", Self::PREFIX, self.name)
    }

    /// `NAME=HOST:PORT`.
    pub fn parse(s: &str) -> Result<Hl7Destination, String> {
        let (name, addr) = s
            .split_once('=')
            .ok_or_else(|| format!("hl7 destination must be NAME=HOST:PORT, got {s:?}"))?;
        let (name, addr) = (name.trim(), addr.trim());
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            || !port_ok
        {
            return Err(format!("hl7 destination must be NAME=HOST:PORT, got {s:?}"));
        }
        Ok(Hl7Destination {
            name: name.to_string(),
            addr: addr.to_string(),
        })
    }
}

impl std::fmt::Debug for SyncConfig {
    // The token and URLs with credentials are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncConfig")
            .field("enabled", &self.enabled)
            .field("poll_interval", &self.poll_interval)
            .field("mirror", &self.mirror_url.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            enabled: true,
            allow_private_endpoints: false,
            poll_interval: Duration::from_millis(500),
            redis_url: None,
            mirror_url: None,
            mirror_token: None,
            mirror_conflict: MirrorConflict::Overwrite,
            retry_base: Duration::from_millis(1000),
            retry_max: Duration::from_millis(300_000),
            max_attempts: 0,
            lease: Duration::from_millis(60_000),
            error_after: 5,
            batch: 100,
            request_timeout: Duration::from_secs(10),
            hl7_destinations: Vec::new(),
            outbox_retention: Duration::from_secs(7 * 86400),
        }
    }
}

impl SyncConfig {
    /// Flags win over the file; the file over the defaults.
    pub fn resolve(a: &SyncArgs, f: SyncFile) -> Result<SyncConfig, String> {
        let d = SyncConfig::default();
        let ms = |flag: Option<u64>, file: Option<u64>, def: Duration| {
            flag.or(file).map_or(def, Duration::from_millis)
        };
        let mirror_conflict = match a.mirror_conflict.clone().or(f.mirror_conflict).as_deref() {
            None | Some("overwrite") => MirrorConflict::Overwrite,
            Some("skip-if-remote-newer") => MirrorConflict::SkipIfRemoteNewer,
            Some(other) => {
                return Err(format!(
                    "mirror_conflict must be overwrite or skip-if-remote-newer, got {other:?}"
                ));
            }
        };
        let mirror_url = a
            .mirror_url
            .clone()
            .or(f.mirror_url)
            .filter(|u| !u.is_empty());
        if let Some(u) = &mirror_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err("mirror_url must be an http or https URL".into());
        }
        let hl7 = if a.hl7_destinations.is_empty() {
            f.hl7_destinations.unwrap_or_default()
        } else {
            a.hl7_destinations.clone()
        };
        let mut hl7_destinations: Vec<Hl7Destination> = Vec::new();
        for d in hl7.iter().filter(|d| !d.trim().is_empty()) {
            let d = Hl7Destination::parse(d)?;
            if hl7_destinations.iter().any(|x| x.name == d.name) {
                return Err(format!("hl7 destination {} given twice", d.name));
            }
            hl7_destinations.push(d);
        }
        let outbox_retention = match a.outbox_retention.clone().or(f.outbox_retention) {
            Some(v) => {
                crate::bench::parse_duration(&v).map_err(|e| format!("outbox_retention: {e}"))?
            }
            None => d.outbox_retention,
        };
        Ok(SyncConfig {
            hl7_destinations,
            outbox_retention,
            enabled: !(a.sync_disabled || f.sync_disabled.unwrap_or(false)),
            allow_private_endpoints: a.allow_private_endpoints
                || f.allow_private_endpoints.unwrap_or(false),
            poll_interval: ms(
                a.sync_poll_interval_ms,
                f.sync_poll_interval_ms,
                d.poll_interval,
            ),
            redis_url: a
                .redis_url
                .clone()
                .or(f.redis_url)
                .filter(|u| !u.is_empty()),
            mirror_url: mirror_url.map(|u| u.trim_end_matches('/').to_string()),
            mirror_token: a.mirror_token.clone().or(f.mirror_token),
            mirror_conflict,
            retry_base: ms(a.sync_retry_base_ms, f.sync_retry_base_ms, d.retry_base),
            retry_max: ms(a.sync_retry_max_ms, f.sync_retry_max_ms, d.retry_max),
            max_attempts: a.sync_max_attempts.or(f.sync_max_attempts).unwrap_or(0),
            lease: ms(a.sync_lease_ms, f.sync_lease_ms, d.lease),
            ..d
        })
    }
}
