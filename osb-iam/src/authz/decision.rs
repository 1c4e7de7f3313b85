//! IAM's answer to one question: the [`Decision`], and the wire shapes it is read from.

use std::time::Duration;

use serde::Deserialize;

use super::AuthzError;

/// IAM's decision on one [`AuthzRequest`](super::AuthzRequest).
///
/// # Example
///
/// ```
/// use osb_iam::authz::Decision;
/// use std::time::Duration;
///
/// let decision = Decision::permitted(Some(Duration::from_secs(600)));
/// assert!(decision.is_permitted());
/// assert!(!Decision::denied(None).is_permitted());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// `authorizationDecision.permitted`.
    pub permitted: bool,
    /// `authorizationDecision.obligation.maxCacheAgeSeconds`: how long IAM lets the decision
    /// be reused.
    pub max_cache_age: Option<Duration>,
}

impl Decision {
    /// A decision that permits.
    pub const fn permitted(max_cache_age: Option<Duration>) -> Self {
        Self {
            permitted: true,
            max_cache_age,
        }
    }

    /// A decision that denies.
    pub const fn denied(max_cache_age: Option<Duration>) -> Self {
        Self {
            permitted: false,
            max_cache_age,
        }
    }

    /// Whether the action is permitted.
    pub const fn is_permitted(&self) -> bool {
        self.permitted
    }
}

/// `{"responses": [...]}`, one entry per request, in request order (osb-core rules.md §17.6).
#[derive(Deserialize)]
pub(super) struct Answer {
    pub(super) responses: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Entry {
    /// A string (`"200"`) in IAM's answers; a number is accepted too.
    status: serde_json::Value,
    authorization_decision: Option<WireDecision>,
}

#[derive(Deserialize)]
struct WireDecision {
    permitted: bool,
    obligation: Option<Obligation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Obligation {
    max_cache_age_seconds: Option<u64>,
}

impl Entry {
    /// The decision of an entry whose `status` is 200.
    pub(super) fn into_decision(self) -> Result<Decision, AuthzError> {
        let status = match &self.status {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Number(number) => number.to_string(),
            _ => {
                return Err(AuthzError::InvalidAnswer {
                    reason: "an entry's status is not a string",
                });
            }
        };
        if status != "200" {
            return Err(AuthzError::Undecided { status });
        }
        let decision = self
            .authorization_decision
            .ok_or(AuthzError::InvalidAnswer {
                reason: "an entry has no authorizationDecision",
            })?;
        let max_cache_age = decision
            .obligation
            .and_then(|obligation| obligation.max_cache_age_seconds)
            .map(Duration::from_secs);
        Ok(Decision {
            permitted: decision.permitted,
            max_cache_age,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: serde_json::Value) -> Entry {
        serde_json::from_value(json).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn string_status_200_with_permitted_true_permits_and_keeps_the_cache_age() {
        let decision = entry(serde_json::json!({
            "status": "200",
            "authorizationDecision": {"permitted": true, "obligation": {"maxCacheAgeSeconds": 600}}
        }))
        .into_decision();
        assert_eq!(
            decision.ok(),
            Some(Decision::permitted(Some(Duration::from_secs(600))))
        );
    }

    #[test]
    fn permitted_false_denies() {
        let decision = entry(serde_json::json!({
            "status": "200", "authorizationDecision": {"permitted": false}
        }))
        .into_decision();
        assert_eq!(decision.ok(), Some(Decision::denied(None)));
    }

    #[test]
    fn a_non_200_entry_is_undecided_not_denied() {
        let decision = entry(serde_json::json!({"status": "400"})).into_decision();
        assert!(matches!(decision, Err(AuthzError::Undecided { status }) if status == "400"));
    }
}
