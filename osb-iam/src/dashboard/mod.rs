//! Single sign-on through IBM Cloud IAM for the provider's dashboard, with IAM's per-instance
//! access check.
//!
//! IBM Cloud's console opens an instance's `dashboard_url`; the provider must sign the user in
//! through IAM and show only instances IAM says they may access (osb-core rules.md §17.6). Three pieces do
//! that:
//!
//! - the [`Guard`] middleware (from [`DashboardAuth::layer`]) in front of the dashboard routes:
//!   a browser with a valid session passes, with the [`DashboardUser`] in the request's
//!   extensions; any other is sent to IAM's login with a random `state` bound to it;
//! - the [`Callback`] service (from [`DashboardAuth::callback`]) at the registered redirect
//!   URI: checks `state`, redeems the code, verifies the access token with the crate's
//!   [`Verifier`], asks [`/v2/authz`](crate::authz) whether the user may view
//!   the instance (`<service name>.dashboard.view`), sets the session cookie and sends the
//!   browser back to the page it asked for;
//! - the [`Discovery`] document, from which IAM's endpoints are read.
//!
//! # Example
//!
//! With axum (plain hyper works the same way: both are `tower::Service`s over `http` types):
//!
//! ```
//! use axum::{Extension, Router, routing::get};
//! use osb_iam::apikey::{ApiKey, ApiKeyClient};
//! use osb_iam::authz::AuthzClient;
//! use osb_iam::dashboard::SessionKey;
//! use osb_iam::{DashboardAuth, DashboardUser, Environment, Policy, Verifier};
//!
//! async fn dashboard(Extension(user): Extension<DashboardUser>) -> String {
//!     format!("Hello {}, this is instance {}", user.iam_id, user.instance_id)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Any IBM Cloud user may sign in; the access check below decides who sees which instance.
//! let verifier = Verifier::for_environment(&Environment::PRODUCTION, Policy::insecure_any_identity())?.build();
//! // The provider's service ID, whose token asks IAM's access check.
//! let service_id = ApiKeyClient::new(ApiKey::new("…service ID API key from your secret store…"));
//!
//! let auth = DashboardAuth::builder(
//!     "my-sso-client-id",                               // from Partner Center
//!     "…SSO client secret from your secret store…",
//!     "https://broker.example.com/auth/callback",       // as registered in Partner Center
//!     verifier,
//! )
//! .access_check(AuthzClient::builder(service_id).build()?, "my-service")
//! .session_key(SessionKey::from_bytes(&[42; 64])?)      // random, shared by all replicas
//! .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/dashboard/{instance_crn}", get(dashboard))
//!     .layer(auth.layer())
//!     .route_service("/auth/callback", auth.callback());
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # Security
//!
//! - **CSRF.** `state` is 256 random bits; its nonce is sealed into a cookie that lives 10
//!   minutes, is sent only to the callback path, and is deleted once used. A callback whose
//!   `state` does not match this browser's cookie is refused (403) before IAM is called.
//! - **Cookies** are sealed with AES-256-GCM ([`SessionKey`]): authenticated encryption, so a
//!   changed byte makes a cookie unreadable (it then counts as absent), and the content (user,
//!   instances) is not readable by the browser. They are `HttpOnly`, `SameSite=Lax`, `Secure`
//!   unless [`insecure_allow_http`](DashboardAuthBuilder::insecure_allow_http), and carry
//!   their expiry inside the seal (default session: 1 hour).
//! - **No open redirect.** The browser is only ever sent back to a same-origin path: `//host`,
//!   `/\host`, absolute URLs, control characters and backslashes fall back to the
//!   [`default_return_path`](DashboardAuthBuilder::default_return_path).
//! - **Errors** are small HTML pages that say what happened without internals (403 refusals,
//!   502 when IAM fails); the cause goes to `tracing`, never a token, code or secret.
//! - The access check is on unless switched off by name
//!   ([`insecure_skip_access_check`](DashboardAuthBuilder::insecure_skip_access_check)); IBM's
//!   current onboarding docs no longer describe it, and it is still the only per-instance check.

mod callback;
mod config;
mod discovery;
mod exchange;
mod guard;
mod instance;
mod layer;
mod redirect;
mod rejection;
mod session;
mod user;

use std::sync::Arc;

pub use callback::Callback;
pub use config::{ConfigError, DashboardAuthBuilder, SubjectForm};
pub use discovery::{Discovery, DiscoveryError, Endpoints, InvalidDiscoveryUrl};
pub use guard::{Guard, ResponseFuture};
pub use instance::{DashboardPath, ExtractInstance};
pub use layer::GuardLayer;
pub use rejection::Rejection;
pub use session::{InvalidSessionKey, SessionKey, ShortKey};
pub use user::DashboardUser;

use crate::Verifier;
use config::Config;

/// The dashboard sign-in: hands out the [`GuardLayer`] for the dashboard routes and the
/// [`Callback`] for the redirect URI, which share its configuration.
///
/// Cheap to clone. See the [module docs](self) for a complete example with axum.
///
/// # Example
///
/// With plain hyper: the guard and the callback are `tower::Service`s over `http` types.
///
/// ```
/// use std::convert::Infallible;
///
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use hyper::body::Incoming;
/// use osb_iam::{DashboardAuth, DashboardUser, Environment, Policy, Verifier};
/// use tower::{Layer, ServiceExt};
///
/// async fn page(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
///     let user = request.extensions().get::<DashboardUser>().map(|user| user.iam_id.clone());
///     Ok(Response::new(Full::from(user.unwrap_or_default())))
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::for_environment(&Environment::PRODUCTION, Policy::insecure_any_identity())?.build();
/// let auth = DashboardAuth::builder("client-id", "client-secret", "https://broker.example.com/auth/callback", verifier)
///     .insecure_skip_access_check() // for brevity: see `access_check`
///     .build()?;
///
/// let guarded = auth.layer().layer(tower::service_fn(page));
/// let callback = auth.callback();
/// let callback_path = auth.callback_path().to_owned();
/// let app = tower::service_fn(move |request: Request<Incoming>| {
///     let (guarded, callback) = (guarded.clone(), callback.clone());
///     let to_callback = request.uri().path() == callback_path;
///     async move {
///         if to_callback { callback.oneshot(request).await } else { guarded.oneshot(request).await }
///     }
/// });
/// // Serve each connection with `hyper_util::service::TowerToHyperService::new(app.clone())`.
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DashboardAuth {
    config: Arc<Config>,
}

impl DashboardAuth {
    /// Starts configuring the sign-in of the SSO client `client_id` / `client_secret` (from
    /// Partner Center), whose registered redirect URI is `redirect_uri` (absolute, `https`),
    /// verifying IAM's access tokens with `verifier` (its policy decides which identities may
    /// sign in at all; [`Policy::insecure_any_identity`](crate::Policy::insecure_any_identity)
    /// when the access check decides per instance).
    pub fn builder(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
        verifier: Verifier,
    ) -> DashboardAuthBuilder {
        DashboardAuthBuilder::new(
            client_id.into(),
            client_secret.into(),
            redirect_uri.into(),
            verifier,
        )
    }

    /// The layer to put in front of the dashboard routes.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer::new(self.config.clone())
    }

    /// The service to mount at the redirect URI's path.
    pub fn callback(&self) -> Callback {
        Callback::new(self.config.clone())
    }

    /// The path of the redirect URI, where [`callback`](Self::callback) belongs.
    pub fn callback_path(&self) -> &str {
        &self.config.cookies.callback_path
    }
}
