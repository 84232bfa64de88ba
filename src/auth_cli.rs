//! `hms user ...` and `hms client ...`: builtin-mode accounts, against the configured database.

use std::io::BufRead;

use clap::Subcommand;

use crate::config::{Config, ServerArgs};
use crate::interactions::auth;
use crate::store::auth::Kind;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a person. Without --password-stdin a random password is generated and printed once.
    #[command(
        after_help = "Example:\n  printf '%s\\n' \"$PW\" | hms user add alice --password-stdin --scope 'user/*.cruds'\n  hms user mfa-enroll alice"
    )]
    Add {
        name: String,
        /// Read the password (one line) from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Scopes granted to this user's tokens (SMART v1 or v2), space-separated.
        #[arg(long, default_value = "user/*.cruds", value_parser = crate::auth::scopes::check_list)]
        scope: String,
        /// Patient id for patient-context tokens (with patient/ scopes).
        #[arg(long)]
        patient: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List users (no secrets).
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Disable a user: no new tokens.
    Disable {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Enrol TOTP: prints the otpauth:// URL for an authenticator app (replaces an old enrolment).
    MfaEnroll {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Add a client. By default a confidential system client with a generated secret (printed
    /// once); --jwks/--jwks-url register keys instead (private_key_jwt, SMART Backend Services);
    /// --public makes an app without credentials (authorization code + PKCE only).
    #[command(
        after_help = "Examples:\n  hms client add nightly-export --scope 'system/*.read'\n  hms client add bulk-loader --scope 'system/*.rs' --jwks loader-public.jwks.json\n  hms client add my-app --public --redirect-uri https://app.example/callback \\\n      --scope 'patient/*.rs launch/patient openid fhirUser offline_access'"
    )]
    Add {
        name: String,
        /// Scopes this client may be granted, space-separated.
        #[arg(long, value_parser = crate::auth::scopes::check_list)]
        scope: String,
        /// A redirect URI for the authorization code flow (exact match; repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// No credential: a public app (needs --redirect-uri).
        #[arg(long, conflicts_with_all = ["jwks", "jwks_url"])]
        public: bool,
        /// The client's public keys (a JWKS file) for private_key_jwt assertions (RS384/ES384).
        #[arg(long, conflicts_with = "jwks_url")]
        jwks: Option<std::path::PathBuf>,
        /// Where the client publishes its JWKS, fetched at each token request.
        #[arg(long)]
        jwks_url: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Disable a client: no new tokens.
    Disable {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn store_of(server: &ServerArgs) -> anyhow::Result<crate::store::Store> {
    let config = Config::load(server)?;
    crate::telemetry::init(config.log_format);
    Ok(crate::app::open_store(&config)?)
}

pub fn run_user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            password_stdin,
            scope,
            patient,
            server,
        } => {
            // patient/ scopes grant access within a patient's compartment: without one, every
            // request would be refused (403) and the cause would not be obvious.
            if patient.is_none() && scope.split_whitespace().any(|s| s.starts_with("patient/")) {
                anyhow::bail!(
                    "patient/ scopes need the patient the user acts for: add --patient ID (or use user/ scopes for staff)"
                );
            }
            let store = store_of(&server)?;
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                (line.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (crate::auth::credentials::random_secret(), true)
            };
            auth::add_user(&store, &name, &password, &scope, patient.as_deref())?;
            println!("user {name} added (scope: {scope})");
            if generated {
                println!("generated password (shown once): {password}");
            }
            println!("people need MFA before they can get a token: hms user mfa-enroll {name}");
            Ok(())
        }
        UserCommand::List { server } => {
            let store = store_of(&server)?;
            println!("username\tmfa\tstatus\tpatient\tscope");
            for u in auth::list_users(&store)? {
                let status = if u.disabled {
                    "disabled"
                } else if u.locked {
                    "locked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{status}\t{}\t{}",
                    u.username,
                    if u.mfa { "totp" } else { "none" },
                    u.patient.unwrap_or_default(),
                    u.scope
                );
            }
            Ok(())
        }
        UserCommand::Disable { name, server } => {
            auth::disable(&store_of(&server)?, Kind::User, &name)?;
            println!("user {name} disabled");
            Ok(())
        }
        UserCommand::MfaEnroll { name, server } => {
            let (_secret, url) = auth::mfa_enroll(&store_of(&server)?, &name)?;
            println!("{url}");
            Ok(())
        }
    }
}

pub fn run_client(cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Add {
            name,
            scope,
            redirect_uris,
            public,
            jwks,
            jwks_url,
            server,
        } => {
            let kind = match (public, jwks, jwks_url) {
                (true, _, _) => auth::ClientKind::Public,
                (_, Some(path), _) => auth::ClientKind::Jwks(
                    std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
                ),
                (_, None, Some(url)) => auth::ClientKind::JwksUrl(url),
                (false, None, None) => auth::ClientKind::Secret,
            };
            let spec = auth::ClientSpec {
                scope,
                redirect_uris,
                kind,
            };
            let secret = auth::register_client(&store_of(&server)?, &name, &spec)?;
            println!("client_id: {name}");
            if let Some(secret) = secret {
                println!("client_secret (shown once): {secret}");
            }
            Ok(())
        }
        ClientCommand::Disable { name, server } => {
            auth::disable(&store_of(&server)?, Kind::Client, &name)?;
            println!("client {name} disabled");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::ClientCommand;
    use crate::cli::{Cli, Command};

    fn client_add(args: &[&str]) -> Result<ClientCommand, clap::Error> {
        let mut argv = vec!["hms", "client", "add", "svc", "--scope", "system/*.rs"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Client(c) => Ok(c),
            _ => unreachable!(),
        }
    }

    #[test]
    fn client_add_flags() {
        Cli::command().debug_assert();
        let Ok(ClientCommand::Add {
            redirect_uris,
            public,
            ..
        }) = client_add(&[
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
            "--redirect-uri",
            "https://b.example/cb",
        ])
        else {
            panic!("--public with two redirect URIs must parse");
        };
        assert!(public);
        assert_eq!(
            redirect_uris,
            vec!["https://a.example/cb", "https://b.example/cb"]
        );
        let Ok(ClientCommand::Add { jwks, .. }) = client_add(&["--jwks", "keys.json"]) else {
            panic!("--jwks must parse");
        };
        assert_eq!(jwks.unwrap().to_str(), Some("keys.json"));
        assert!(client_add(&["--public", "--jwks", "k.json"]).is_err());
        assert!(client_add(&["--jwks", "k.json", "--jwks-url", "https://k.example"]).is_err());
    }
}
