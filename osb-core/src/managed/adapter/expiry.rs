//! Reading a binding's `metadata.expires_at` (spec.md "Binding Metadata Object"), so that a
//! rotation can refuse an expired predecessor (rules.md §11.2).

use crate::managed::clock::Timestamp;

/// `expires_at` as a [`Timestamp`]: the spec's ISO 8601 form `yyyy-mm-ddThh:mm:ss(.s)Z`, UTC,
/// with any number of fraction digits (milliseconds kept, the rest dropped). `None` for any
/// other text: the caller treats an unreadable expiry as "not expired" rather than refuse a
/// rotation over a format the spec does not allow anyway.
pub(super) fn parse_expires_at(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    // yyyy-mm-ddThh:mm:ss is 19 bytes; then an optional fraction, then `Z`.
    let (head, rest) = (bytes.get(..19)?, bytes.get(19..)?);
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !separators
        .iter()
        .all(|&(at, byte)| head.get(at).is_some_and(|b| b.eq_ignore_ascii_case(&byte)))
    {
        return None;
    }
    let year = digits(head, 0, 4)?;
    let month = digits(head, 5, 2)?;
    let day = digits(head, 8, 2)?;
    let hour = digits(head, 11, 2)?;
    let minute = digits(head, 14, 2)?;
    let second = digits(head, 17, 2)?;
    let millis = match rest {
        [b'Z' | b'z'] => 0,
        [b'.', fraction @ .., b'Z' | b'z']
            if !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit) =>
        {
            // The first three digits, padded: ".5" is 500 ms.
            fraction
                .iter()
                .chain(std::iter::repeat(&b'0'))
                .take(3)
                .fold(0, |ms, digit| ms * 10 + i64::from(digit - b'0'))
        }
        _ => return None,
    };
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        // 60: a leap second.
        && second <= 60;
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(Timestamp::from_unix_millis(seconds * 1_000 + millis))
}

/// The decimal number in `bytes[at..at + len]`, all ASCII digits.
fn digits(bytes: &[u8], at: usize, len: usize) -> Option<i64> {
    bytes.get(at..at + len)?.iter().try_fold(0, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> Option<i64> {
        parse_expires_at(text).map(Timestamp::as_unix_millis)
    }

    #[test]
    fn parses_the_spec_forms_in_utc() {
        assert_eq!(millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(millis("2019-12-31T23:59:59.0Z"), Some(1_577_836_799_000));
        assert_eq!(millis("2019-12-31T23:59:59.5Z"), Some(1_577_836_799_500));
        assert_eq!(
            millis("2019-12-31T23:59:59.123456Z"),
            Some(1_577_836_799_123)
        );
        assert_eq!(millis("2024-02-29T12:00:00Z"), Some(1_709_208_000_000));
        assert_eq!(millis("1969-12-31T23:59:59Z"), Some(-1_000));
    }

    #[test]
    fn other_text_is_unreadable() {
        for text in [
            "",
            "2019-12-31",
            "2019-12-31T23:59:59",
            "2019-12-31T23:59:59+01:00",
            "2019-12-31 23:59:59Z",
            "2019-12-31T23:59:59.Z",
            "2019-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2019-12-31T24:00:00Z",
            "2019-12-31T23:59:59ZZ",
            "20x9-12-31T23:59:59Z",
            "2019-12-31T23:59:59.1aZ",
            "tomorrow",
        ] {
            assert_eq!(millis(text), None, "{text:?}");
        }
    }
}
