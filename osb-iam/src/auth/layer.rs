use tower::Layer;

use super::IamAuth;
use crate::keys::{HttpKeySource, KeyCache};
use crate::{Environment, Policy, Verifier};

/// Wraps services in [`IamAuth`]: only requests with a valid IAM bearer token get through.
///
/// # Example
///
/// ```
/// use osb_iam::IamAuthLayer;
///
/// // IBM Cloud's recommended broker authentication ("Bearer CRN", NOTES.md §3): the resource
/// // controller's tokens for this broker, verified against production IAM's keys.
/// let layer = IamAuthLayer::bearer_crn(
///     "crn:v1:bluemix:public:resource-controller::a/0123::resource-broker:4f4e…",
/// );
/// assert!(layer.verifier().policy().allows_iam_id(
///     "crn-crn:v1:bluemix:public:resource-controller::a/0123::resource-broker:4f4e…"
/// ));
/// ```
#[derive(Debug, Clone)]
pub struct IamAuthLayer {
    verifier: Verifier,
}

impl IamAuthLayer {
    /// A layer verifying with `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }

    /// "Bearer CRN" against production IAM, from the broker's CRN alone: admits only tokens whose
    /// `iam_id` is `crn-<broker_crn>`, with the default leeway, size limit and token cache.
    ///
    /// Keys are fetched on the first request (and on every unknown `kid`, rate-limited). For a
    /// periodic refresh, which also drops keys IAM has withdrawn, keep the task of
    /// `layer.verifier().keys().spawn_refresh(..)`.
    pub fn bearer_crn(broker_crn: &str) -> Self {
        let keys = HttpKeySource::new(Environment::PRODUCTION.keys_url())
            // OK because the production keys URL is a constant, valid `https` URL (and the
            // `IamAuthLayer` doctest builds it).
            .expect("the production IAM keys URL is a valid https URL");
        let policy = Policy::bearer_crn(broker_crn);
        Self::new(
            Verifier::builder(KeyCache::new(keys), policy)
                .issuer(Environment::PRODUCTION.issuer())
                .build(),
        )
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

impl<S> Layer<S> for IamAuthLayer {
    type Service = IamAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IamAuth::new(inner, self.verifier.clone())
    }
}
