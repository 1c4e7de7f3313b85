//! What is asked of IAM: an [`AuthzRequest`] (subject, resource, action) and its [`Subject`].

use std::fmt;

use serde::Serialize;
use serde::ser::SerializeMap;

/// Who asks, in one of the two forms `/v2/authz` accepts (osb-core rules.md §17.6).
///
/// `Debug` never shows a token body.
///
/// # Example
///
/// ```
/// use osb_iam::authz::Subject;
///
/// let user_token = "eyJhbGciOiJSUzI1NiJ9.eyJpYW1faWQiOiJJQk1pZC0xIn0.c2ln";
/// let subject = Subject::from_access_token(user_token).expect("a JWT has three segments");
/// assert_eq!(format!("{subject:?}"), "Subject::AccessTokenBody(<redacted>)");
/// assert!(Subject::from_access_token("not a jwt").is_none());
///
/// let older = Subject::attributes("IBMid-50GNR717YE", "ibm openid");
/// assert!(matches!(older, Subject::Attributes { .. }));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Subject {
    /// `{"accessTokenBody": "<payload segment of the user's JWT>"}`: IAM reads the identity and
    /// its scope from the token itself. The form IBM documented last.
    AccessTokenBody(String),
    /// `{"attributes": {"id": "<iam_id>", "scope": "<token scope>"}}`: the older form.
    Attributes {
        /// The subject's `iam_id`, e.g. `IBMid-…`.
        id: String,
        /// The `scope` claim of the subject's token, e.g. `ibm openid`.
        scope: String,
    },
}

impl Subject {
    /// The `accessTokenBody` form from a whole access token (`header.payload.signature`);
    /// `None` when `token` is not three dot-separated segments.
    pub fn from_access_token(token: &str) -> Option<Self> {
        let mut segments = token.split('.');
        match (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) {
            (Some(_), Some(payload), Some(_), None) if !payload.is_empty() => {
                Some(Self::AccessTokenBody(payload.to_owned()))
            }
            _ => None,
        }
    }

    /// The `attributes` form.
    pub fn attributes(id: impl Into<String>, scope: impl Into<String>) -> Self {
        Self::Attributes {
            id: id.into(),
            scope: scope.into(),
        }
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AccessTokenBody(_) => f.write_str("Subject::AccessTokenBody(<redacted>)"),
            Self::Attributes { id, scope } => f
                .debug_struct("Subject::Attributes")
                .field("id", id)
                .field("scope", scope)
                .finish(),
        }
    }
}

impl Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Attributes<'a> {
            id: &'a str,
            scope: &'a str,
        }
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Self::AccessTokenBody(body) => map.serialize_entry("accessTokenBody", body)?,
            Self::Attributes { id, scope } => {
                map.serialize_entry("attributes", &Attributes { id, scope })?;
            }
        }
        map.end()
    }
}

/// One question for `/v2/authz`: may `subject` do `action` on the resource `crn`?
///
/// # Example
///
/// ```
/// use osb_iam::authz::{AuthzRequest, Subject};
///
/// let instance = "crn:v1:bluemix:public:my-service:us-south:a/0123abcd:5f2c…::";
/// let request = AuthzRequest::new(
///     Subject::attributes("IBMid-50GNR717YE", "ibm openid"),
///     instance,
///     "my-service.dashboard.view",
/// );
/// assert_eq!(request.action(), "my-service.dashboard.view");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthzRequest {
    subject: Subject,
    resource: Resource,
    action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Resource {
    crn: String,
}

impl AuthzRequest {
    /// Asks whether `subject` may do `action` (e.g. `<service name>.dashboard.view`) on the
    /// resource named by `crn` (e.g. a service instance's CRN).
    pub fn new(subject: Subject, crn: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            subject,
            resource: Resource { crn: crn.into() },
            action: action.into(),
        }
    }

    /// The subject.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// The resource's CRN.
    pub fn crn(&self) -> &str {
        &self.resource.crn
    }

    /// The action.
    pub fn action(&self) -> &str {
        &self.action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_body_form_serialises_as_ibm_documents_it() {
        let request = AuthzRequest::new(
            Subject::AccessTokenBody("eyJwYXlsb2FkIjoxfQ".to_owned()),
            "crn:v1:x",
            "svc.dashboard.view",
        );
        assert_eq!(
            serde_json::to_value(&request).unwrap_or_default(),
            serde_json::json!({
                "subject": {"accessTokenBody": "eyJwYXlsb2FkIjoxfQ"},
                "resource": {"crn": "crn:v1:x"},
                "action": "svc.dashboard.view",
            })
        );
    }

    #[test]
    fn attributes_form_serialises_id_and_scope() {
        let request = AuthzRequest::new(
            Subject::attributes("IBMid-1", "ibm openid"),
            "crn:v1:x",
            "a.b",
        );
        assert_eq!(
            serde_json::to_value(&request).unwrap_or_default()["subject"],
            serde_json::json!({"attributes": {"id": "IBMid-1", "scope": "ibm openid"}})
        );
    }

    #[test]
    fn a_token_without_three_segments_gives_no_subject() {
        assert!(Subject::from_access_token("a.b").is_none());
        assert!(Subject::from_access_token("a..c").is_none());
        assert!(Subject::from_access_token("a.b.c.d").is_none());
        assert!(Subject::from_access_token("a.b.c").is_some());
    }
}
