//! Why the provider's work failed: [`LogicError`], and the update and deprovision failures that
//! add the flags the spec allows for them (rules.md §3.3).

use http::StatusCode;

use crate::error::{BoxError, BrokerError};

/// Why the provider's work failed, with a description users may read.
///
/// The description is what the platform shows (IBM Cloud's console shows it as is); the cause
/// (`source`) is logged and never sent. Create and bind failures are plain `LogicError`s: the
/// spec gives them no `instance_usable` / `update_repeatable` flags, and this type has no place
/// for them. [`UpdateError`] and [`DeprovisionError`] add the flags where the spec allows them.
///
/// # Example
///
/// ```
/// use osb_core::managed::LogicError;
/// use osb_core::BrokerError;
///
/// let err = LogicError::unprocessable("The account has reached its quota of 5 databases.");
/// let answer = BrokerError::from(err);
/// assert_eq!(answer.status().as_u16(), 422);
/// assert!(answer.instance_usable().is_none());
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{description}")]
pub struct LogicError {
    status: StatusCode,
    description: String,
    #[source]
    source: Option<BoxError>,
}

const INTERNAL_DESCRIPTION: &str = "The operation failed; the broker logged the details.";

impl LogicError {
    /// The request's parameters are invalid (400 when synchronous).
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::with_status(StatusCode::BAD_REQUEST, description)
    }

    /// The request cannot be carried out now or at all, e.g. over quota (422 when synchronous).
    pub fn unprocessable(description: impl Into<String>) -> Self {
        Self::with_status(StatusCode::UNPROCESSABLE_ENTITY, description)
    }

    /// The work failed; `description` tells users what happened (500 when synchronous).
    pub fn failed(description: impl Into<String>) -> Self {
        Self::with_status(StatusCode::INTERNAL_SERVER_ERROR, description)
    }

    /// The work failed for an internal reason that users must not see: the description is a
    /// generic one and `cause` is only logged (500 when synchronous).
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            description: INTERNAL_DESCRIPTION.to_owned(),
            source: Some(cause.into()),
        }
    }

    /// A failure answered with a 4xx or 5xx `status` when synchronous (others become 500).
    pub fn with_status(status: StatusCode, description: impl Into<String>) -> Self {
        let status = if status.is_client_error() || status.is_server_error() {
            status
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let description = description.into();
        Self {
            status,
            description: if description.is_empty() {
                INTERNAL_DESCRIPTION.to_owned()
            } else {
                description
            },
            source: None,
        }
    }

    /// Attaches an internal cause (logged, never sent).
    #[must_use]
    pub fn with_source(mut self, cause: impl Into<BoxError>) -> Self {
        self.source = Some(cause.into());
        self
    }

    /// The status a synchronous request answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The user-facing description.
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl From<LogicError> for BrokerError {
    fn from(err: LogicError) -> Self {
        let mut answer = BrokerError::status_code(err.status, err.description);
        if let Some(source) = err.source {
            answer = answer.with_source(source);
        }
        answer
    }
}

/// A failed update: a [`LogicError`] plus the two flags the spec allows for updates
/// (spec.md "Updating a Service Instance", rules.md §3.3).
///
/// # Example
///
/// ```
/// use osb_core::managed::{LogicError, UpdateError};
/// use osb_core::BrokerError;
///
/// let err = UpdateError::from(LogicError::failed("Resizing the disk failed."))
///     .with_instance_usable(true)
///     .with_update_repeatable(false);
/// let answer = BrokerError::from(err);
/// assert_eq!(answer.instance_usable(), Some(true));
/// assert_eq!(answer.update_repeatable(), Some(false));
/// ```
#[derive(Debug)]
pub struct UpdateError {
    error: LogicError,
    instance_usable: Option<bool>,
    update_repeatable: Option<bool>,
}

impl UpdateError {
    /// Whether the instance still works after the failed update. Default: not said (platforms
    /// assume `true`).
    #[must_use]
    pub fn with_instance_usable(mut self, usable: bool) -> Self {
        self.instance_usable = Some(usable);
        self
    }

    /// Whether the same update may be tried again. Default: not said (platforms assume `true`).
    #[must_use]
    pub fn with_update_repeatable(mut self, repeatable: bool) -> Self {
        self.update_repeatable = Some(repeatable);
        self
    }

    /// The failure.
    pub fn error(&self) -> &LogicError {
        &self.error
    }

    /// `instance_usable`, if said.
    pub fn instance_usable(&self) -> Option<bool> {
        self.instance_usable
    }

    /// `update_repeatable`, if said.
    pub fn update_repeatable(&self) -> Option<bool> {
        self.update_repeatable
    }
}

impl std::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for UpdateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl From<LogicError> for UpdateError {
    fn from(error: LogicError) -> Self {
        Self {
            error,
            instance_usable: None,
            update_repeatable: None,
        }
    }
}

impl From<UpdateError> for BrokerError {
    fn from(err: UpdateError) -> Self {
        let mut answer = BrokerError::from(err.error);
        if let Some(usable) = err.instance_usable {
            answer = answer.with_instance_usable(usable);
        }
        if let Some(repeatable) = err.update_repeatable {
            answer = answer.with_update_repeatable(repeatable);
        }
        answer
    }
}

/// A failed deprovision: a [`LogicError`] plus `instance_usable`, the only flag the spec allows
/// for deprovisions (`update_repeatable` MUST NOT be sent; this type has no place for it).
///
/// # Example
///
/// ```
/// use osb_core::managed::{DeprovisionError, LogicError};
/// use osb_core::BrokerError;
///
/// let err = DeprovisionError::from(LogicError::failed("The backup before deletion failed."))
///     .with_instance_usable(true);
/// assert_eq!(BrokerError::from(err).instance_usable(), Some(true));
/// ```
#[derive(Debug)]
pub struct DeprovisionError {
    error: LogicError,
    instance_usable: Option<bool>,
}

impl DeprovisionError {
    /// Whether the instance still works after the failed deprovision. Default: not said.
    #[must_use]
    pub fn with_instance_usable(mut self, usable: bool) -> Self {
        self.instance_usable = Some(usable);
        self
    }

    /// The failure.
    pub fn error(&self) -> &LogicError {
        &self.error
    }

    /// `instance_usable`, if said.
    pub fn instance_usable(&self) -> Option<bool> {
        self.instance_usable
    }
}

impl std::fmt::Display for DeprovisionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for DeprovisionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl From<LogicError> for DeprovisionError {
    fn from(error: LogicError) -> Self {
        Self {
            error,
            instance_usable: None,
        }
    }
}

impl From<DeprovisionError> for BrokerError {
    fn from(err: DeprovisionError) -> Self {
        let mut answer = BrokerError::from(err.error);
        if let Some(usable) = err.instance_usable {
            answer = answer.with_instance_usable(usable);
        }
        answer
    }
}
