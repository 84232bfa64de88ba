//! The outer HTTP edge: allowed hosts, CORS and rate limiting (middleware in front of every
//! route), and their settings (flags, HMS_* variables, hms.toml keys).

pub mod cors;
pub mod hosts;
pub mod ratelimit;
pub mod uri;

use clap::Args;

use ratelimit::Rate;

/// Flags (and HMS_* variables) of the edge, flattened into the server options.
#[derive(Debug, Clone, Default, Args)]
pub struct EdgeArgs {
    /// Requests per source IP: N/s, N/m or N/h (a bare N is per second); 0 or off = no limit.
    /// More get 429 with Retry-After.  [default: off]
    #[arg(long, env = "HMS_RATE_LIMIT_PER_IP", value_name = "N/s")]
    pub rate_limit_per_ip: Option<String>,
    /// Requests per authenticated client (the token's `sub`), like --rate-limit-per-ip.  [default: off]
    #[arg(long, env = "HMS_RATE_LIMIT_PER_CLIENT", value_name = "N/s")]
    pub rate_limit_per_client: Option<String>,
    /// Requests a limiter lets through at once before the rate applies.  [default: N of the rate]
    #[arg(long, env = "HMS_RATE_LIMIT_BURST", value_name = "N")]
    pub rate_limit_burst: Option<u64>,
    /// Browser origins allowed by CORS, comma-separated (https://app.example.org), or `*`.
    ///  [default: none, no CORS headers]
    #[arg(
        long,
        env = "HMS_CORS_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Option<Vec<String>>,
    /// Host names this server answers to, comma-separated (fhir.example.org, *.example.org,
    /// host:port); other Host headers get 400.  [default: every host]
    #[arg(
        long,
        env = "HMS_ALLOWED_HOSTS",
        value_name = "HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Option<Vec<String>>,
}

/// The same keys as read from hms.toml.
#[derive(Debug, Default, Clone)]
pub struct EdgeFile {
    pub rate_limit_per_ip: Option<String>,
    pub rate_limit_per_client: Option<String>,
    pub rate_limit_burst: Option<u64>,
    pub cors_origins: Option<Vec<String>>,
    pub allowed_hosts: Option<Vec<String>>,
}

/// Resolved edge settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeConfig {
    /// None: no per-IP limit.
    pub per_ip: Option<Rate>,
    /// None: no per-client limit.
    pub per_client: Option<Rate>,
    pub cors: cors::Origins,
    /// None: every Host is accepted.
    pub allowed_hosts: Option<Vec<String>>,
}

impl EdgeConfig {
    /// Flags/environment first, then the file.
    pub fn resolve(args: &EdgeArgs, file: EdgeFile) -> Result<EdgeConfig, String> {
        let burst = args.rate_limit_burst.or(file.rate_limit_burst);
        if burst == Some(0) {
            return Err("rate_limit_burst must be at least 1".into());
        }
        let rate = |name: &str, v: Option<String>| -> Result<Option<Rate>, String> {
            match v {
                None => Ok(None),
                Some(s) => Rate::parse(&s, burst).map_err(|e| format!("{name}: {e}")),
            }
        };
        let per_ip = rate(
            "rate_limit_per_ip",
            args.rate_limit_per_ip.clone().or(file.rate_limit_per_ip),
        )?;
        let per_client = rate(
            "rate_limit_per_client",
            args.rate_limit_per_client
                .clone()
                .or(file.rate_limit_per_client),
        )?;
        let cors = cors::Origins::parse(
            &args
                .cors_origins
                .clone()
                .or(file.cors_origins)
                .unwrap_or_default(),
        )?;
        let allowed_hosts = match args.allowed_hosts.clone().or(file.allowed_hosts) {
            None => None,
            Some(list) => hosts::parse(&list)?,
        };
        Ok(EdgeConfig {
            per_ip,
            per_client,
            cors,
            allowed_hosts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_off() {
        let c = EdgeConfig::resolve(&EdgeArgs::default(), EdgeFile::default()).unwrap();
        assert_eq!(c, EdgeConfig::default());
        assert_eq!(c.cors, cors::Origins::None);
    }

    #[test]
    fn flags_win_over_file() {
        let c = EdgeConfig::resolve(
            &EdgeArgs {
                rate_limit_per_ip: Some("10/s".into()),
                ..Default::default()
            },
            EdgeFile {
                rate_limit_per_ip: Some("99/s".into()),
                rate_limit_per_client: Some("600/m".into()),
                rate_limit_burst: Some(5),
                cors_origins: Some(vec!["*".into()]),
                allowed_hosts: Some(vec!["Fhir.Example.org".into()]),
            },
        )
        .unwrap();
        let ip = c.per_ip.unwrap();
        assert_eq!((ip.interval_us, ip.burst), (100_000, 5));
        let client = c.per_client.unwrap();
        assert_eq!((client.interval_us, client.burst), (100_000, 5));
        assert_eq!(c.cors, cors::Origins::Any);
        assert_eq!(c.allowed_hosts, Some(vec!["fhir.example.org".to_string()]));
        assert!(
            EdgeConfig::resolve(
                &EdgeArgs {
                    rate_limit_burst: Some(0),
                    ..Default::default()
                },
                EdgeFile::default()
            )
            .is_err()
        );
    }
}
