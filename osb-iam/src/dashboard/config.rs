//! The guard's configuration: [`DashboardAuthBuilder`] and what it builds.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::DashboardAuth;
use super::discovery::Discovery;
use super::instance::{DashboardPath, ExtractInstance};
use super::redirect::safe_return_path;
use super::session::{CookieSettings, SessionKey};
use crate::Verifier;
use crate::authz::AuthzClient;

/// Default session lifetime.
const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(3600);
/// Default time a sign-in may take, IAM's login page included.
const DEFAULT_STATE_LIFETIME: Duration = Duration::from_secs(600);
/// Default timeout of the code exchange.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of instances one session remembers.
const DEFAULT_MAX_INSTANCES: usize = 8;

/// Which of `/v2/authz`'s two subject forms the access check sends (osb-core rules.md §17.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SubjectForm {
    /// `{"accessTokenBody": "<payload segment of the user's token>"}`, the form IBM documented
    /// last. The default.
    #[default]
    AccessTokenBody,
    /// `{"attributes": {"id": "<iam_id>", "scope": "<scope>"}}`, the older form.
    Attributes,
}

/// The provider's SSO client secret from Partner Center. `Debug` never shows it.
#[derive(Clone)]
pub(super) struct ClientSecret(pub(super) Arc<str>);

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The access check done at sign-in.
#[derive(Debug, Clone)]
pub(super) struct AccessCheck {
    pub(super) authz: AuthzClient,
    pub(super) action: String,
    pub(super) subject_form: SubjectForm,
}

/// Everything the guard and its callback share.
pub(super) struct Config {
    pub(super) client_id: String,
    pub(super) client_secret: ClientSecret,
    pub(super) redirect_uri: String,
    pub(super) discovery: Discovery,
    pub(super) verifier: Verifier,
    pub(super) access: Option<AccessCheck>,
    pub(super) instance: Arc<dyn ExtractInstance>,
    pub(super) cookies: CookieSettings,
    pub(super) session_lifetime: Duration,
    pub(super) state_lifetime: Duration,
    pub(super) default_return_path: String,
    pub(super) max_instances: usize,
    pub(super) http: Option<reqwest::Client>,
    pub(super) timeout: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardAuth")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("redirect_uri", &self.redirect_uri)
            .field("discovery", &self.discovery)
            .field("access", &self.access)
            .field("cookies", &self.cookies)
            .field("session_lifetime", &self.session_lifetime)
            .field("state_lifetime", &self.state_lifetime)
            .finish_non_exhaustive()
    }
}

/// Why a [`DashboardAuthBuilder`] could not build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The redirect URI does not parse as an absolute URL, or is not `https` without
    /// [`insecure_allow_http`](DashboardAuthBuilder::insecure_allow_http).
    #[error("invalid redirect URI `{uri}`: {reason}")]
    InvalidRedirectUri {
        /// The URI given.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Neither an access check ([`access_check`](DashboardAuthBuilder::access_check)) nor its
    /// explicit absence ([`insecure_skip_access_check`](DashboardAuthBuilder::insecure_skip_access_check))
    /// was configured.
    #[error(
        "configure the access check (access_check) or switch it off (insecure_skip_access_check)"
    )]
    NoAccessCheck,
    /// The default return path is not a same-origin path.
    #[error("the default return path must be a same-origin path such as `/`")]
    InvalidReturnPath,
    /// A cookie name or path holds characters a cookie cannot.
    #[error("invalid cookie {what}")]
    InvalidCookie {
        /// `name` or `path`.
        what: &'static str,
    },
    /// No session key was given and none could be generated.
    #[error("no session key given and no randomness available to generate one")]
    NoSessionKey,
}

/// Configures a [`DashboardAuth`]; see [`DashboardAuth::builder`].
#[must_use = "call .build() to get a DashboardAuth"]
pub struct DashboardAuthBuilder {
    client_id: String,
    client_secret: ClientSecret,
    redirect_uri: String,
    verifier: Verifier,
    discovery: Discovery,
    access: Option<AccessCheck>,
    skip_access_check: bool,
    action: Option<String>,
    subject_form: SubjectForm,
    instance: Arc<dyn ExtractInstance>,
    key: Option<SessionKey>,
    cookie_name: String,
    cookie_path: String,
    insecure_allow_http: bool,
    session_lifetime: Duration,
    state_lifetime: Duration,
    default_return_path: String,
    max_instances: usize,
    http: Option<reqwest::Client>,
    timeout: Duration,
}

impl fmt::Debug for DashboardAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardAuthBuilder")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("redirect_uri", &self.redirect_uri)
            .field("discovery", &self.discovery)
            .field("access", &self.access)
            .field("skip_access_check", &self.skip_access_check)
            .field("insecure_allow_http", &self.insecure_allow_http)
            .finish_non_exhaustive()
    }
}

impl DashboardAuthBuilder {
    pub(super) fn new(
        client_id: String,
        client_secret: String,
        redirect_uri: String,
        verifier: Verifier,
    ) -> Self {
        Self {
            client_id,
            client_secret: ClientSecret(Arc::from(client_secret)),
            redirect_uri,
            verifier,
            discovery: Discovery::production(),
            access: None,
            skip_access_check: false,
            action: None,
            subject_form: SubjectForm::default(),
            instance: Arc::new(DashboardPath::ibm()),
            key: None,
            cookie_name: "osb_dashboard".to_owned(),
            cookie_path: "/".to_owned(),
            insecure_allow_http: false,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
            state_lifetime: DEFAULT_STATE_LIFETIME,
            default_return_path: "/".to_owned(),
            max_instances: DEFAULT_MAX_INSTANCES,
            http: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Where IAM's endpoints come from.
    ///
    /// Default: [`Discovery::production`].
    pub fn discovery(mut self, discovery: Discovery) -> Self {
        self.discovery = discovery;
        self
    }

    /// Asks IAM's `/v2/authz`, with `authz`, whether the user may view the instance before
    /// letting them in; the action is `<service_name>.dashboard.view` (osb-core rules.md §17.6) unless
    /// [`action`](Self::action) says otherwise.
    ///
    /// One of this or [`insecure_skip_access_check`](Self::insecure_skip_access_check) is
    /// required.
    pub fn access_check(mut self, authz: AuthzClient, service_name: &str) -> Self {
        self.access = Some(AccessCheck {
            authz,
            action: format!("{service_name}.dashboard.view"),
            subject_form: SubjectForm::default(),
        });
        self.skip_access_check = false;
        self
    }

    /// The action the access check asks about.
    ///
    /// Default: `<service_name>.dashboard.view`.
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// The subject form the access check sends.
    ///
    /// Default: [`SubjectForm::AccessTokenBody`].
    pub fn subject_form(mut self, form: SubjectForm) -> Self {
        self.subject_form = form;
        self
    }

    /// Lets in every user IAM signs in, without asking `/v2/authz` (IBM's current onboarding
    /// docs no longer describe that check).
    ///
    /// Risk: any IBM Cloud user can then open any instance's dashboard; compare
    /// [`DashboardUser::account_id`](super::DashboardUser::account_id) with the account the
    /// instance was provisioned in (the OSB `context`) in your handler instead.
    pub fn insecure_skip_access_check(mut self) -> Self {
        self.access = None;
        self.skip_access_check = true;
        self
    }

    /// How the instance id is found in a request.
    ///
    /// Default: [`DashboardPath::ibm`], `/dashboard/<URL-encoded instance CRN>`.
    pub fn instance(mut self, extract: impl ExtractInstance) -> Self {
        self.instance = Arc::new(extract);
        self
    }

    /// The key sealing the cookies; give every replica the same one.
    ///
    /// Default: a random key generated at [`build`](Self::build), with a warning in the log:
    /// sessions then end with the process and are not shared between replicas.
    pub fn session_key(mut self, key: SessionKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The session cookie's name; sign-in state cookies are named `<name>_state_<tag>`.
    ///
    /// Default: `osb_dashboard`.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// The session cookie's `Path`: set it to the dashboard's mount point to keep the cookie
    /// away from the rest of the site.
    ///
    /// Default: `/`.
    pub fn cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie_path = path.into();
        self
    }

    /// Cookies without `Secure`, and a plain `http` redirect URI: for local development only.
    ///
    /// Risk: the session cookie then travels in clear text over any plain HTTP connection to
    /// this host, where anyone on the path can take over the session. Default: off.
    pub fn insecure_allow_http(mut self) -> Self {
        self.insecure_allow_http = true;
        self
    }

    /// How long a sign-in lasts before IAM is asked again.
    ///
    /// Default: 1 hour (IAM's access tokens live about as long). Longer keeps a user whose
    /// access was revoked in for that long.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = lifetime;
        self
    }

    /// How long a started sign-in (IAM's login page included) may take.
    ///
    /// Default: 10 minutes.
    pub fn state_lifetime(mut self, lifetime: Duration) -> Self {
        self.state_lifetime = lifetime;
        self
    }

    /// Where to go after signing in when the page first asked for cannot be returned to
    /// safely (see the crate's open-redirect rules).
    ///
    /// Default: `/`.
    pub fn default_return_path(mut self, path: impl Into<String>) -> Self {
        self.default_return_path = path.into();
        self
    }

    /// How many instances one session remembers as viewable; opening another one signs in
    /// again (silently, while the user's IAM session lasts).
    ///
    /// Default: 8 (keeps the cookie well under 4 KiB).
    pub fn max_instances_per_session(mut self, max: usize) -> Self {
        self.max_instances = max.max(1);
        self
    }

    /// Timeout of the code exchange at IAM's token endpoint. Default: 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Use this `reqwest` client for the code exchange. Default: a shared rustls client that
    /// follows no redirects.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the guard's shared state.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] saying what is wrong.
    pub fn build(self) -> Result<DashboardAuth, ConfigError> {
        let redirect = reqwest::Url::parse(&self.redirect_uri).map_err(|_| {
            ConfigError::InvalidRedirectUri {
                uri: self.redirect_uri.clone(),
                reason: "not an absolute URL",
            }
        })?;
        match redirect.scheme() {
            "https" => {}
            "http" if self.insecure_allow_http => {}
            _ => {
                return Err(ConfigError::InvalidRedirectUri {
                    uri: self.redirect_uri,
                    reason: "the scheme must be https",
                });
            }
        }
        let access = match (self.access, self.skip_access_check) {
            (Some(mut access), _) => {
                if let Some(action) = self.action {
                    access.action = action;
                }
                access.subject_form = self.subject_form;
                Some(access)
            }
            (None, true) => None,
            (None, false) => return Err(ConfigError::NoAccessCheck),
        };
        if safe_return_path(&self.default_return_path).is_none() {
            return Err(ConfigError::InvalidReturnPath);
        }
        let cookie_token = |text: &str| {
            !text.is_empty()
                && text
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
        };
        if !cookie_token(&self.cookie_name) {
            return Err(ConfigError::InvalidCookie { what: "name" });
        }
        if !self.cookie_path.starts_with('/')
            || !self
                .cookie_path
                .bytes()
                .all(|byte| byte.is_ascii_graphic() && byte != b';')
        {
            return Err(ConfigError::InvalidCookie { what: "path" });
        }
        let key = match self.key {
            Some(key) => key,
            None => {
                tracing::warn!(
                    "no dashboard session key configured: using a random one; sessions end with this process and are not shared between replicas"
                );
                SessionKey::generate().ok_or(ConfigError::NoSessionKey)?
            }
        };
        let cookies = CookieSettings {
            key,
            name: self.cookie_name,
            path: self.cookie_path,
            callback_path: redirect.path().to_owned(),
            secure: !self.insecure_allow_http,
        };
        Ok(DashboardAuth {
            config: Arc::new(Config {
                client_id: self.client_id,
                client_secret: self.client_secret,
                redirect_uri: self.redirect_uri,
                discovery: self.discovery,
                verifier: self.verifier,
                access,
                instance: self.instance,
                cookies,
                session_lifetime: self.session_lifetime,
                state_lifetime: self.state_lifetime,
                default_return_path: self.default_return_path,
                max_instances: self.max_instances,
                http: self.http,
                timeout: self.timeout,
            }),
        })
    }
}
