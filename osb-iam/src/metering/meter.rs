//! The provider's measuring code: how much an instance used in a window.

use std::fmt;
use std::future::Future;

use async_trait::async_trait;
use osb_core::managed::{InstanceRecord, Timestamp};

use super::measure::Measure;
use super::window::Window;

/// An instance the reporter measures: one that was active (provisioned, enabled, on a metered
/// plan) at some time during the window.
///
/// It may have been deleted since, or be being deleted: its usage up to the deletion is still
/// billable for that window. Then [`deleted_at`](Self::deleted_at) says when the deletion was
/// requested, and [`record`](Self::record) is the bookkeeping's tombstone (or the record of the
/// running delete). Likewise it may have been disabled (IBM Cloud `bluemix_v1`) since the
/// window started: [`disabled_at`](Self::disabled_at) says when. An instance enabled again
/// during the window counts as disabled before that
/// ([`record.enabled_changed_at`](InstanceRecord::enabled_changed_at)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MeteredInstance {
    /// The instance id (on IBM Cloud, the instance CRN).
    pub instance_id: String,
    /// Its plan.
    pub plan_id: String,
    /// When its deprovision was requested, if it was deleted or is being deleted; usage after
    /// this time is not billable. `None` for an instance that is not being deleted.
    pub deleted_at: Option<Timestamp>,
    /// When it was disabled, if it is disabled now; usage after this time is not billable.
    /// `None` for an enabled instance.
    pub disabled_at: Option<Timestamp>,
    /// The bookkeeping's record of it (context, parameters, …).
    pub record: InstanceRecord,
}

/// The provider's measuring code failed for one instance; the reporter tries that instance's
/// window again later.
#[derive(Debug, thiserror::Error)]
#[error("measuring the instance failed")]
pub struct MeterError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl MeterError {
    /// Wraps the cause (logged, never sent to IBM).
    pub fn new(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(cause.into())
    }
}

/// Measures an instance over a window: the provider's part of metering.
///
/// Return the window's measures (names as defined for the plan in Partner Center); an empty
/// list means there is nothing to report for this instance and window. Closures
/// `Fn(MeteredInstance, Window) -> impl Future<Output = Result<Vec<Measure>, MeterError>>`
/// are meters too.
///
/// The reporter asks for every instance active at some time during the window, including
/// instances deleted or disabled since ([`MeteredInstance::deleted_at`],
/// [`MeteredInstance::disabled_at`]): report what they used until then.
///
/// The reporter asks once per instance and hour; if it crashes between asking and recording,
/// it asks again for the same window, so measuring must be repeatable (read counters kept per
/// window, not "since the last call").
///
/// # Example
///
/// ```
/// use osb_iam::metering::{Measure, MeterError, MeteredInstance, Window};
///
/// // A closure meter: a fixed number of API calls per hour.
/// let meter = |_instance: MeteredInstance, _window: Window| async move {
///     Ok::<_, MeterError>(vec![Measure::new("API_CALL", 10_u64)])
/// };
/// # fn is_meter(_: impl osb_iam::metering::Meter) {}
/// is_meter(meter);
/// ```
#[async_trait]
pub trait Meter: Send + Sync + 'static {
    /// What `instance` used during `window`.
    ///
    /// # Errors
    ///
    /// [`MeterError`] when the usage cannot be read now; the window is measured again later.
    async fn measure(
        &self,
        instance: &MeteredInstance,
        window: Window,
    ) -> Result<Vec<Measure>, MeterError>;
}

#[async_trait]
impl<F, Fut> Meter for F
where
    F: Fn(MeteredInstance, Window) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Measure>, MeterError>> + Send,
{
    async fn measure(
        &self,
        instance: &MeteredInstance,
        window: Window,
    ) -> Result<Vec<Measure>, MeterError> {
        self(instance.clone(), window).await
    }
}

/// A boxed meter, for `Debug` output in the reporter.
pub(crate) struct DynMeter(pub(crate) Box<dyn Meter>);

impl fmt::Debug for DynMeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Meter")
    }
}
