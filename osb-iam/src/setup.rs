//! The IBM Cloud side of a broker from a handful of settings, set up in one call.
//!
//! [`Settings`] says which IAM to trust, who may call the broker with an IAM bearer token, the
//! provider's API key, and (with the `dashboard` and `metering` features) the dashboard sign-in
//! and usage metering; every capability stays off until its settings are given. With the
//! `clap` feature, `Settings` is a [`clap::Args`] group whose flags read `BROKER_*`
//! environment variables, so a broker's own `clap` parser takes them with one
//! `#[command(flatten)]`.
//!
//! [`Settings::start`] checks them, fetches IAM's signing keys and keeps them fresh, and
//! returns an [`IbmCloud`] holding the started pieces: the broker's authenticator ("Basic or
//! IAM bearer", as IBM Cloud's resource controller may send either, NOTES §3), the dashboard
//! guard, the API-key client and the metering client.
//!
//! # Example
//!
//! ```
//! use osb_iam::setup::Settings;
//! use osb_tower::auth::{Basic, RequireAuthLayer};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! // Nothing configured: Basic only, nothing fetched, nothing started.
//! let ibm = Settings::default().start().await?;
//! let auth = RequireAuthLayer::new(ibm.broker_auth(Basic::new("broker", "s3cret")));
//! # let _ = auth;
//! assert!(ibm.key_cache().is_none() && ibm.api_key_client().is_none());
//!
//! // Bearer tokens need the identities allowed in: said at start, not at the first request.
//! let mut settings = Settings::default();
//! settings.iam_jwks_url = Some("https://iam.cloud.ibm.com/identity/keys".into());
//! let err = settings.start().await.unwrap_err();
//! assert_eq!(err.to_string(), "BROKER_IAM_JWKS_URL needs BROKER_IAM_IDENTITIES");
//! ibm.shutdown().await;
//! # Ok::<(), osb_iam::setup::SetupError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

use osb_tower::auth::{Authenticate, AuthenticateExt};

use crate::apikey::{ApiKey, ApiKeyClient};
use crate::keys::{InvalidKeysUrl, KeyCache, RefreshTask};
use crate::{Environment, Policy, Verifier};

/// Production IAM, the default of [`Settings::iam_url`].
const PRODUCTION_IAM: &str = "https://iam.cloud.ibm.com";
/// How often IAM's keys are fetched again (as IBM's reference broker does); an unknown `kid`
/// fetches them at once.
const KEY_REFRESH: Duration = Duration::from_secs(20 * 60);

/// The IBM Cloud settings of a broker; see the [module docs](self).
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
/// Errors name the environment variables. `Debug` and `Display` never show the API key, the
/// client secret or the session key.
#[derive(Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[non_exhaustive]
pub struct Settings {
    /// IBM Cloud IAM's base URL: issuer `<url>/identity`, keys `<url>/identity/keys`, tokens
    /// `<url>/identity/token`; plain `http` only on a loopback host (a local fake).
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_IAM_URL", default_value = PRODUCTION_IAM)
    )]
    pub iam_url: String,
    /// IAM's JWK set URL: set, IAM bearer tokens of the allowed identities are accepted besides
    /// Basic credentials.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_IAM_JWKS_URL", requires = "iam_identities")
    )]
    pub iam_jwks_url: Option<String>,
    /// The `iss` IAM tokens must carry; unset, `<iam url>/identity`.
    #[cfg_attr(feature = "clap", arg(long, env = "BROKER_IAM_ISSUER"))]
    pub iam_issuer: Option<String>,
    /// The `iam_id`s let in with a bearer token (comma-separated), e.g. `crn-<the broker's CRN>`
    /// for IBM Cloud's "Bearer CRN" scheme (NOTES §3).
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_IAM_IDENTITIES", value_delimiter = ',')
    )]
    pub iam_identities: Vec<String>,
    /// The provider's service ID API key, for the dashboard's access check and for metering.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_IAM_API_KEY", hide_env_values = true)
    )]
    pub iam_api_key: Option<ApiKey>,
    /// The dashboard's SSO client id: set, the dashboard sign-in is on (it needs the secret, the
    /// redirect URL, the service name and the API key).
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[cfg_attr(feature = "clap", arg(
        long,
        env = "BROKER_DASHBOARD_CLIENT_ID",
        requires_all = ["dashboard_client_secret", "dashboard_redirect_url", "service_name", "iam_api_key"],
    ))]
    pub dashboard_client_id: Option<String>,
    /// The dashboard's SSO client secret.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "BROKER_DASHBOARD_CLIENT_SECRET", hide_env_values = true)
    )]
    pub dashboard_client_secret: Option<String>,
    /// The dashboard client's registered redirect URL, e.g. `https://<host>/auth/callback`; the
    /// callback is served at its path.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[cfg_attr(feature = "clap", arg(long, env = "BROKER_DASHBOARD_REDIRECT_URL"))]
    pub dashboard_redirect_url: Option<String>,
    /// The key sealing dashboard sessions: base64 of at least 32 random bytes, shared by all
    /// replicas; unset, each process generates its own and its sessions end with it.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[cfg_attr(feature = "clap", arg(
        long,
        env = "BROKER_DASHBOARD_SESSION_KEY",
        hide_env_values = true,
        value_parser = parse_session_key,
    ))]
    pub dashboard_session_key: Option<crate::dashboard::SessionKey>,
    /// The service's name in IAM: the dashboard lets a user in when IAM permits
    /// `<name>.dashboard.view` on the instance.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[cfg_attr(feature = "clap", arg(long, env = "BROKER_SERVICE_NAME"))]
    pub service_name: Option<String>,
    /// IBM's metering API, e.g. `https://billing.cloud.ibm.com`: set, usage reporting is on (it
    /// needs the API key).
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

#[cfg(all(feature = "clap", feature = "dashboard"))]
fn parse_session_key(value: &str) -> Result<crate::dashboard::SessionKey, String> {
    crate::dashboard::SessionKey::from_base64(value).map_err(|err| err.to_string())
}

/// Why [`IbmCloud::start_metering`] could not start.
#[cfg(feature = "metering")]
#[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeteringError {
    /// The metering URL is unusable.
    #[error(transparent)]
    Url(#[from] crate::metering::InvalidBaseUrl),
    /// The reporter's configuration is unusable.
    #[error(transparent)]
    Reporter(#[from] crate::metering::ReporterConfigError),
}

/// Why the IBM Cloud side could not be set up ([`Settings::start`], [`IbmCloud::start_metering`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A setting is given but empty (an empty environment variable is no value).
    #[error("{setting} is empty")]
    Empty {
        /// The setting (its environment variable).
        setting: &'static str,
    },
    /// A capability was switched on without a setting it needs.
    #[error("{capability} needs {missing}")]
    Missing {
        /// The setting that switched the capability on (its environment variable).
        capability: &'static str,
        /// The setting it needs (its environment variable).
        missing: &'static str,
    },
    /// The IAM URL or the JWK set URL is unusable.
    #[error(transparent)]
    KeysUrl(#[from] InvalidKeysUrl),
    /// The IAM URL is unusable for the dashboard sign-in's discovery.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[error(transparent)]
    DiscoveryUrl(#[from] crate::dashboard::InvalidDiscoveryUrl),
    /// The IAM URL is unusable for the dashboard's access check.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[error(transparent)]
    AuthzUrl(#[from] crate::authz::InvalidUrl),
    /// The dashboard sign-in's settings are unusable (e.g. the redirect URL).
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[error("the dashboard sign-in's settings are unusable")]
    Dashboard(#[from] crate::dashboard::ConfigError),
    /// Usage metering could not start.
    #[cfg(feature = "metering")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
    #[error("usage metering could not start")]
    Metering(#[from] MeteringError),
}

impl Settings {
    /// The IAM environment these settings name. A loopback `http` IAM (a local fake) is
    /// accepted; every other host needs `https`.
    pub fn environment(&self) -> Environment {
        let base = self.iam_url.trim_end_matches('/');
        let keys = (self.iam_jwks_url.clone()).unwrap_or_else(|| format!("{base}/identity/keys"));
        let issuer = (self.iam_issuer.clone()).unwrap_or_else(|| format!("{base}/identity"));
        Environment::custom(keys, issuer, format!("{base}/identity/token"))
            .insecure_allow_loopback_http()
    }

    /// Whether IAM bearer tokens are accepted on the broker's API.
    pub fn bearer_enabled(&self) -> bool {
        self.iam_jwks_url.is_some()
    }

    /// Whether the dashboard sign-in is on.
    pub fn dashboard_enabled(&self) -> bool {
        #[cfg(feature = "dashboard")]
        return self.dashboard_client_id.is_some();
        #[cfg(not(feature = "dashboard"))]
        false
    }

    /// Whether usage metering is on.
    pub fn metering_enabled(&self) -> bool {
        #[cfg(feature = "metering")]
        return self.metering_url.is_some();
        #[cfg(not(feature = "metering"))]
        false
    }

    /// Checks the settings and starts what they switch on: IAM's keys are fetched (a failure
    /// is logged and retried on the first token, so a broker starts while IAM is unreachable)
    /// and refreshed every 20 minutes while the [`IbmCloud`] lives; the dashboard guard is
    /// configured. Must run inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`SetupError`] when a capability lacks a setting it needs or a URL is unusable.
    pub async fn start(&self) -> Result<IbmCloud, SetupError> {
        self.check_not_empty()?;
        let environment = self.environment();
        let bearer = self.bearer_enabled();
        let needs_key = self.dashboard_enabled() || self.metering_enabled();
        let capability = if self.dashboard_enabled() {
            "BROKER_DASHBOARD_CLIENT_ID"
        } else {
            "BROKER_METERING_URL"
        };
        if needs_key && self.iam_api_key.is_none() {
            return Err(SetupError::Missing {
                capability,
                missing: "BROKER_IAM_API_KEY",
            });
        }
        if bearer && self.iam_identities.is_empty() {
            return Err(SetupError::Missing {
                capability: "BROKER_IAM_JWKS_URL",
                missing: "BROKER_IAM_IDENTITIES",
            });
        }
        let keys = if bearer || self.dashboard_enabled() {
            Some(environment.key_cache()?)
        } else {
            None
        };
        let tokens = (self.iam_api_key.clone())
            .map(|key| ApiKeyClient::builder(key).environment(&environment).build());
        let bearer = keys.as_ref().filter(|_| bearer).map(|keys| {
            let policy = Policy::iam_ids(self.iam_identities.iter().cloned());
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

    /// Refuses a given but empty setting: never a usable value, and a likely configuration
    /// slip (`BROKER_X=` in a deployment file).
    fn check_not_empty(&self) -> Result<(), SetupError> {
        let mut given: Vec<(&'static str, &str)> = vec![("BROKER_IAM_URL", &self.iam_url)];
        let optional = [
            ("BROKER_IAM_JWKS_URL", &self.iam_jwks_url),
            ("BROKER_IAM_ISSUER", &self.iam_issuer),
            #[cfg(feature = "dashboard")]
            ("BROKER_DASHBOARD_CLIENT_ID", &self.dashboard_client_id),
            #[cfg(feature = "dashboard")]
            (
                "BROKER_DASHBOARD_CLIENT_SECRET",
                &self.dashboard_client_secret,
            ),
            #[cfg(feature = "dashboard")]
            (
                "BROKER_DASHBOARD_REDIRECT_URL",
                &self.dashboard_redirect_url,
            ),
            #[cfg(feature = "dashboard")]
            ("BROKER_SERVICE_NAME", &self.service_name),
            #[cfg(feature = "metering")]
            ("BROKER_METERING_URL", &self.metering_url),
        ];
        given.extend(
            optional
                .iter()
                .filter_map(|(name, value)| Some((*name, value.as_deref()?))),
        );
        given.extend(
            self.iam_identities
                .iter()
                .map(|id| ("BROKER_IAM_IDENTITIES", id.as_str())),
        );
        match given.into_iter().find(|(_, value)| value.trim().is_empty()) {
            Some((setting, _)) => Err(SetupError::Empty { setting }),
            None => Ok(()),
        }
    }

    /// The dashboard guard: any IBM Cloud user may sign in, the access check
    /// (`<service name>.dashboard.view` on the instance) decides who sees which instance.
    #[cfg(feature = "dashboard")]
    fn dashboard<'a>(
        &'a self,
        environment: &Environment,
        keys: &KeyCache,
        tokens: &ApiKeyClient,
    ) -> Result<crate::DashboardAuth, SetupError> {
        let need = |value: &'a Option<String>, missing| {
            value.as_deref().ok_or(SetupError::Missing {
                capability: "BROKER_DASHBOARD_CLIENT_ID",
                missing,
            })
        };
        let id = need(&self.dashboard_client_id, "BROKER_DASHBOARD_CLIENT_ID")?;
        let secret = need(
            &self.dashboard_client_secret,
            "BROKER_DASHBOARD_CLIENT_SECRET",
        )?;
        let redirect = need(
            &self.dashboard_redirect_url,
            "BROKER_DASHBOARD_REDIRECT_URL",
        )?;
        let service = need(&self.service_name, "BROKER_SERVICE_NAME")?;
        let verifier = Verifier::builder(keys.clone(), Policy::insecure_any_identity())
            .issuer(environment.issuer())
            .build();
        let mut authz = crate::authz::AuthzClient::builder(tokens.clone()).environment(environment);
        let mut auth = crate::DashboardAuth::builder(id, secret, redirect, verifier)
            .discovery(environment.discovery()?);
        if environment.is_loopback_http() {
            (authz, auth) = (authz.insecure_allow_http(), auth.insecure_allow_http());
        }
        if let Some(key) = &self.dashboard_session_key {
            auth = auth.session_key(key.clone());
        }
        Ok(auth.access_check(authz.build()?, service).build()?)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

/// What the settings switch on, one line each, for a start-up banner; no secrets.
impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let environment = self.environment();
        if self.bearer_enabled() {
            let identities = self.iam_identities.join(", ");
            let keys = environment.keys_url();
            writeln!(
                f,
                "IAM bearer tokens accepted from {identities} (keys from {keys})"
            )?;
        }
        #[cfg(feature = "dashboard")]
        if let Some(id) = &self.dashboard_client_id {
            let issuer = environment.issuer();
            writeln!(f, "dashboard sign-in through {issuer} as client {id}")?;
        }
        #[cfg(feature = "metering")]
        if let Some(url) = &self.metering_url {
            writeln!(f, "usage metering to {url}")?;
        }
        Ok(())
    }
}

/// The IBM Cloud pieces [`Settings::start`] set up. Dropping it stops the key refresh;
/// [`shutdown`](Self::shutdown) waits for that.
#[derive(Debug)]
pub struct IbmCloud {
    environment: Environment,
    keys: Option<KeyCache>,
    refresh: Option<RefreshTask>,
    tokens: Option<ApiKeyClient>,
    bearer: Option<Verifier>,
    #[cfg(feature = "dashboard")]
    dashboard: Option<crate::DashboardAuth>,
    #[cfg(feature = "metering")]
    metering_url: Option<String>,
    #[cfg(feature = "metering")]
    reporter: Option<crate::metering::ReporterHandle>,
}

impl IbmCloud {
    /// The broker API's authenticator: what `basic` accepts, or, when bearer tokens are on, an
    /// IAM bearer token of an allowed identity (the verified [`IamClaims`](crate::IamClaims)
    /// go into the request's extensions). Put it in an
    /// [`osb_tower::auth::RequireAuthLayer`].
    pub fn broker_auth(&self, basic: impl Authenticate) -> Box<dyn Authenticate> {
        match &self.bearer {
            Some(verifier) => Box::new(basic.or(verifier.clone())),
            None => Box::new(basic),
        }
    }

    /// The IAM environment.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// IAM's signing keys, when bearer tokens or the dashboard are on.
    pub fn key_cache(&self) -> Option<&KeyCache> {
        self.keys.as_ref()
    }

    /// The verifier of bearer tokens, when they are on.
    pub fn bearer_verifier(&self) -> Option<&Verifier> {
        self.bearer.as_ref()
    }

    /// The provider's API-key client (one token cache for every IBM call), when an API key
    /// is set.
    pub fn api_key_client(&self) -> Option<&ApiKeyClient> {
        self.tokens.as_ref()
    }

    /// The dashboard guard, when the sign-in is on: put
    /// [`layer`](crate::DashboardAuth::layer) in front of the dashboard routes and serve
    /// [`callback`](crate::DashboardAuth::callback) at
    /// [`callback_path`](crate::DashboardAuth::callback_path).
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    pub fn dashboard(&self) -> Option<&crate::DashboardAuth> {
        self.dashboard.as_ref()
    }

    /// A metering client reporting the usage of the service `resource_id` (the offering's id
    /// in the catalog), when metering is on; hand it to
    /// [`UsageReporter::builder`](crate::metering::UsageReporter::builder).
    ///
    /// # Errors
    ///
    /// [`InvalidBaseUrl`](crate::metering::InvalidBaseUrl) when the metering URL is neither
    /// `https` nor `http` on a loopback host.
    #[cfg(feature = "metering")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
    pub fn metering_client(
        &self,
        resource_id: impl Into<String>,
    ) -> Result<Option<crate::metering::MeteringClient>, crate::metering::InvalidBaseUrl> {
        let (Some(url), Some(tokens)) = (&self.metering_url, &self.tokens) else {
            return Ok(None);
        };
        let builder = crate::metering::MeteringClient::builder(resource_id, tokens.clone());
        builder.base_url(url).build().map(Some)
    }

    /// Starts reporting usage when metering is on (does nothing otherwise): a
    /// [`UsageReporter`](crate::metering::UsageReporter) for the service `resource_id` (the
    /// offering's id in the catalog) measuring the instances of `metered_plans` with `meter`,
    /// its outbox in `store` (the broker's state store), with the reporter's defaults. It runs
    /// until [`shutdown`](Self::shutdown); [`reporter`](Self::reporter) reads its metrics. For
    /// other settings, build a reporter on [`metering_client`](Self::metering_client).
    ///
    /// # Errors
    ///
    /// [`SetupError::Metering`] when the metering URL is unusable or no plan is named.
    #[cfg(feature = "metering")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
    pub fn start_metering<S, P>(
        &mut self,
        resource_id: impl Into<String>,
        metered_plans: impl IntoIterator<Item = P>,
        store: std::sync::Arc<S>,
        meter: impl crate::metering::Meter,
    ) -> Result<(), SetupError>
    where
        S: osb_core::managed::StateStore + osb_core::managed::UsageOutbox,
        P: Into<String>,
    {
        let client = self
            .metering_client(resource_id)
            .map_err(MeteringError::from)?;
        let Some(client) = client else {
            return Ok(());
        };
        let mut reporter = crate::metering::UsageReporter::builder(client, store, meter);
        for plan in metered_plans {
            reporter = reporter.metered_plan(plan);
        }
        let reporter = reporter.build().map_err(MeteringError::from)?;
        self.reporter = Some(reporter.start());
        Ok(())
    }

    /// The running usage reporter, once [`start_metering`](Self::start_metering) started it.
    #[cfg(feature = "metering")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
    pub fn reporter(&self) -> Option<&crate::metering::ReporterHandle> {
        self.reporter.as_ref()
    }

    /// Stops what runs in the background (the usage reporter, between two steps, and the key
    /// refresh) and waits until it has stopped.
    pub async fn shutdown(self) {
        #[cfg(feature = "metering")]
        if let Some(reporter) = self.reporter {
            reporter.shutdown().await;
        }
        if let Some(refresh) = self.refresh {
            refresh.shutdown().await;
        }
    }
}
