//! The [`Callback`] service at the registered redirect URI: finishes the sign-in.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, header};
use http_body_util::Full;
use subtle::ConstantTimeEq;
use tower::Service;

use super::Rejection;
use super::config::{Config, SubjectForm};
use super::exchange::{ExchangeError, exchange};
use super::guard::{ResponseFuture, redirect};
use super::redirect::safe_return_path;
use super::session::{STATE_TAG_LEN, Session, unix_now};
use crate::authz::{AuthzRequest, Subject};

/// Longest `state` accepted (the guard's nonces are 43 characters).
const MAX_STATE: usize = 128;
/// Longest `code` accepted.
const MAX_CODE: usize = 4096;

/// The service to mount at the registered redirect URI's path: IAM sends the browser back here
/// with `?code=…&state=…` (osb-core rules.md §17.6).
///
/// It checks that `state` matches the nonce bound to this browser by the [`Guard`](super::Guard)
/// (else 403), exchanges the code at IAM's token endpoint (client id and secret as HTTP Basic,
/// `response_type=cloud_iam`), verifies the access token with the [`Verifier`](crate::Verifier),
/// asks `/v2/authz` whether the user may view the instance (unless switched off), then sets the
/// session cookie and redirects to the page first asked for. Refusals answer 403, IAM failures
/// 502 (see [`Rejection`]). The request body is ignored.
///
/// Get one from [`DashboardAuth::callback`](super::DashboardAuth::callback).
#[derive(Debug, Clone)]
pub struct Callback {
    config: Arc<Config>,
}

impl Callback {
    pub(super) fn new(config: Arc<Config>) -> Self {
        Self { config }
    }
}

impl<ReqBody> Service<Request<ReqBody>> for Callback {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = self.config.clone();
        let (parts, _body) = request.into_parts();
        Box::pin(async move {
            Ok(finish_sign_in(&config, &parts.method, &parts.uri, &parts.headers).await)
        })
    }
}

/// What IAM put in the callback's query.
#[derive(Default)]
struct Query {
    state: Option<String>,
    code: Option<String>,
    error: bool,
}

impl Query {
    fn parse(uri: &Uri) -> Self {
        let mut query = Self::default();
        for (name, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
            match &*name {
                "state" => query.state = Some(value.into_owned()),
                "code" => query.code = Some(value.into_owned()),
                "error" => query.error = true,
                _ => {}
            }
        }
        query
    }
}

/// Whether `state` has the shape of the guard's nonces (so it can name a cookie).
fn well_formed_state(state: &str) -> bool {
    (STATE_TAG_LEN..=MAX_STATE).contains(&state.len())
        && state
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

async fn finish_sign_in(
    config: &Config,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    if method != Method::GET {
        return Rejection::MethodNotAllowed.into_response();
    }
    let query = Query::parse(uri);
    let Some(nonce) = query.state.filter(|state| well_formed_state(state)) else {
        return Rejection::InvalidState.into_response();
    };
    // This sign-in is over whatever happens next: its state cookie goes.
    let clear_state = config.cookies.clear_state(&nonce);
    let outcome = complete(config, &nonce, query.code, query.error, headers).await;
    let mut response = match outcome {
        Ok((location, session_cookie)) => redirect(location, [session_cookie]),
        Err(rejection) => rejection.into_response(),
    };
    if let Some(clear_state) = clear_state {
        response
            .headers_mut()
            .append(header::SET_COOKIE, clear_state);
    }
    response
}

async fn complete(
    config: &Config,
    nonce: &str,
    code: Option<String>,
    error: bool,
    headers: &HeaderMap,
) -> Result<(HeaderValue, HeaderValue), Rejection> {
    let now = unix_now();
    // CSRF: the `state` IAM echoes must be the nonce sealed into this browser's cookie by the
    // guard, and still young.
    let stored = config
        .cookies
        .state(headers, nonce)
        .ok_or(Rejection::InvalidState)?;
    let matches: bool = stored.nonce.as_bytes().ct_eq(nonce.as_bytes()).into();
    if !matches || stored.expires <= now {
        return Err(Rejection::InvalidState);
    }
    if error {
        return Err(Rejection::SignInFailed);
    }
    let code = code
        .filter(|code| !code.is_empty() && code.len() <= MAX_CODE)
        .ok_or(Rejection::SignInFailed)?;

    let endpoints = config.discovery.endpoints().await.map_err(|error| {
        tracing::warn!(error = %error, "dashboard sign-in: IAM's discovery document is unavailable");
        Rejection::IamUnavailable
    })?;
    let token = exchange(config, &endpoints.token_endpoint, &code).await.map_err(|error| {
        match error {
            ExchangeError::Refused { .. } => {
                tracing::info!(error = %error, "dashboard sign-in: IAM refused the authorization code");
                Rejection::CodeRefused
            }
            ExchangeError::Unavailable(_) => {
                tracing::warn!(error = &error as &dyn std::error::Error, "dashboard sign-in: IAM's token endpoint failed");
                // The endpoint may have moved: read the discovery document again next time.
                config.discovery.invalidate();
                Rejection::IamUnavailable
            }
        }
    })?;
    let claims = config.verifier.verify(&token).await.map_err(|rejection| {
        tracing::warn!(reason = %rejection, "dashboard sign-in: IAM's access token did not verify");
        Rejection::TokenRejected(rejection)
    })?;

    if let Some(access) = &config.access {
        let subject = match access.subject_form {
            SubjectForm::AccessTokenBody => Subject::from_access_token(&token).ok_or(
                Rejection::TokenRejected(crate::TokenRejection::Malformed {
                    reason: "not a JWT",
                }),
            )?,
            SubjectForm::Attributes => Subject::attributes(
                claims.iam_id.clone(),
                claims.scope.clone().unwrap_or_default(),
            ),
        };
        let request = AuthzRequest::new(subject, stored.instance.clone(), access.action.clone());
        match access.authz.check(&request).await {
            Ok(decision) if decision.is_permitted() => {}
            Ok(_) => {
                tracing::info!(iam_id = %claims.iam_id, instance = %stored.instance, "dashboard sign-in: IAM denies access to the instance");
                return Err(Rejection::AccessDenied);
            }
            Err(error) => {
                tracing::warn!(error = %error, "dashboard sign-in: IAM's access check failed");
                return Err(Rejection::IamUnavailable);
            }
        }
    }

    // Add the instance to the browser's session if it is the same user's, else start afresh.
    let mut session = config
        .cookies
        .session(headers, now)
        .filter(|session| session.iam_id == claims.iam_id)
        .unwrap_or_else(|| {
            Session::new(
                claims.iam_id.clone(),
                claims.name.clone(),
                claims.email.clone(),
                claims.account_id.clone(),
                0,
            )
        });
    session.expires = now.saturating_add(config.session_lifetime.as_secs());
    session.admit(&stored.instance, config.max_instances);
    let cookie = config
        .cookies
        .set_session(&mut session, config.session_lifetime)
        .ok_or(Rejection::Internal)?;
    // The state cookie is sealed, but the check is repeated here so no path can ever produce an
    // open redirect.
    let target = safe_return_path(&stored.return_to).unwrap_or(&config.default_return_path);
    let location = HeaderValue::try_from(target).map_err(|_| Rejection::Internal)?;
    tracing::debug!(iam_id = %claims.iam_id, instance = %stored.instance, "dashboard sign-in complete");
    Ok((location, cookie))
}
