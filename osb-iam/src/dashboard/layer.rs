//! [`GuardLayer`], which wraps services in a [`Guard`].

use std::sync::Arc;

use tower::Layer;

use super::Guard;
use super::config::Config;

/// Wraps services in a [`Guard`]; cheap to clone. Get one from
/// [`DashboardAuth::layer`](super::DashboardAuth::layer).
#[derive(Debug, Clone)]
pub struct GuardLayer {
    config: Arc<Config>,
}

impl GuardLayer {
    pub(super) fn new(config: Arc<Config>) -> Self {
        Self { config }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard::new(inner, self.config.clone())
    }
}
