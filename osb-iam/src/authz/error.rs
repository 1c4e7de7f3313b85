//! Why `/v2/authz` gave no decision.

use crate::apikey::ApiKeyError;

/// Why IAM's authorization API gave no decision. None of these means "denied": a denial is a
/// [`Decision`](super::Decision) whose `permitted` is false.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthzError {
    /// The provider's own access token (from its service ID's API key) could not be obtained.
    #[error("cannot obtain the service ID's access token")]
    Token(#[source] ApiKeyError),
    /// IAM could not be reached, or did not answer in time.
    #[error("cannot reach IAM's authorization endpoint")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// IAM answered the whole request with an error status.
    #[error("IAM's authorization endpoint answered {status}")]
    Refused {
        /// The HTTP status.
        status: http::StatusCode,
    },
    /// IAM answered something that is not an authorization answer.
    #[error("IAM's authorization answer is unusable: {reason}")]
    InvalidAnswer {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// IAM answered this entry with a status other than `"200"`.
    #[error("IAM could not decide (entry status {status})")]
    Undecided {
        /// The entry's `status`, e.g. `"400"`.
        status: String,
    },
}

/// The URL given to [`AuthzClientBuilder`](super::AuthzClientBuilder) is unusable.
#[derive(Debug, thiserror::Error)]
#[error("invalid authorization endpoint `{url}`: {reason}")]
pub struct InvalidUrl {
    pub(crate) url: String,
    pub(crate) reason: &'static str,
}
