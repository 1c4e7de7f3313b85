//! What [`Settings::start`](super::Settings::start) started.

use osb_tower::auth::{Authenticate, AuthenticateExt};

use crate::apikey::ApiKeyClient;
use crate::keys::{KeyCache, RefreshTask};
use crate::{Environment, Verifier};

/// The IBM Cloud pieces [`Settings::start`](super::Settings::start) set up: IAM's keys (kept
/// fresh by a task), the bearer-token verifier, the API-key client, the dashboard guard, and
/// the usage reporter once [started](Self::start_metering).
///
/// Keep it for as long as the broker serves: dropping it stops the key refresh and the
/// reporter (verifiers handed out keep the last keys, never refreshed).
/// [`shutdown`](Self::shutdown) stops both and waits for them.
#[derive(Debug)]
#[must_use = "dropping it stops the IAM key refresh and the usage reporter"]
pub struct IbmCloud {
    pub(super) environment: Environment,
    pub(super) keys: Option<KeyCache>,
    pub(super) refresh: Option<RefreshTask>,
    pub(super) tokens: Option<ApiKeyClient>,
    pub(super) bearer: Option<Verifier>,
    #[cfg(feature = "dashboard")]
    pub(super) dashboard: Option<crate::DashboardAuth>,
    #[cfg(feature = "metering")]
    pub(super) metering_url: Option<String>,
    #[cfg(feature = "metering")]
    pub(super) reporter: Option<crate::metering::ReporterHandle>,
}

impl IbmCloud {
    /// The broker API's authenticator: what `basic` accepts, or, when bearer tokens are on, an
    /// IAM bearer token of an allowed identity (the verified [`IamClaims`](crate::IamClaims)
    /// go into the request's extensions). Put it in an
    /// [`osb_tower::auth::RequireAuthLayer`]; see the [module example](super). For bearer
    /// tokens only (IBM Cloud's recommended "Bearer CRN", no Basic credentials at all), put
    /// the [`bearer_verifier`](Self::bearer_verifier) there instead: it is an `Authenticate` too.
    #[must_use]
    pub fn broker_auth(&self, basic: impl Authenticate) -> Box<dyn Authenticate> {
        match &self.bearer {
            Some(verifier) => Box::new(basic.or(verifier.clone())),
            None => Box::new(basic),
        }
    }

    /// The IAM environment.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// IAM's signing keys, when bearer tokens or the dashboard are on.
    pub fn key_cache(&self) -> Option<&KeyCache> {
        self.keys.as_ref()
    }

    /// The verifier of bearer tokens, when they are on.
    pub fn bearer_verifier(&self) -> Option<&Verifier> {
        self.bearer.as_ref()
    }

    /// The provider's API-key client (one token cache for every IBM call), when an API key
    /// is set.
    pub fn api_key_client(&self) -> Option<&ApiKeyClient> {
        self.tokens.as_ref()
    }

    /// The dashboard guard, when the sign-in is on: put
    /// [`layer`](crate::DashboardAuth::layer) in front of the dashboard routes and serve
    /// [`callback`](crate::DashboardAuth::callback) at
    /// [`callback_path`](crate::DashboardAuth::callback_path).
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    pub fn dashboard(&self) -> Option<&crate::DashboardAuth> {
        self.dashboard.as_ref()
    }

    /// A metering client reporting the usage of the service `resource_id` (the offering's id
    /// in the catalog), when metering is on; for a reporter with other settings than
    /// [`start_metering`](Self::start_metering)'s, hand it to
    /// [`UsageReporter::builder`](crate::metering::UsageReporter::builder).
    ///
    /// # Errors
    ///
    /// [`InvalidBaseUrl`](crate::metering::InvalidBaseUrl) when `resource_id` makes no URL
    /// path segment (the metering URL itself was checked by `start`).
    #[cfg(feature = "metering")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
    pub fn metering_client(
        &self,
        resource_id: impl Into<String>,
    ) -> Result<Option<crate::metering::MeteringClient>, crate::metering::InvalidBaseUrl> {
        let (Some(url), Some(tokens)) = (&self.metering_url, &self.tokens) else {
            return Ok(None);
        };
        let builder = crate::metering::MeteringClient::builder(resource_id, tokens.clone());
        builder.base_url(url).build().map(Some)
    }

    /// Starts reporting usage when metering is on (does nothing otherwise): a
    /// [`UsageReporter`](crate::metering::UsageReporter) with its default settings for the
    /// service `resource_id` (the offering's id in the catalog), measuring the instances of
    /// `metered_plans` with `meter`, its outbox in `store` (the broker's state store, e.g. a
    /// clone of `Managed::store()`, or an `Arc` of it). It runs
    /// until [`shutdown`](Self::shutdown); [`reporter`](Self::reporter) reads its metrics.
    ///
    /// # Errors
    ///
    /// [`Error::Metering`](super::Error::Metering): no metered plan named, or a reporter
    /// already started.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the reporter is a task).
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use osb_core::managed::MemoryStore;
    /// use osb_iam::metering::{Measure, MeterError, MeteredInstance, Window};
    /// use osb_iam::setup::Settings;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let mut settings = Settings::default();
    /// settings.iam_api_key = Some("provider-api-key".parse()?);
    /// settings.metering_url = Some("https://billing.cloud.ibm.com".into());
    /// let mut ibm = settings.start().await?;
    ///
    /// // The measuring code: here 10 API calls an hour for every instance.
    /// let meter = |_: MeteredInstance, _: Window| async {
    ///     Ok::<_, MeterError>(vec![Measure::new("API_CALL", 10_u64)])
    /// };
    /// let store = Arc::new(MemoryStore::new()); // the broker's store
    /// ibm.start_metering("my-service-id", ["my-metered-plan-id"], store, meter)?;
    /// assert!(ibm.reporter().is_some());
    /// ibm.shutdown().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "metering")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
    pub fn start_metering<S, P>(
        &mut self,
        resource_id: impl Into<String>,
        metered_plans: impl IntoIterator<Item = P>,
        store: S,
        meter: impl crate::metering::Meter,
    ) -> Result<(), super::Error>
    where
        S: osb_core::managed::StateStore + osb_core::managed::UsageOutbox,
        P: Into<String>,
    {
        use super::MeteringError;
        if self.reporter.is_some() {
            return Err(MeteringError::AlreadyStarted.into());
        }
        let Some(client) = self
            .metering_client(resource_id)
            .map_err(MeteringError::from)?
        else {
            return Ok(());
        };
        let store = std::sync::Arc::new(store);
        let mut reporter = crate::metering::UsageReporter::builder(client, store, meter);
        for plan in metered_plans {
            reporter = reporter.metered_plan(plan);
        }
        let reporter = reporter.build().map_err(MeteringError::from)?;
        self.reporter = Some(reporter.start());
        Ok(())
    }

    /// The running usage reporter, once [`start_metering`](Self::start_metering) started it.
    #[cfg(feature = "metering")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
    pub fn reporter(&self) -> Option<&crate::metering::ReporterHandle> {
        self.reporter.as_ref()
    }

    /// Stops what runs in the background (the usage reporter, between two of its steps, and
    /// the key refresh) and waits until it has stopped.
    pub async fn shutdown(self) {
        #[cfg(feature = "metering")]
        if let Some(reporter) = self.reporter {
            reporter.shutdown().await;
        }
        if let Some(refresh) = self.refresh {
            refresh.shutdown().await;
        }
    }
}
