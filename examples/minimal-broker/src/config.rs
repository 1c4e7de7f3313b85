//! Settings from command-line flags or environment variables (`--help` lists them).

use std::{net::SocketAddr, num::ParseIntError, time::Duration};

use osb_tower::serve::Server;

/// The development Basic password, used when none is configured.
pub const DEV_PASSWORD: &str = "dev-password-change-me";

/// The broker's settings; a flag wins over its environment variable. No `Debug`: it holds the
/// password.
#[derive(Clone, clap::Parser)]
#[allow(missing_debug_implementations)]
#[command(about, after_help = "RUST_LOG sets the log filter [default: info,osb_tower=debug]")]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "BROKER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Basic auth user name.
    #[arg(long, env = "BROKER_USERNAME", default_value = "broker")]
    pub username: String,
    /// Basic auth password.
    #[arg(long, env = "BROKER_PASSWORD", default_value = DEV_PASSWORD, hide_env_values = true)]
    pub password: String,
    /// Where the state lives: `sqlite:<file>`, `postgres://…` or `memory:`.
    #[arg(long, env = "BROKER_DATABASE_URL", default_value = "sqlite:minimal-broker.db")]
    pub database_url: osb_core::managed::StoreUrl,
    /// Seconds after which operations of a broker that died are resumed.
    #[arg(long, env = "BROKER_OPERATION_LEASE", default_value = "60", value_parser = seconds)]
    pub operation_lease: Duration,
    /// Seconds before a request that is still running is answered 503.
    #[arg(long, env = "BROKER_REQUEST_TIMEOUT", default_value = "30", value_parser = seconds)]
    pub request_timeout: Duration,
    /// Seconds a connection has to send a request's headers before it is closed.
    #[arg(long, env = "BROKER_HEADER_READ_TIMEOUT", default_value = "30", value_parser = seconds)]
    pub header_read_timeout: Duration,
    /// Seconds a kept-alive connection may wait for its next request before it is closed.
    #[arg(long, env = "BROKER_IDLE_TIMEOUT", default_value = "60", value_parser = seconds)]
    pub idle_timeout: Duration,
    /// Connections served at once, more wait; the default keeps a quarter of `ulimit -n` free.
    #[arg(long, env = "BROKER_MAX_CONNECTIONS", value_parser = at_least_1)]
    #[arg(default_value_t = Server::default_max_connections())]
    pub max_connections: usize,
    /// IBM Cloud: IAM bearer tokens, the dashboard sign-in, usage metering (each off unless set).
    #[command(flatten)]
    pub ibm: osb_iam::setup::Settings,
    /// How long the `large` plan's provision takes (not a setting; tests shorten it).
    #[arg(skip = Duration::from_secs(3))]
    pub provision_time: Duration,
}

/// A whole number of at least 1: 0 would make a limit or timeout refuse everything.
fn at_least_1(s: &str) -> Result<usize, String> {
    match s.parse() {
        Ok(0) => Err("must be at least 1".into()),
        parsed => parsed.map_err(|err: ParseIntError| err.to_string()),
    }
}

/// Whole seconds, at least 1.
fn seconds(s: &str) -> Result<Duration, String> {
    at_least_1(s).map(|n| Duration::from_secs(n as u64))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;
    use osb_core::managed::StoreUrl;

    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("minimal-broker").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_listen_on_loopback_8080_with_an_sqlite_file() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url, StoreUrl::Sqlite("minimal-broker.db".into()));
        assert_eq!(config.ibm.iam_url, "https://iam.cloud.ibm.com");
        assert!(config.ibm.iam_jwks_url.is_none());
        assert!(config.ibm.dashboard_client_id.is_none() && config.ibm.metering_url.is_none());
        assert_eq!(config.ibm.summary(), "", "nothing of IBM Cloud is on");
    }

    #[test]
    fn iam_needs_identities() {
        assert!(parse(&["--iam-jwks-url", "https://iam.example/keys"]).is_err());
        let config =
            parse(&["--iam-jwks-url=https://iam.example/keys", "--iam-identities=a,b"]).unwrap();
        assert_eq!(config.ibm.iam_identities, ["a", "b"]);
        assert_eq!(
            config.ibm.summary(),
            "IAM bearer tokens accepted from a, b (keys from https://iam.example/keys)\n"
        );
    }

    #[test]
    fn dashboard_needs_secret_redirect_service_name_and_api_key() {
        assert!(parse(&["--dashboard-client-id=c"]).is_err());
        let all = [
            "--dashboard-client-id=c",
            "--dashboard-client-secret=s",
            "--dashboard-redirect-url=https://b/cb",
        ];
        assert!(parse(&all).is_err());
        assert!(parse(&[&all[..], &["--iam-api-key=k"]].concat()).is_err());
        assert!(parse(&[&all[..], &["--iam-api-key=k", "--service-name=db"]].concat()).is_ok());
    }

    #[test]
    fn metering_needs_an_api_key() {
        assert!(parse(&["--metering-url=https://billing.example"]).is_err());
        assert!(parse(&["--metering-url=https://billing.example", "--iam-api-key=k"]).is_ok());
    }

    #[test]
    fn connection_settings_default_to_30_s_60_s_and_a_share_of_the_open_files_limit() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.header_read_timeout, Duration::from_secs(30));
        assert_eq!(config.idle_timeout, Duration::from_secs(60));
        assert_eq!(config.max_connections, Server::default_max_connections());
        let args = ["--header-read-timeout=5", "--idle-timeout=7", "--max-connections=9"];
        let config = parse(&args).unwrap();
        assert_eq!(config.header_read_timeout, Duration::from_secs(5));
        assert_eq!((config.idle_timeout.as_secs(), config.max_connections), (7, 9));
    }

    #[test]
    fn zero_durations_and_limits_are_refused_by_name() {
        for flag in [
            "--operation-lease",
            "--request-timeout",
            "--header-read-timeout",
            "--idle-timeout",
            "--max-connections",
        ] {
            let err = parse(&[flag, "0"]).err().unwrap().to_string();
            assert!(err.contains(flag) && err.contains("must be at least 1"), "{err}");
            assert!(parse(&[flag, "-1"]).is_err() && parse(&[flag, "1"]).is_ok());
        }
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--database-url", "mysql://x"]).is_err());
        assert!(parse(&["--listen", "localhost"]).is_err());
        assert!(parse(&["--iam-api-key", " "]).is_err());
    }

    #[test]
    fn a_refused_secret_is_not_repeated() {
        let err = parse(&["--database-url", "mysql://user:s3cret@db/x"]).err().unwrap().to_string();
        assert!(err.contains("--database-url") && !err.contains("s3cret"), "{err}");
        let err = parse(&["--dashboard-session-key", "c2hvcnQ="]).err().unwrap().to_string();
        assert!(err.contains("BROKER_DASHBOARD_SESSION_KEY") && !err.contains("c2hvcnQ"), "{err}");
    }

    #[test]
    fn settings_never_show_secrets() {
        let config = parse(&[
            "--database-url=postgres://user:s3cret@db:5432/osb?password=s3cret",
            "--iam-api-key=k3y",
            "--metering-url=https://billing.example",
            "--dashboard-client-id=c",
            "--dashboard-client-secret=cl13nt",
            "--dashboard-redirect-url=https://b/cb",
            "--service-name=db",
            "--dashboard-session-key=q0tgpvH1uMuJy2C5Yb0Nqf0a+FqC7yv8hJt0Q7b1o6h3mLe2vxj0tUaiTjz3ZbCl",
        ])
        .unwrap();
        let shown = format!("{:?} {} {}", config.ibm, config.ibm.summary(), config.database_url);
        for secret in ["s3cret", "k3y", "cl13nt", "q0tgpv", "user:"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(config.database_url.to_string(), "PostgreSQL at db:5432/osb");
        let no_userinfo: StoreUrl = "postgres://db/osb?sslpassword=s3cret".parse().unwrap();
        assert_eq!(no_userinfo.to_string(), "PostgreSQL at db/osb");
    }
}
