//! A measure of a usage record: the metric's name and its quantity.

use serde::{Deserialize, Serialize};

/// A measure's quantity: a number, or for events the value before and after.
///
/// # Example
///
/// ```
/// use osb_iam::metering::Quantity;
///
/// assert_eq!(serde_json::to_string(&Quantity::from(12.5))?, "12.5");
/// assert_eq!(serde_json::to_string(&Quantity::event(1.0, 3.0))?, r#"{"previous":1.0,"current":3.0}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Quantity {
    /// An amount over the window (`"quantity": 12.5`).
    Number(f64),
    /// A change, for events (`"quantity": {"previous": 1, "current": 3}`).
    Event {
        /// The value before the event.
        previous: f64,
        /// The value after the event.
        current: f64,
    },
}

impl Quantity {
    /// An event's quantity: the value before and after.
    pub const fn event(previous: f64, current: f64) -> Self {
        Self::Event { previous, current }
    }

    pub(super) fn invalid_value(self) -> Option<f64> {
        let bad = |v: f64| !v.is_finite() || v < 0.0;
        match self {
            Self::Number(v) if bad(v) => Some(v),
            Self::Event { previous, .. } if bad(previous) => Some(previous),
            Self::Event { current, .. } if bad(current) => Some(current),
            Self::Number(_) | Self::Event { .. } => None,
        }
    }
}

impl From<f64> for Quantity {
    fn from(value: f64) -> Self {
        Self::Number(value)
    }
}

impl From<u64> for Quantity {
    fn from(value: u64) -> Self {
        // Counts beyond 2^53 lose precision, as they would in IBM's JSON.
        Self::Number(value as f64)
    }
}

/// One measure of a record: the metric's name (as defined for the plan in Partner Center) and
/// its quantity.
///
/// # Example
///
/// ```
/// use osb_iam::metering::Measure;
///
/// let calls = Measure::new("API_CALL", 42_u64);
/// assert_eq!(calls.name(), "API_CALL");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    measure: String,
    quantity: Quantity,
}

impl Measure {
    /// A measure named `name` with `quantity`.
    pub fn new(name: impl Into<String>, quantity: impl Into<Quantity>) -> Self {
        Self {
            measure: name.into(),
            quantity: quantity.into(),
        }
    }

    /// The metric's name (`measure` in IBM's API).
    pub fn name(&self) -> &str {
        &self.measure
    }

    /// The quantity.
    pub fn quantity(&self) -> Quantity {
        self.quantity
    }
}
