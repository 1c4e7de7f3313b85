//! Measurement windows: hours aligned to UTC, and IBM's submission deadline.

use std::time::Duration;

use osb_core::managed::Timestamp;

/// One hour in milliseconds.
const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// A measurement window `[start, end)` in milliseconds since the Unix epoch, UTC.
///
/// The reporter measures whole hours ([`Window::hour_containing`]); an event is a window with
/// `end == start`.
///
/// # Example
///
/// ```
/// use osb_core::managed::Timestamp;
/// use osb_iam::metering::Window;
///
/// // 2025-03-01T10:17:00Z lies in the hour 10:00–11:00.
/// let hour = Window::hour_containing(Timestamp::from_unix_millis(1_740_824_220_000));
/// assert_eq!(hour.start().as_unix_millis(), 1_740_823_200_000);
/// assert_eq!(hour.end().as_unix_millis(), 1_740_826_800_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    start: Timestamp,
    end: Timestamp,
}

impl Window {
    /// The UTC hour that contains `at`.
    pub fn hour_containing(at: Timestamp) -> Self {
        let start = at.as_unix_millis().div_euclid(HOUR_MS) * HOUR_MS;
        Self::hour_starting(Timestamp::from_unix_millis(start))
    }

    /// The hour that starts at `start` (callers pass an hour boundary).
    pub(crate) fn hour_starting(start: Timestamp) -> Self {
        Self {
            start,
            end: start.saturating_add(Duration::from_millis(HOUR_MS as u64)),
        }
    }

    /// The hour after this one.
    #[must_use]
    pub fn next_hour(self) -> Self {
        Self::hour_starting(self.end)
    }

    /// The hour before this one.
    #[must_use]
    pub fn previous(self) -> Self {
        Self::hour_starting(Timestamp::from_unix_millis(
            self.start.as_unix_millis() - HOUR_MS,
        ))
    }

    /// Where the window starts (inclusive).
    pub fn start(self) -> Timestamp {
        self.start
    }

    /// Where the window ends (exclusive; equal to the start for an event).
    pub fn end(self) -> Timestamp {
        self.end
    }

    /// The last moment IBM takes usage for this window: see [`submission_deadline`].
    pub fn deadline(self) -> Timestamp {
        submission_deadline(self.start)
    }
}

/// The end of the period in which usage measured from `start` on may still be submitted:
/// 00:00 UTC on the 3rd day of the month after `start`'s month.
///
/// IBM's rule (docs, "Metering integration"): "You must submit usage records for the current
/// month by the second day of the following month", with time in UTC. "By the second day" is
/// read as "until the second day is over"; a record IBM considers late is answered with a
/// per-record rejection, which the reporter keeps for inspection.
///
/// # Example
///
/// ```
/// use osb_core::managed::Timestamp;
/// use osb_iam::metering::submission_deadline;
///
/// // Usage from 2024-12-31T23:00Z may be submitted until 2025-01-03T00:00Z.
/// let start = Timestamp::from_unix_millis(1_735_686_000_000);
/// assert_eq!(submission_deadline(start).as_unix_millis(), 1_735_862_400_000);
/// ```
pub fn submission_deadline(start: Timestamp) -> Timestamp {
    let (year, month, _) = civil_from_days(start.as_unix_millis().div_euclid(DAY_MS));
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    Timestamp::from_unix_millis(days_from_civil(year, month, 3).saturating_mul(DAY_MS))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400;
    (if month <= 2 { year + 1 } else { year }, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(days: i64) -> Timestamp {
        Timestamp::from_unix_millis(days * DAY_MS)
    }

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn deadline_is_the_end_of_the_second_day_of_the_next_month() {
        // 2025-01-31 → 2025-02-03T00:00Z
        let jan31 = days_from_civil(2025, 1, 31);
        assert_eq!(
            submission_deadline(ms(jan31)),
            ms(days_from_civil(2025, 2, 3))
        );
        // The first millisecond of February belongs to February.
        let feb1 = days_from_civil(2025, 2, 1);
        assert_eq!(
            submission_deadline(ms(feb1)),
            ms(days_from_civil(2025, 3, 3))
        );
        // December rolls over the year.
        let dec = days_from_civil(2025, 12, 15);
        assert_eq!(
            submission_deadline(ms(dec)),
            ms(days_from_civil(2026, 1, 3))
        );
    }

    #[test]
    fn hours_are_aligned_to_utc() {
        let at = Timestamp::from_unix_millis(5 * HOUR_MS + 59 * 60_000);
        let hour = Window::hour_containing(at);
        assert_eq!(hour.start().as_unix_millis(), 5 * HOUR_MS);
        assert_eq!(hour.end().as_unix_millis(), 6 * HOUR_MS);
        assert_eq!(hour.next_hour().start(), hour.end());
        let negative = Window::hour_containing(Timestamp::from_unix_millis(-1));
        assert_eq!(negative.start().as_unix_millis(), -HOUR_MS);
    }
}
