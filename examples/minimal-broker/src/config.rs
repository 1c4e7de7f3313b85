//! Settings from command-line flags or environment variables (`--help` lists them).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use osb_core::managed::StoreUrl;

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
    /// Where the state lives: `sqlite:<file>`, `postgres://…` or `memory:`.
    #[arg(long, env = "BROKER_DATABASE_URL")]
    #[arg(default_value = "sqlite:minimal-broker.db")]
    pub database_url: StoreUrl,
    /// Seconds after which operations of a broker that died are resumed.
    #[arg(long, env = "BROKER_OPERATION_LEASE", default_value = "60")]
    #[arg(value_parser = seconds)]
    pub operation_lease: Duration,
    /// Seconds before a request that is still running is answered 503.
    #[arg(long, env = "BROKER_REQUEST_TIMEOUT", default_value = "30")]
    #[arg(value_parser = seconds)]
    pub request_timeout: Duration,
    /// IBM Cloud IAM (`http` only on loopback): its issuer is `<url>/identity`.
    #[arg(long, env = "BROKER_IAM_URL")]
    #[arg(default_value = "https://iam.cloud.ibm.com")]
    pub iam_url: String,
    /// IAM JWK set URL: also accept IAM bearer tokens (e.g. `<iam url>/identity/keys`).
    #[arg(long, env = "BROKER_IAM_JWKS_URL", requires = "iam_identities")]
    pub iam_jwks_url: Option<String>,
    /// The `iss` IAM tokens must carry; default `<iam url>/identity`.
    #[arg(long, env = "BROKER_IAM_ISSUER")]
    pub iam_issuer: Option<String>,
    /// Comma-separated `iam_id`s let in, e.g. `crn-<the broker's CRN>`.
    #[arg(long, env = "BROKER_IAM_IDENTITIES", value_delimiter = ',')]
    pub iam_identities: Vec<String>,
    /// The provider's service ID API key: for the dashboard's access check and metering.
    #[arg(long, env = "BROKER_IAM_API_KEY", hide_env_values = true)]
    pub iam_api_key: Option<String>,
    /// Dashboard SSO client id: turns the IAM sign-in for `/dashboard/<instance>` on.
    #[arg(long, env = "BROKER_DASHBOARD_CLIENT_ID", requires_all = ["dashboard_client_secret", "dashboard_redirect_url", "iam_api_key"])]
    pub dashboard_client_id: Option<String>,
    /// Dashboard SSO client secret.
    #[arg(long, env = "BROKER_DASHBOARD_CLIENT_SECRET", hide_env_values = true)]
    pub dashboard_client_secret: Option<String>,
    /// The registered redirect URL, e.g. `https://<host>/auth/callback`.
    #[arg(long, env = "BROKER_DASHBOARD_REDIRECT_URL")]
    pub dashboard_redirect_url: Option<String>,
    /// The service name in IAM: the dashboard checks `<name>.dashboard.view`.
    #[arg(long, env = "BROKER_SERVICE_NAME", default_value = "minimal-db")]
    pub service_name: String,
    /// IBM's metering API (e.g. `https://billing.cloud.ibm.com`): turns usage reporting on.
    #[arg(long, env = "BROKER_METERING_URL", requires = "iam_api_key")]
    pub metering_url: Option<String>,
    /// How long the `large` plan's provision takes (not a setting; tests shorten it).
    #[arg(skip = Duration::from_secs(3))]
    pub provision_time: Duration,
}

const LOG_HELP: &str = "RUST_LOG sets the log filter [default: info,osb_tower=debug]";

// Only what is safe to log: no password, API key, client secret.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (listen, user, db) = (&self.listen, &self.username, &self.database_url);
        let (iam, metering) = (&self.iam_url, &self.metering_url);
        write!(f, "Config {{ listen: {listen}, username: {user:?}, ")?;
        write!(f, "database_url: {db}, iam_url: {iam:?}, ")?;
        write!(f, "metering_url: {metering:?}, .. }}")
    }
}

fn seconds(value: &str) -> Result<Duration, String> {
    let secs = value.parse::<u64>().ok().filter(|&secs| secs > 0);
    let error = || format!("`{value}` is not a positive number of seconds");
    secs.map(Duration::from_secs).ok_or_else(error)
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
            StoreUrl::Sqlite("minimal-broker.db".into())
        );
        assert!(config.iam_jwks_url.is_none());
        assert!(config.dashboard_client_id.is_none() && config.metering_url.is_none());
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
    fn dashboard_needs_secret_redirect_and_api_key() {
        assert!(parse(&["--dashboard-client-id=c"]).is_err());
        let all = [
            "--dashboard-client-id=c",
            "--dashboard-client-secret=s",
            "--dashboard-redirect-url=https://b/cb",
        ];
        assert!(parse(&all).is_err());
        assert!(parse(&[&all[..], &["--iam-api-key=k"]].concat()).is_ok());
    }

    #[test]
    fn metering_needs_an_api_key() {
        assert!(parse(&["--metering-url=https://billing.example"]).is_err());
        assert!(parse(&["--metering-url=https://billing.example", "--iam-api-key=k"]).is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--database-url", "mysql://x"]).is_err());
        assert!(parse(&["--operation-lease", "0"]).is_err());
        assert!(parse(&["--listen", "localhost"]).is_err());
    }

    #[test]
    fn debug_and_display_never_show_secrets() {
        let config = parse(&[
            "--password=p4ss",
            "--database-url=postgres://user:s3cret@db:5432/osb?password=s3cret",
            "--iam-api-key=k3y",
            "--metering-url=https://billing.example",
        ])
        .unwrap();
        let debug = format!("{config:?}");
        for secret in ["p4ss", "s3cret", "k3y", "user:"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("db:5432/osb"));
        assert_eq!(config.database_url.to_string(), "PostgreSQL at db:5432/osb");
        let no_userinfo: StoreUrl = "postgres://db/osb?sslpassword=s3cret".parse().unwrap();
        assert_eq!(no_userinfo.to_string(), "PostgreSQL at db/osb");
    }
}
