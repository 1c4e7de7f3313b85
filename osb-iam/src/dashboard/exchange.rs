//! Redeeming the authorization code at IAM's token endpoint (osb-core rules.md §17.6).

use serde::Deserialize;

use super::config::Config;
use crate::client::{BodyError, read_limited};

/// Largest token answer read (an access token, a refresh token, a few numbers).
const MAX_ANSWER: usize = 256 * 1024;

/// Why the code gave no access token.
#[derive(Debug, thiserror::Error)]
pub(super) enum ExchangeError {
    /// IAM refused the code (4xx): used, expired, or not issued to this client.
    #[error("IAM refused the code ({status}, {})", .code.as_deref().unwrap_or("no error code"))]
    Refused {
        status: http::StatusCode,
        code: Option<String>,
    },
    /// IAM could not be reached, failed (5xx), or answered something that is not a token.
    #[error("IAM's token endpoint is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct IamError {
    error_code: Option<String>,
}

/// `POST <token_endpoint>` with the client's id and secret as HTTP Basic and the form
/// `grant_type=authorization_code&response_type=cloud_iam&redirect_uri=…&code=…`; returns the
/// access token (not yet verified).
pub(super) async fn exchange(
    config: &Config,
    token_endpoint: &str,
    code: &str,
) -> Result<String, ExchangeError> {
    let unavailable =
        |error: reqwest::Error| ExchangeError::Unavailable(Box::new(error.without_url()));
    let client = match &config.http {
        Some(client) => client.clone(),
        None => crate::client::shared().map_err(unavailable)?,
    };
    let response = client
        .post(token_endpoint)
        // reqwest marks the header sensitive, so it stays out of logs.
        .basic_auth(&config.client_id, Some(&*config.client_secret.0))
        .header(http::header::ACCEPT, "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("response_type", "cloud_iam"),
            ("redirect_uri", config.redirect_uri.as_str()),
            ("code", code),
        ])
        .timeout(config.timeout)
        .send()
        .await
        .map_err(unavailable)?;
    let status = response.status();
    let body = read_limited(response, MAX_ANSWER)
        .await
        .map_err(|error| match error {
            BodyError::Network(error) => unavailable(error),
            BodyError::TooLarge => {
                ExchangeError::Unavailable("the token answer is too large".into())
            }
        })?;
    if status.is_client_error() {
        let error: IamError = serde_json::from_slice(&body).unwrap_or_default();
        return Err(ExchangeError::Refused {
            status,
            code: error.error_code,
        });
    }
    if !status.is_success() {
        return Err(ExchangeError::Unavailable(
            format!("the token endpoint answered {status}").into(),
        ));
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|_| ExchangeError::Unavailable("the token answer holds no access_token".into()))?;
    Ok(answer.access_token)
}
