//! The [`Guard`] middleware: lets signed-in browsers through, sends the others to IAM.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use tower::Service;

use super::config::Config;
use super::instance::MAX_INSTANCE_ID;
use super::redirect::safe_return_path;
use super::session::{Session, SignInState, unix_now};
use super::{DashboardUser, Rejection};

/// The future of the dashboard's services, [`Guard`] and [`Callback`](super::Callback).
pub type ResponseFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// Middleware in front of the provider's dashboard routes.
///
/// For each request it finds the instance (its [`ExtractInstance`](super::ExtractInstance);
/// none: 404), then
/// - with a valid session cookie that covers the instance, puts the [`DashboardUser`] into the
///   request's extensions and calls the inner service;
/// - otherwise answers **302** to IAM's `authorization_endpoint` (from the
///   [`Discovery`](super::Discovery) document) with `client_id`, the registered `redirect_uri`,
///   `response_type=code` and a random `state`, whose nonce is bound to this browser in a sealed,
///   short-lived cookie sent back only to the callback (osb-core rules.md §17.6). IAM unavailable: 502.
///
/// Build it with [`DashboardAuth::layer`](super::DashboardAuth::layer).
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Guard<S> {
    pub(super) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the middleware.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Guard<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone may not be ready: keep the ready service for this call and leave the clone
        // in `self` (https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(async move {
            // An id too long to travel in the state cookie names no instance of ours.
            let instance = config.instance.extract_instance(request.uri());
            let Some(instance) =
                instance.filter(|id| !id.is_empty() && id.len() <= MAX_INSTANCE_ID)
            else {
                return Ok(Rejection::NoInstance.into_response());
            };
            if let Some(session) = config.cookies.session(request.headers(), unix_now()) {
                // Without an access check every signed-in user may view every instance.
                if config.access.is_none() || session.allows(&instance) {
                    request.extensions_mut().insert(user(session, instance));
                    return inner.call(request).await;
                }
            }
            Ok(start_sign_in(&config, request.uri(), instance).await)
        })
    }
}

fn user(session: Session, instance_id: String) -> DashboardUser {
    DashboardUser {
        iam_id: session.iam_id,
        name: session.name,
        email: session.email,
        account_id: session.account_id,
        instance_id,
    }
}

/// The 302 to IAM's authorization endpoint, with the state cookie.
async fn start_sign_in<B: From<Bytes>>(
    config: &Config,
    uri: &Uri,
    instance: String,
) -> Response<B> {
    let endpoints = match config.discovery.endpoints().await {
        Ok(endpoints) => endpoints,
        Err(error) => {
            tracing::warn!(error = %error, "dashboard sign-in: IAM's discovery document is unavailable");
            return Rejection::IamUnavailable.into_response();
        }
    };
    let Some(nonce) = random_nonce() else {
        tracing::error!("dashboard sign-in: no randomness available for the state nonce");
        return Rejection::Internal.into_response();
    };
    // The page asked for, if it is safe to send the browser back to (no open redirect).
    let return_to = uri
        .path_and_query()
        .map(|path| path.as_str())
        .and_then(safe_return_path)
        .unwrap_or(&config.default_return_path)
        .to_owned();
    let lifetime = config.state_lifetime;
    let state = SignInState {
        nonce,
        return_to,
        instance,
        expires: unix_now().saturating_add(lifetime.as_secs()),
    };
    let Ok(mut location) = reqwest::Url::parse(&endpoints.authorization_endpoint) else {
        return Rejection::IamUnavailable.into_response();
    };
    location
        .query_pairs_mut()
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", &config.redirect_uri)
        // osb-core rules.md §17.6: IBM's docs spell it `response-type`; IAM and its samples use this.
        .append_pair("response_type", "code")
        .append_pair("state", &state.nonce);
    let (Some(cookie), Ok(location)) = (
        config.cookies.set_state(&state, lifetime),
        HeaderValue::try_from(location.as_str()),
    ) else {
        return Rejection::Internal.into_response();
    };
    redirect(location, [cookie])
}

/// 32 random bytes, base64url: the `state` nonce.
fn random_nonce() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// A `302 Found` to `location` setting `cookies`, never cached.
pub(super) fn redirect<B: From<Bytes>>(
    location: HeaderValue,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response<B> {
    let mut response = Response::new(B::from(Bytes::new()));
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}
