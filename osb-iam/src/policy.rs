//! Who may call the broker: the identity allow-list and the other claim checks.

use std::collections::HashSet;

use crate::IamClaims;

/// What a verified token must say to be let in: an allow-list of `iam_id`s (how IBM Cloud's
/// Bearer authentication works, osb-core rules.md §17.4) and optional account ids, client ids and scopes.
///
/// A token that is valid but fails the policy is refused with 403 (see
/// [`TokenRejection::PolicyDenied`](crate::TokenRejection::PolicyDenied)).
///
/// # Example
///
/// ```
/// use osb_iam::Policy;
///
/// let broker_crn = "crn:v1:bluemix:public:resource-controller::a/0123::resource-broker:abcd";
/// let policy = Policy::bearer_crn(broker_crn)
///     .allow_iam_id("iam-ServiceId-1234") // during a migration from the API-key scheme
///     .client_ids(["resource-controller"]);
/// assert!(policy.allows_iam_id(&format!("crn-{broker_crn}")));
/// assert!(!policy.allows_iam_id("IBMid-50GNR717YE"));
/// ```
#[derive(Debug, Clone)]
pub struct Policy {
    iam_ids: Option<HashSet<String>>,
    account_ids: Option<HashSet<String>>,
    client_ids: Option<HashSet<String>>,
    required_scopes: Vec<String>,
}

impl Policy {
    /// Lets in only tokens whose `iam_id` is one of `iam_ids`.
    pub fn iam_ids<I, T>(iam_ids: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self {
            iam_ids: Some(iam_ids.into_iter().map(Into::into).collect()),
            account_ids: None,
            client_ids: None,
            required_scopes: Vec::new(),
        }
    }

    /// IBM Cloud's recommended broker authentication: only the resource controller's token
    /// minted for this broker, whose `iam_id` is `crn-<broker_crn>`.
    pub fn bearer_crn(broker_crn: &str) -> Self {
        Self::iam_ids([format!("crn-{broker_crn}")])
    }

    /// Lets in any identity IAM vouches for (any IBM Cloud user or service ID).
    ///
    /// Risk: every IBM Cloud account holder can mint such tokens; without an `iam_id` allow-list
    /// only the other checks (account, client, scope) stand between them and the broker.
    pub fn insecure_any_identity() -> Self {
        Self {
            iam_ids: None,
            account_ids: None,
            client_ids: None,
            required_scopes: Vec::new(),
        }
    }

    /// Adds one `iam_id` to the allow-list.
    #[must_use]
    pub fn allow_iam_id(mut self, iam_id: impl Into<String>) -> Self {
        self.iam_ids
            .get_or_insert_with(HashSet::new)
            .insert(iam_id.into());
        self
    }

    /// Also requires `account.bss` to be one of `account_ids`. Default: any account.
    #[must_use]
    pub fn account_ids<I, T>(mut self, account_ids: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.account_ids = Some(account_ids.into_iter().map(Into::into).collect());
        self
    }

    /// Also requires `client_id` to be one of `client_ids`. Default: any client.
    #[must_use]
    pub fn client_ids<I, T>(mut self, client_ids: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.client_ids = Some(client_ids.into_iter().map(Into::into).collect());
        self
    }

    /// Also requires `scope` to list `scope` (may be called several times). Default: none.
    #[must_use]
    pub fn required_scope(mut self, scope: impl Into<String>) -> Self {
        self.required_scopes.push(scope.into());
        self
    }

    /// Whether the allow-list admits `iam_id`.
    pub fn allows_iam_id(&self, iam_id: &str) -> bool {
        self.iam_ids
            .as_ref()
            .is_none_or(|allowed| allowed.contains(iam_id))
    }

    /// Checks verified claims against the policy.
    ///
    /// # Errors
    ///
    /// The first [`PolicyViolation`] found.
    pub fn check(&self, claims: &IamClaims) -> Result<(), PolicyViolation> {
        if !self.allows_iam_id(&claims.iam_id) {
            return Err(PolicyViolation::IamIdNotAllowed);
        }
        if let Some(allowed) = &self.account_ids
            && !claims
                .account_id
                .as_ref()
                .is_some_and(|account| allowed.contains(account))
        {
            return Err(PolicyViolation::AccountNotAllowed);
        }
        if let Some(allowed) = &self.client_ids
            && !claims
                .client_id
                .as_ref()
                .is_some_and(|client| allowed.contains(client))
        {
            return Err(PolicyViolation::ClientNotAllowed);
        }
        if let Some(missing) = self
            .required_scopes
            .iter()
            .find(|scope| !claims.has_scope(scope))
        {
            return Err(PolicyViolation::MissingScope {
                scope: missing.clone(),
            });
        }
        Ok(())
    }
}

/// Which rule of the [`Policy`] a valid token broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// The token's `iam_id` is not on the allow-list.
    #[error("the caller's iam_id is not allowed")]
    IamIdNotAllowed,
    /// The token's `account.bss` is absent or not allowed.
    #[error("the caller's account is not allowed")]
    AccountNotAllowed,
    /// The token's `client_id` is absent or not allowed.
    #[error("the token's client_id is not allowed")]
    ClientNotAllowed,
    /// The token's `scope` lacks a required scope.
    #[error("the token lacks the scope `{scope}`")]
    MissingScope {
        /// The missing scope.
        scope: String,
    },
}
