//! `BrokerError`: every failure status of the spec, and the OSB error body.
//!
//! Spec: spec.md "Service Broker Errors" and the status tables of each endpoint.

use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// A boxed error, as used for internal causes.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The kind of a [`BrokerError`]: which status and OSB error code it answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400 Bad Request: malformed request or missing mandatory data.
    BadRequest,
    /// 404 Not Found.
    NotFound,
    /// 409 Conflict: the resource exists with different attributes.
    Conflict,
    /// 410 Gone: the resource to delete does not exist.
    Gone,
    /// 422 `AsyncRequired`.
    AsyncRequired,
    /// 422 `ConcurrencyError`.
    ConcurrencyError,
    /// 422 `RequiresApp`.
    RequiresApp,
    /// 422 `MaintenanceInfoConflict`.
    MaintenanceInfoConflict,
    /// 422 without a spec error code: the request cannot be processed (unsupported plan change,
    /// over quota, …).
    UnprocessableEntity,
    /// Another 4xx or 5xx status chosen by the broker.
    Status(StatusCode),
    /// 500 Internal Server Error; the cause is logged, never sent.
    Internal,
}

impl ErrorKind {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Gone => StatusCode::GONE,
            Self::AsyncRequired
            | Self::ConcurrencyError
            | Self::RequiresApp
            | Self::MaintenanceInfoConflict
            | Self::UnprocessableEntity => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Status(status) => status,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The spec's `error` code, where the spec defines one.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Self::AsyncRequired => Some("AsyncRequired"),
            Self::ConcurrencyError => Some("ConcurrencyError"),
            Self::RequiresApp => Some("RequiresApp"),
            Self::MaintenanceInfoConflict => Some("MaintenanceInfoConflict"),
            _ => None,
        }
    }

    fn default_description(self) -> &'static str {
        match self {
            Self::BadRequest => "The request is malformed or misses mandatory data.",
            Self::NotFound => "The resource does not exist.",
            Self::Conflict => "The resource already exists with different attributes.",
            Self::Gone => "The resource does not exist.",
            Self::AsyncRequired => {
                "This service plan requires client support for asynchronous service operations."
            }
            Self::ConcurrencyError => {
                "Another operation for this resource is in progress; try again later."
            }
            Self::RequiresApp => {
                "This service supports generation of credentials through binding an application only."
            }
            Self::MaintenanceInfoConflict => {
                "The maintenance information does not match the catalog; fetch the catalog again."
            }
            Self::UnprocessableEntity => "The request cannot be processed.",
            Self::Status(_) => "The request failed.",
            Self::Internal => "Internal error; the broker logged the details.",
        }
    }
}

/// A failure a broker answers with: a status, an OSB error code where the spec has one, a
/// user-facing description and, for failed updates and deprovisions, the usability flags.
///
/// The description is shown to users by platforms (IBM Cloud's console shows it as is); the
/// internal cause of a 500 is only available through [`std::error::Error::source`] for logging.
///
/// # Example
///
/// ```
/// use http::StatusCode;
/// use osb_core::BrokerError;
///
/// let err = BrokerError::concurrency_error();
/// assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
/// assert_eq!(err.to_body().error.as_deref(), Some("ConcurrencyError"));
///
/// let err = BrokerError::internal(std::io::Error::other("disk on fire"));
/// assert!(!err.to_body().description.unwrap().contains("disk"));
/// ```
pub struct BrokerError {
    kind: ErrorKind,
    error_code: Option<String>,
    description: Option<String>,
    instance_usable: Option<bool>,
    update_repeatable: Option<bool>,
    source: Option<BoxError>,
}

impl BrokerError {
    /// An error of a kind, with the kind's default description.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            error_code: None,
            description: None,
            instance_usable: None,
            update_repeatable: None,
            source: None,
        }
    }

    /// 400 with a description of what was wrong.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest).with_description(description)
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(ErrorKind::NotFound)
    }

    /// 409.
    pub fn conflict() -> Self {
        Self::new(ErrorKind::Conflict)
    }

    /// 410.
    pub fn gone() -> Self {
        Self::new(ErrorKind::Gone)
    }

    /// 422 `AsyncRequired`.
    pub fn async_required() -> Self {
        Self::new(ErrorKind::AsyncRequired)
    }

    /// 422 `ConcurrencyError`.
    pub fn concurrency_error() -> Self {
        Self::new(ErrorKind::ConcurrencyError)
    }

    /// 422 `RequiresApp`.
    pub fn requires_app() -> Self {
        Self::new(ErrorKind::RequiresApp)
    }

    /// 422 `MaintenanceInfoConflict`.
    pub fn maintenance_info_conflict() -> Self {
        Self::new(ErrorKind::MaintenanceInfoConflict)
    }

    /// 422 with a description and no spec error code.
    pub fn unprocessable(description: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnprocessableEntity).with_description(description)
    }

    /// Any 4xx or 5xx status. A status outside 400..=599 becomes a 500.
    pub fn status_code(status: StatusCode, description: impl Into<String>) -> Self {
        let kind = if status.is_client_error() || status.is_server_error() {
            ErrorKind::Status(status)
        } else {
            ErrorKind::Internal
        };
        Self::new(kind).with_description(description)
    }

    /// 500 whose cause is kept for logs and never shown to the client.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Self {
            source: Some(cause.into()),
            ..Self::new(ErrorKind::Internal)
        }
    }

    /// Sets the user-facing description (ignored when empty: the spec forbids `""`).
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        let description = description.into();
        self.description = (!description.is_empty()).then_some(description);
        self
    }

    /// Sets a CamelCase `error` code for kinds without a spec-defined one (ignored otherwise).
    #[must_use]
    pub fn with_error_code(mut self, code: impl Into<String>) -> Self {
        let code = code.into();
        if self.kind.error_code().is_none() && !code.is_empty() {
            self.error_code = Some(code);
        }
        self
    }

    /// Sets `instance_usable`. Sent only for failed updates and deprovisions; the HTTP layer
    /// drops it elsewhere (spec.md "Service Broker Errors").
    #[must_use]
    pub fn with_instance_usable(mut self, usable: bool) -> Self {
        self.instance_usable = Some(usable);
        self
    }

    /// Sets `update_repeatable`. Sent only for failed updates.
    #[must_use]
    pub fn with_update_repeatable(mut self, repeatable: bool) -> Self {
        self.update_repeatable = Some(repeatable);
        self
    }

    /// Attaches an internal cause (logged, never sent).
    #[must_use]
    pub fn with_source(mut self, cause: impl Into<BoxError>) -> Self {
        self.source = Some(cause.into());
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The description that will be sent.
    pub fn description(&self) -> &str {
        self.description
            .as_deref()
            .unwrap_or_else(|| self.kind.default_description())
    }

    /// The internal cause of this error and the causes behind it, each joined to the next by
    /// `": "` (`"store failed: connection refused"`); `None` when there is no cause.
    ///
    /// For logs only: the text may hold internals (hosts, SQL, file paths) and must never be
    /// sent to clients; [`BrokerError::to_body`] never contains it.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_core::BrokerError;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("store failed")]
    /// struct StoreDown(#[source] std::io::Error);
    ///
    /// let err = BrokerError::internal(StoreDown(std::io::Error::other("connection refused")));
    /// assert_eq!(err.cause_chain().as_deref(), Some("store failed: connection refused"));
    /// assert!(!err.to_body().description.unwrap().contains("refused"));
    /// assert_eq!(BrokerError::not_found().cause_chain(), None);
    /// ```
    pub fn cause_chain(&self) -> Option<String> {
        let mut cause = StdError::source(self)?;
        let mut text = cause.to_string();
        while let Some(next) = cause.source() {
            text.push_str(": ");
            text.push_str(&next.to_string());
            cause = next;
        }
        Some(text)
    }

    /// `instance_usable`, if set.
    pub fn instance_usable(&self) -> Option<bool> {
        self.instance_usable
    }

    /// `update_repeatable`, if set.
    pub fn update_repeatable(&self) -> Option<bool> {
        self.update_repeatable
    }

    /// The body sent to the platform. A 500 never carries the broker's own description
    /// when it came with an internal cause only.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            error: self
                .kind
                .error_code()
                .map(str::to_owned)
                .or_else(|| self.error_code.clone()),
            description: Some(self.description().to_owned()),
            instance_usable: self.instance_usable,
            update_repeatable: self.update_repeatable,
        }
    }
}

impl fmt::Debug for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerError")
            .field("kind", &self.kind)
            .field("error_code", &self.error_code)
            .field("description", &self.description)
            .field("instance_usable", &self.instance_usable)
            .field("update_repeatable", &self.update_repeatable)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status();
        match self.kind.error_code().or(self.error_code.as_deref()) {
            Some(code) => write!(f, "{} {code}: {}", status.as_u16(), self.description()),
            None => write!(f, "{}: {}", status.as_u16(), self.description()),
        }
    }
}

impl StdError for BrokerError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<ErrorKind> for BrokerError {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

/// The OSB error body (spec.md "Service Broker Errors"):
/// `{error?, description?, instance_usable?, update_repeatable?}`. Empty strings are never
/// serialised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// `error`: a single CamelCase word, e.g. `AsyncRequired` (spec.md "Error Codes").
    #[serde(default, skip_serializing_if = "crate::lenient::is_none_or_empty")]
    pub error: Option<String>,
    /// `description`: a user-facing message (IBM Cloud's console shows it as is).
    #[serde(default, skip_serializing_if = "crate::lenient::is_none_or_empty")]
    pub description: Option<String>,
    /// `instance_usable` (2.16): failed update or deprovision only. Absent means `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_usable: Option<bool>,
    /// `update_repeatable` (2.16): failed update only. Absent means `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_repeatable: Option<bool>,
}

impl ErrorBody {
    /// A body with only a description.
    pub fn with_description(description: impl Into<String>) -> Self {
        Self {
            description: Some(description.into()),
            ..Self::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn spec_codes_and_statuses() {
        let cases = [
            (BrokerError::async_required(), 422, Some("AsyncRequired")),
            (
                BrokerError::concurrency_error(),
                422,
                Some("ConcurrencyError"),
            ),
            (BrokerError::requires_app(), 422, Some("RequiresApp")),
            (
                BrokerError::maintenance_info_conflict(),
                422,
                Some("MaintenanceInfoConflict"),
            ),
            (BrokerError::unprocessable("x"), 422, None),
            (BrokerError::bad_request("x"), 400, None),
            (BrokerError::not_found(), 404, None),
            (BrokerError::conflict(), 409, None),
            (BrokerError::gone(), 410, None),
            (BrokerError::internal("boom"), 500, None),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status().as_u16(), status);
            assert_eq!(err.to_body().error.as_deref(), code);
        }
    }

    #[test]
    fn internal_cause_is_never_in_the_body() {
        let err = BrokerError::internal("password=hunter2");
        let json = serde_json::to_string(&err.to_body()).unwrap();
        assert!(!json.contains("hunter2"));
        assert!(err.source().unwrap().to_string().contains("hunter2"));
    }

    #[test]
    fn empty_strings_are_never_serialised() {
        let err = BrokerError::unprocessable("").with_error_code("");
        let json = serde_json::to_value(err.to_body()).unwrap();
        assert!(json["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(json.get("error").is_none());
    }

    #[test]
    fn non_error_status_becomes_internal() {
        let err = BrokerError::status_code(StatusCode::OK, "fine?");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let err = BrokerError::status_code(StatusCode::FORBIDDEN, "disabled");
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
    }
}
