//! The settings, their checks, and starting what they switch on.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Error, IbmCloud};
use crate::apikey::{ApiKey, ApiKeyClient};
#[cfg(feature = "dashboard")]
use crate::dashboard::Discovery;
use crate::keys::KeyCache;
use crate::{Environment, Policy, Verifier};

/// Production IAM, the default of [`Settings::iam_url`].
const PRODUCTION_IAM: &str = "https://iam.cloud.ibm.com";
/// How often IAM's keys are fetched again (as IBM's reference broker does); an unknown `kid`
/// fetches them at once.
const KEY_REFRESH: Duration = Duration::from_secs(20 * 60);

/// The IBM Cloud settings of a broker; see the [module docs](super).
///
/// Build it with [`Default`] and set fields, or let `clap` fill it (feature `clap`) from flags
/// or these environment variables:
///
/// | field | flag | environment variable | default |
/// |---|---|---|---|
/// | `iam_url` | `--iam-url` | `BROKER_IAM_URL` | `https://iam.cloud.ibm.com` |
/// | `iam_jwks_url` | `--iam-jwks-url` | `BROKER_IAM_JWKS_URL` | unset: Basic only |
/// | `iam_issuer` | `--iam-issuer` | `BROKER_IAM_ISSUER` | `<iam url>/identity` |
/// | `iam_identities` | `--iam-identities` | `BROKER_IAM_IDENTITIES` | none |
/// | `iam_api_key` | `--iam-api-key` | `BROKER_IAM_API_KEY` | unset |
/// | `dashboard_client_id` | `--dashboard-client-id` | `BROKER_DASHBOARD_CLIENT_ID` | unset: no dashboard |
/// | `dashboard_client_secret` | `--dashboard-client-secret` | `BROKER_DASHBOARD_CLIENT_SECRET` | unset |
/// | `dashboard_redirect_url` | `--dashboard-redirect-url` | `BROKER_DASHBOARD_REDIRECT_URL` | unset |
/// | `dashboard_session_key` | `--dashboard-session-key` | `BROKER_DASHBOARD_SESSION_KEY` | random per process |
/// | `service_name` | `--service-name` | `BROKER_SERVICE_NAME` | unset |
/// | `metering_url` | `--metering-url` | `BROKER_METERING_URL` | unset: no metering |
///
/// Every URL must be `https`; plain `http` is accepted only on a loopback host (a local fake
/// IAM in tests), where nobody on the network can read or replace what travels. Errors name
/// the setting, never its value; `Debug` and [`summary`](Self::summary) never show the API
/// key, the client secret or the session key, and a malformed session key given to `clap` is
/// refused without echoing it.
#[derive(Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[non_exhaustive]
pub struct Settings {
    /// IBM Cloud IAM's base URL: keys at `<url>/identity/keys`, tokens at
    /// `<url>/identity/token`, issuer `<url>/identity`. Default: `https://iam.cloud.ibm.com`.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_IAM_URL", default_value = PRODUCTION_IAM)
    )]
    pub iam_url: String,
    /// IAM's JWK set URL: set, IAM bearer tokens of the allowed identities are accepted besides
    /// Basic credentials. Default: unset, Basic only.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_IAM_JWKS_URL", requires = "iam_identities")
    )]
    pub iam_jwks_url: Option<String>,
    /// The `iss` IAM tokens must carry; the dashboard's OpenID discovery and access check are
    /// found under it too. Default: `<iam url>/identity`.
    #[cfg_attr(feature = "clap", arg(long, env = "BROKER_IAM_ISSUER"))]
    pub iam_issuer: Option<String>,
    /// The `iam_id`s let in with a bearer token (comma-separated), e.g. `crn-<the broker's CRN>`
    /// for IBM Cloud's "Bearer CRN" scheme. Default: none.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_IAM_IDENTITIES", value_delimiter = ',')
    )]
    pub iam_identities: Vec<String>,
    /// The provider's service ID API key, for the dashboard's access check and for metering.
    /// Default: unset.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_IAM_API_KEY", hide_env_values = true)
    )]
    pub iam_api_key: Option<ApiKey>,
    /// The dashboard's SSO client id: set, the dashboard sign-in is on (it needs the secret, the
    /// redirect URL, the service name and the API key). Default: unset, no dashboard.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[cfg_attr(feature = "clap", arg(
        long,
        env = "BROKER_DASHBOARD_CLIENT_ID",
        requires_all = ["dashboard_client_secret", "dashboard_redirect_url", "service_name", "iam_api_key"],
    ))]
    pub dashboard_client_id: Option<String>,
    /// The dashboard's SSO client secret. Default: unset.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_DASHBOARD_CLIENT_SECRET", hide_env_values = true)
    )]
    pub dashboard_client_secret: Option<String>,
    /// The dashboard client's registered redirect URL, e.g. `https://<host>/auth/callback`; the
    /// callback is served at its path. Default: unset.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[cfg_attr(feature = "clap", arg(long, env = "BROKER_DASHBOARD_REDIRECT_URL"))]
    pub dashboard_redirect_url: Option<String>,
    /// The key sealing dashboard sessions: base64 of at least 32 random bytes (e.g. `openssl
    /// rand -base64 48`), shared by all replicas. Default: unset, each process generates its
    /// own and its sessions end with it.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[cfg_attr(feature = "clap", arg(
        long,
        env = "BROKER_DASHBOARD_SESSION_KEY",
        hide_env_values = true,
        value_parser = SessionKeyParser,
    ))]
    pub dashboard_session_key: Option<crate::dashboard::SessionKey>,
    /// The service's name in IAM: the dashboard lets a user in when IAM permits
    /// `<name>.dashboard.view` on the instance. Default: unset.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[cfg_attr(feature = "clap", arg(long, env = "BROKER_SERVICE_NAME"))]
    pub service_name: Option<String>,
    /// IBM's metering API, e.g. `https://billing.cloud.ibm.com`: set, usage reporting is on (it
    /// needs the API key). Default: unset, no metering.
    #[cfg(feature = "metering")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_METERING_URL", requires = "iam_api_key")
    )]
    pub metering_url: Option<String>,
}

impl Default for Settings {
    /// Production IAM, everything else off.
    fn default() -> Self {
        Self {
            iam_url: PRODUCTION_IAM.to_owned(),
            iam_jwks_url: None,
            iam_issuer: None,
            iam_identities: Vec::new(),
            iam_api_key: None,
            #[cfg(feature = "dashboard")]
            dashboard_client_id: None,
            #[cfg(feature = "dashboard")]
            dashboard_client_secret: None,
            #[cfg(feature = "dashboard")]
            dashboard_redirect_url: None,
            #[cfg(feature = "dashboard")]
            dashboard_session_key: None,
            #[cfg(feature = "dashboard")]
            service_name: None,
            #[cfg(feature = "metering")]
            metering_url: None,
        }
    }
}

/// Parses `--dashboard-session-key`; a refusal never repeats the value (clap's own message
/// would), so a mistyped key does not end up in logs.
#[cfg(all(feature = "clap", feature = "dashboard"))]
#[derive(Clone, Copy, Debug)]
struct SessionKeyParser;

#[cfg(all(feature = "clap", feature = "dashboard"))]
impl clap::builder::TypedValueParser for SessionKeyParser {
    type Value = crate::dashboard::SessionKey;

    fn parse_ref(
        &self,
        _: &clap::Command,
        _: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let key = value
            .to_str()
            .map(crate::dashboard::SessionKey::from_base64);
        key.and_then(Result::ok).ok_or_else(|| {
            let message = "BROKER_DASHBOARD_SESSION_KEY (--dashboard-session-key) must be the \
                           base64 of at least 32 random bytes\n";
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, message)
        })
    }
}

impl Settings {
    /// The IAM environment these settings name. A loopback `http` IAM (a local fake) is
    /// accepted; every other host needs `https`.
    pub fn environment(&self) -> Environment {
        let base = self.iam_url.trim().trim_end_matches('/');
        let keys = (self.iam_jwks_url.clone()).unwrap_or_else(|| format!("{base}/identity/keys"));
        let issuer = (self.iam_issuer.clone()).unwrap_or_else(|| format!("{base}/identity"));
        Environment::custom(keys, issuer, format!("{base}/identity/token"))
            .insecure_allow_loopback_http()
    }

    /// Whether IAM bearer tokens are accepted on the broker's API.
    #[must_use]
    pub fn bearer_enabled(&self) -> bool {
        self.iam_jwks_url.is_some()
    }

    /// Whether the dashboard sign-in is on.
    #[must_use]
    pub fn dashboard_enabled(&self) -> bool {
        #[cfg(feature = "dashboard")]
        return self.dashboard_client_id.is_some();
        #[cfg(not(feature = "dashboard"))]
        false
    }

    /// Whether usage metering is on.
    #[must_use]
    pub fn metering_enabled(&self) -> bool {
        #[cfg(feature = "metering")]
        return self.metering_url.is_some();
        #[cfg(not(feature = "metering"))]
        false
    }

    /// What the settings switch on, one line each (e.g. for a start-up banner); empty when
    /// nothing is. Never shows a secret.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::setup::Settings;
    ///
    /// let mut settings = Settings::default();
    /// assert_eq!(settings.summary(), "");
    /// settings.iam_jwks_url = Some("https://iam.cloud.ibm.com/identity/keys".into());
    /// settings.iam_identities = vec!["crn-crn:v1:bluemix:public:resource-controller::a/1::resource-broker:b".into()];
    /// assert!(settings.summary().starts_with("IAM bearer tokens accepted from crn-crn:v1:"));
    /// ```
    #[must_use]
    pub fn summary(&self) -> String {
        let mut summary = String::new();
        let environment = self.environment();
        if self.bearer_enabled() {
            let identities = self.iam_identities.join(", ");
            let keys = environment.keys_url();
            let _ = writeln!(
                summary,
                "IAM bearer tokens accepted from {identities} (keys from {keys})"
            );
        }
        #[cfg(feature = "dashboard")]
        if let Some(id) = &self.dashboard_client_id {
            let issuer = environment.issuer();
            let _ = writeln!(summary, "dashboard sign-in through {issuer} as client {id}");
        }
        #[cfg(feature = "metering")]
        if let Some(url) = &self.metering_url {
            let _ = writeln!(summary, "usage metering to {url}");
        }
        summary
    }

    /// Checks the settings and starts what they switch on: IAM's keys are fetched (a failure
    /// is logged and retried on the first token, so a broker starts while IAM is unreachable)
    /// and refreshed every 20 minutes while the [`IbmCloud`] lives; the API-key client and the
    /// dashboard guard are configured. Start the usage reporter with
    /// [`IbmCloud::start_metering`].
    ///
    /// # Errors
    ///
    /// [`Error`], naming the setting: [`Empty`](Error::Empty), a capability lacking a setting
    /// ([`Missing`](Error::Missing)), a setting whose capability is off
    /// ([`Unused`](Error::Unused)), an unusable value ([`Invalid`](Error::Invalid), e.g. a
    /// plain `http` URL off loopback), unusable dashboard settings
    /// ([`Dashboard`](Error::Dashboard)), or, should a URL derived from checked settings still
    /// be refused by its client, [`DerivedUrl`](Error::DerivedUrl).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the key refresh is a task).
    pub async fn start(&self) -> Result<IbmCloud, Error> {
        self.check()?;
        let environment = self.environment();
        let bearer_on = self.bearer_enabled();
        let keys = if bearer_on || self.dashboard_enabled() {
            Some(KeyCache::for_environment(&environment).map_err(derived)?)
        } else {
            None
        };
        let tokens = (self.iam_api_key.clone())
            .map(|key| ApiKeyClient::builder(key).environment(&environment).build())
            .transpose()
            .map_err(derived)?;
        let bearer = keys.as_ref().filter(|_| bearer_on).map(|keys| {
            let policy = Policy::iam_ids(self.iam_identities.iter().map(|id| id.trim().to_owned()));
            Verifier::builder(keys.clone(), policy)
                .issuer(environment.issuer())
                .build()
        });
        #[cfg(feature = "dashboard")]
        let dashboard = match (&keys, &tokens) {
            (Some(keys), Some(tokens)) if self.dashboard_enabled() => {
                Some(self.dashboard(&environment, keys, tokens)?)
            }
            _ => None,
        };
        let refresh = match &keys {
            Some(keys) => {
                if let Err(err) = keys.refresh().await {
                    tracing::warn!(error = %err, "IAM keys not fetched yet; retrying on the first token");
                }
                Some(keys.spawn_refresh(KEY_REFRESH))
            }
            None => None,
        };
        Ok(IbmCloud {
            environment,
            keys,
            refresh,
            tokens,
            bearer,
            #[cfg(feature = "dashboard")]
            dashboard,
            #[cfg(feature = "metering")]
            metering_url: self.metering_url.clone(),
            #[cfg(feature = "metering")]
            reporter: None,
        })
    }

    /// The dashboard guard: any IBM Cloud user may sign in, the access check
    /// (`<service name>.dashboard.view` on the instance) decides who sees which instance.
    /// [`check`](Self::check) made sure its settings are there and usable.
    #[cfg(feature = "dashboard")]
    fn dashboard(
        &self,
        environment: &Environment,
        keys: &KeyCache,
        tokens: &ApiKeyClient,
    ) -> Result<crate::DashboardAuth, Error> {
        let required = self.dashboard_required()?;
        let (id, secret) = (required.client_id, required.client_secret);
        let (redirect, service) = (required.redirect_url, required.service_name);
        let verifier = Verifier::builder(keys.clone(), Policy::insecure_any_identity())
            .issuer(environment.issuer())
            .build();
        let mut authz = crate::authz::AuthzClient::builder(tokens.clone()).environment(environment);
        if environment.is_loopback_http() {
            // A local fake IAM: its access check is on loopback too.
            authz = authz.insecure_allow_http();
        }
        let discovery = Discovery::try_for_environment(environment).map_err(derived)?;
        let mut auth =
            crate::DashboardAuth::builder(id, secret, redirect, verifier).discovery(discovery);
        if crate::environment::is_loopback_http(redirect) {
            // The broker itself on loopback over plain http (a local run or a test): cookies
            // cannot be `Secure` there. Any other redirect URL must be https.
            auth = auth.insecure_allow_http();
        }
        if let Some(key) = &self.dashboard_session_key {
            auth = auth.session_key(key.clone());
        }
        let authz = authz.build().map_err(derived)?;
        Ok(auth.access_check(authz, service).build()?)
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Settings");
        debug
            .field("iam_url", &self.iam_url)
            .field("iam_jwks_url", &self.iam_jwks_url)
            .field("iam_issuer", &self.iam_issuer)
            .field("iam_identities", &self.iam_identities)
            .field("iam_api_key", &self.iam_api_key);
        #[cfg(feature = "dashboard")]
        debug
            .field("dashboard_client_id", &self.dashboard_client_id)
            .field(
                "dashboard_client_secret",
                &self.dashboard_client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("dashboard_redirect_url", &self.dashboard_redirect_url)
            .field("dashboard_session_key", &self.dashboard_session_key)
            .field("service_name", &self.service_name);
        #[cfg(feature = "metering")]
        debug.field("metering_url", &self.metering_url);
        debug.finish()
    }
}

/// A URL derived from checked settings that its client still refused.
fn derived(err: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::DerivedUrl(Box::new(err))
}
