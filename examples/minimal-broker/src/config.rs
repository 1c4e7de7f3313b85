//! Settings from command-line flags or environment variables (`--help` lists them).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The development Basic user name, used when none is configured.
pub const DEV_USERNAME: &str = "broker";
/// The development Basic password, used when none is configured.
pub const DEV_PASSWORD: &str = "dev-password-change-me";

/// The broker's settings; a flag wins over its environment variable.
#[derive(Clone, clap::Parser)]
#[command(about = "An Open Service Broker built on osb-rs", after_help = LOG_HELP)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "BROKER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Basic auth user name.
    #[arg(long, env = "BROKER_USERNAME", default_value = DEV_USERNAME)]
    pub username: String,
    /// Basic auth password.
    #[arg(long, env = "BROKER_PASSWORD", default_value = DEV_PASSWORD, hide_env_values = true)]
    pub password: String,
    /// IAM JWK set URL: also accept IBM Cloud IAM bearer tokens (https; http only on loopback).
    #[arg(long, env = "BROKER_IAM_JWKS_URL", requires = "iam_identities")]
    pub iam_jwks_url: Option<String>,
    /// The `iss` IAM tokens must carry.
    #[arg(
        long,
        env = "BROKER_IAM_ISSUER",
        default_value = "https://iam.cloud.ibm.com/identity"
    )]
    pub iam_issuer: String,
    /// Comma-separated `iam_id`s let in, e.g. `crn-<the broker's CRN>`.
    #[arg(long, env = "BROKER_IAM_IDENTITIES", value_delimiter = ',')]
    pub iam_identities: Vec<String>,
    /// Where the state lives: `sqlite:<file>`, `postgres://…` or `memory:`.
    #[arg(
        long,
        env = "BROKER_DATABASE_URL",
        default_value = "sqlite:minimal-broker.db"
    )]
    pub database_url: Database,
    /// Seconds after which operations of a broker that died are resumed.
    #[arg(long, env = "BROKER_OPERATION_LEASE", default_value = "60", value_parser = seconds)]
    pub operation_lease: Duration,
    /// Seconds before a request that is still running is answered 503.
    #[arg(long, env = "BROKER_REQUEST_TIMEOUT", default_value = "30", value_parser = seconds)]
    pub request_timeout: Duration,
    /// How long the `large` plan's provision takes (not a setting; tests shorten it).
    #[arg(skip = Duration::from_secs(3))]
    pub provision_time: Duration,
}

const LOG_HELP: &str = "RUST_LOG sets the log filter [default: info,osb_tower=debug]";

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            listen,
            username,
            database_url,
            ..
        } = self;
        f.debug_struct("Config")
            .field("listen", listen)
            .field("username", username)
            .field("database_url", database_url)
            .finish_non_exhaustive()
    }
}

fn seconds(value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(format!("`{value}` is not a positive number of seconds")),
    }
}

/// Where the broker keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// One SQLite file (the default): survives restarts.
    Sqlite(PathBuf),
    /// A PostgreSQL URL, for several replicas.
    Postgres(String),
    /// In memory: lost when the broker stops.
    Memory,
}

impl std::str::FromStr for Database {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        if url == "memory:" {
            return Ok(Self::Memory);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        match url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Some(path) if !path.is_empty() => Ok(Self::Sqlite(path.into())),
            _ => Err(format!(
                "`{url}` is not sqlite:<file>, postgres://… or memory:"
            )),
        }
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "SQLite file {}", path.display()),
            // Never the URL's credentials.
            Self::Postgres(url) => write!(
                f,
                "PostgreSQL at {}",
                url.rsplit_once('@').map_or("", |(_, host)| host)
            ),
            Self::Memory => f.write_str("memory (state is lost when the broker stops)"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("minimal-broker").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_listen_on_loopback_8080_with_an_sqlite_file() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database_url,
            Database::Sqlite("minimal-broker.db".into())
        );
        assert!(config.iam_jwks_url.is_none());
    }

    #[test]
    fn iam_needs_identities() {
        assert!(parse(&["--iam-jwks-url", "https://iam.example/keys"]).is_err());
        let config = parse(&[
            "--iam-jwks-url=https://iam.example/keys",
            "--iam-identities=a,b",
        ])
        .unwrap();
        assert_eq!(config.iam_identities, ["a", "b"]);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--database-url", "mysql://x"]).is_err());
        assert!(parse(&["--operation-lease", "0"]).is_err());
        assert!(parse(&["--listen", "localhost"]).is_err());
    }

    #[test]
    fn postgres_url_is_displayed_without_credentials() {
        let db: Database = "postgres://user:secret@db:5432/osb".parse().unwrap();
        assert_eq!(db.to_string(), "PostgreSQL at db:5432/osb");
    }
}
