//! Usage records as IBM's metering API takes them (osb-core rules.md §17.7), checked before they are sent.

use osb_core::managed::Timestamp;
use serde::{Deserialize, Serialize};

use super::measure::{Measure, Quantity};
use super::window::submission_deadline;

/// Why a usage record cannot be sent.
///
/// # Example
///
/// ```
/// use osb_iam::metering::{InvalidRecord, UsageRecord};
///
/// let error = UsageRecord::builder("crn:v1:…::", "plan-1").window(20, 10).measure("API_CALL", 1.0).build();
/// assert!(matches!(error, Err(InvalidRecord::WindowReversed { start: 20, end: 10 })));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRecord {
    /// A required text field is empty.
    #[error("the usage record's `{field}` is empty")]
    EmptyField {
        /// The field's name in IBM's API (`resource_instance_id`, `plan_id`, `measure`).
        field: &'static str,
    },
    /// `measured_usage` is empty: a record must carry at least one measure.
    #[error("the usage record has no measures")]
    NoMeasures,
    /// A quantity is NaN, infinite or negative.
    #[error(
        "measure `{measure}` has quantity {quantity}; quantities must be finite and not negative"
    )]
    InvalidQuantity {
        /// The measure's name.
        measure: String,
        /// The offending value.
        quantity: f64,
    },
    /// The window ends before it starts.
    #[error("the usage window ends ({end}) before it starts ({start})")]
    WindowReversed {
        /// `start`, in ms since the epoch.
        start: i64,
        /// `end`, in ms since the epoch.
        end: i64,
    },
    /// The window ends after now: usage cannot be measured in advance.
    #[error("the usage window ends in the future ({end} > now {now})")]
    WindowInFuture {
        /// `end`, in ms since the epoch.
        end: i64,
        /// The time of the check, in ms since the epoch.
        now: i64,
    },
    /// IBM's submission deadline for the window has passed (see
    /// [`submission_deadline`](super::submission_deadline)).
    #[error("the submission deadline ({deadline}) for usage from {start} has passed")]
    PastDeadline {
        /// `start`, in ms since the epoch.
        start: i64,
        /// The deadline, in ms since the epoch.
        deadline: i64,
    },
}

/// A usage record: what one instance used over one window, for one plan.
///
/// Built with [`UsageRecord::builder`], which checks everything that does not depend on the
/// time of sending; [`check_timing`](Self::check_timing) checks the rest (the
/// [`MeteringClient`](super::MeteringClient) does both before sending). Records are facts: IBM
/// never updates one, and answers a second record with the same
/// [duplicate key](Self::duplicate_key) with 409.
///
/// # Example
///
/// ```
/// use osb_core::managed::Timestamp;
/// use osb_iam::metering::{InvalidRecord, UsageRecord};
///
/// let crn = "crn:v1:bluemix:public:my-svc:us-south:a/0123:4567::";
/// let record = UsageRecord::builder(crn, "plan-standard")
///     .window(1_740_823_200_000, 1_740_826_800_000)
///     .measure("API_CALL", 1200_u64)
///     .build()?;
/// // Accepted an hour later, refused when it would be a prediction.
/// assert!(record.check_timing(Timestamp::from_unix_millis(1_740_830_400_000)).is_ok());
/// assert!(matches!(
///     record.check_timing(Timestamp::from_unix_millis(1_740_825_000_000)),
///     Err(InvalidRecord::WindowInFuture { .. })
/// ));
/// // A negative quantity never gets this far.
/// let bad = UsageRecord::builder(crn, "plan-standard").window(0, 1).measure("API_CALL", -1.0).build();
/// assert!(matches!(bad, Err(InvalidRecord::InvalidQuantity { .. })));
/// # Ok::<(), InvalidRecord>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Unchecked")]
pub struct UsageRecord {
    resource_instance_id: String,
    plan_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    start: i64,
    end: i64,
    measured_usage: Vec<Measure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumer_id: Option<String>,
}

/// The wire shape, before the checks of [`UsageRecord::builder`].
#[derive(Deserialize)]
struct Unchecked {
    resource_instance_id: String,
    plan_id: String,
    #[serde(default)]
    region: Option<String>,
    start: i64,
    end: i64,
    measured_usage: Vec<Measure>,
    #[serde(default)]
    consumer_id: Option<String>,
}

impl TryFrom<Unchecked> for UsageRecord {
    type Error = InvalidRecord;

    fn try_from(raw: Unchecked) -> Result<Self, Self::Error> {
        let record = Self {
            resource_instance_id: raw.resource_instance_id,
            plan_id: raw.plan_id,
            region: raw.region,
            start: raw.start,
            end: raw.end,
            measured_usage: raw.measured_usage,
            consumer_id: raw.consumer_id,
        };
        record.check_shape()?;
        Ok(record)
    }
}

impl UsageRecord {
    /// Starts a record for the instance `resource_instance_id` (its CRN, the OSB instance id on
    /// IBM Cloud) on plan `plan_id`.
    pub fn builder(
        resource_instance_id: impl Into<String>,
        plan_id: impl Into<String>,
    ) -> UsageRecordBuilder {
        UsageRecordBuilder {
            record: Self {
                resource_instance_id: resource_instance_id.into(),
                plan_id: plan_id.into(),
                region: None,
                start: 0,
                end: 0,
                measured_usage: Vec::new(),
                consumer_id: None,
            },
        }
    }

    /// The instance's CRN.
    pub fn resource_instance_id(&self) -> &str {
        &self.resource_instance_id
    }

    /// The plan.
    pub fn plan_id(&self) -> &str {
        &self.plan_id
    }

    /// The region, when set.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The consumer, when set.
    pub fn consumer_id(&self) -> Option<&str> {
        self.consumer_id.as_deref()
    }

    /// The window's start, ms since the epoch.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// The window's end, ms since the epoch (equal to the start for an event).
    pub fn end(&self) -> i64 {
        self.end
    }

    /// The measures.
    pub fn measures(&self) -> &[Measure] {
        &self.measured_usage
    }

    /// The record's identity as IBM sees it: the fields of IBM's duplicate key that the record
    /// holds (instance, consumer, plan, region, start, end; account and resource group follow
    /// from the instance), as canonical JSON. Two records with the same key are the same fact.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::metering::UsageRecord;
    ///
    /// let a = UsageRecord::builder("i", "p").window(0, 10).measure("M", 1.0).build()?;
    /// let b = UsageRecord::builder("i", "p").window(0, 10).measure("M", 2.0).build()?;
    /// assert_eq!(a.duplicate_key(), b.duplicate_key()); // the quantity is not part of it
    /// assert_eq!(a.duplicate_key(), r#"["i",null,"p",null,0,10]"#);
    /// # Ok::<(), osb_iam::metering::InvalidRecord>(())
    /// ```
    pub fn duplicate_key(&self) -> String {
        let key = (
            &self.resource_instance_id,
            &self.consumer_id,
            &self.plan_id,
            &self.region,
            self.start,
            self.end,
        );
        // OK because a tuple of strings, options and integers always serialises.
        serde_json::to_string(&key).unwrap_or_default()
    }

    /// Checks what depends on the time of sending: the window has ended by `now`, and IBM's
    /// submission deadline for it has not passed.
    ///
    /// # Errors
    ///
    /// [`InvalidRecord::WindowInFuture`] or [`InvalidRecord::PastDeadline`].
    pub fn check_timing(&self, now: Timestamp) -> Result<(), InvalidRecord> {
        let now_ms = now.as_unix_millis();
        if self.end > now_ms {
            return Err(InvalidRecord::WindowInFuture {
                end: self.end,
                now: now_ms,
            });
        }
        let deadline = submission_deadline(Timestamp::from_unix_millis(self.start));
        if now >= deadline {
            return Err(InvalidRecord::PastDeadline {
                start: self.start,
                deadline: deadline.as_unix_millis(),
            });
        }
        Ok(())
    }

    fn check_shape(&self) -> Result<(), InvalidRecord> {
        if self.resource_instance_id.is_empty() {
            return Err(InvalidRecord::EmptyField {
                field: "resource_instance_id",
            });
        }
        if self.plan_id.is_empty() {
            return Err(InvalidRecord::EmptyField { field: "plan_id" });
        }
        if self.end < self.start {
            return Err(InvalidRecord::WindowReversed {
                start: self.start,
                end: self.end,
            });
        }
        if self.measured_usage.is_empty() {
            return Err(InvalidRecord::NoMeasures);
        }
        for measure in &self.measured_usage {
            if measure.name().is_empty() {
                return Err(InvalidRecord::EmptyField { field: "measure" });
            }
            if let Some(quantity) = measure.quantity().invalid_value() {
                return Err(InvalidRecord::InvalidQuantity {
                    measure: measure.name().to_owned(),
                    quantity,
                });
            }
        }
        Ok(())
    }
}

/// Builds a [`UsageRecord`]; see [`UsageRecord::builder`].
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the record"]
pub struct UsageRecordBuilder {
    record: UsageRecord,
}

impl UsageRecordBuilder {
    /// The measurement window, ms since the epoch (`end == start` for an event).
    pub fn window(mut self, start: i64, end: i64) -> Self {
        self.record.start = start;
        self.record.end = end;
        self
    }

    /// An event at `at` (a window with `end == start`).
    pub fn event(self, at: i64) -> Self {
        self.window(at, at)
    }

    /// The region the usage was measured in; needed when the instance id is not a CRN with a
    /// region. Default: none.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.record.region = Some(region.into());
        self
    }

    /// The consumer, for plans aggregated per consumer (anything else risks wrong
    /// aggregation, IBM warns). Default: none.
    pub fn consumer_id(mut self, consumer_id: impl Into<String>) -> Self {
        self.record.consumer_id = Some(consumer_id.into());
        self
    }

    /// Adds a measure.
    pub fn measure(mut self, name: impl Into<String>, quantity: impl Into<Quantity>) -> Self {
        self.record
            .measured_usage
            .push(Measure::new(name, quantity));
        self
    }

    /// Adds measures.
    pub fn measures(mut self, measures: impl IntoIterator<Item = Measure>) -> Self {
        self.record.measured_usage.extend(measures);
        self
    }

    /// The record, after the checks that do not depend on time.
    ///
    /// # Errors
    ///
    /// [`InvalidRecord`] for an empty id, plan or measure name, no measures, a non-finite or
    /// negative quantity, or `end < start`.
    pub fn build(self) -> Result<UsageRecord, InvalidRecord> {
        self.record.check_shape()?;
        Ok(self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> UsageRecordBuilder {
        UsageRecord::builder("crn:v1:bluemix:public:svc:us-south:a/1:2::", "plan")
            .window(0, 3_600_000)
    }

    #[test]
    fn empty_measures_are_refused() {
        assert_eq!(base().build(), Err(InvalidRecord::NoMeasures));
    }

    #[test]
    fn non_finite_and_negative_quantities_are_refused() {
        for bad in [f64::NAN, f64::INFINITY, -0.5] {
            assert!(matches!(
                base().measure("M", bad).build(),
                Err(InvalidRecord::InvalidQuantity { .. })
            ));
        }
        assert!(matches!(
            base()
                .measure("M", Quantity::event(1.0, f64::NEG_INFINITY))
                .build(),
            Err(InvalidRecord::InvalidQuantity { .. })
        ));
        assert!(base().measure("M", 0.0).build().is_ok());
        assert!(
            base()
                .measure("M", Quantity::event(0.0, 2.0))
                .build()
                .is_ok()
        );
    }

    #[test]
    fn empty_ids_are_refused() {
        let record = UsageRecord::builder("", "plan").measure("M", 1.0).build();
        assert_eq!(
            record,
            Err(InvalidRecord::EmptyField {
                field: "resource_instance_id"
            })
        );
        let record = UsageRecord::builder("i", "").measure("M", 1.0).build();
        assert_eq!(record, Err(InvalidRecord::EmptyField { field: "plan_id" }));
    }

    #[test]
    fn events_have_equal_start_and_end() {
        let record = UsageRecord::builder("i", "p")
            .event(5)
            .measure("M", 1.0)
            .build();
        assert!(record.is_ok_and(|r| r.start() == 5 && r.end() == 5));
    }

    #[test]
    fn timing_rejects_a_window_past_the_deadline() {
        let record = base().measure("M", 1.0).build().expect("valid");
        // January 1970 → deadline 1970-02-03T00:00Z = day 33.
        let deadline = 33 * 86_400_000;
        assert!(
            record
                .check_timing(Timestamp::from_unix_millis(deadline - 1))
                .is_ok()
        );
        assert!(matches!(
            record.check_timing(Timestamp::from_unix_millis(deadline)),
            Err(InvalidRecord::PastDeadline { .. })
        ));
    }

    #[test]
    fn the_wire_shape_is_ibms() {
        let record = base()
            .measure("API_CALL", 3_u64)
            .region("us-south")
            .build()
            .expect("valid");
        let json = serde_json::to_value(&record).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "resource_instance_id": "crn:v1:bluemix:public:svc:us-south:a/1:2::",
                "plan_id": "plan", "region": "us-south", "start": 0, "end": 3_600_000,
                "measured_usage": [{"measure": "API_CALL", "quantity": 3.0}]
            })
        );
        let back: UsageRecord = serde_json::from_value(json).expect("parses");
        assert_eq!(back, record);
    }

    #[test]
    fn parsing_applies_the_same_checks() {
        let json =
            r#"{"resource_instance_id":"i","plan_id":"p","start":0,"end":1,"measured_usage":[]}"#;
        assert!(serde_json::from_str::<UsageRecord>(json).is_err());
    }
}
