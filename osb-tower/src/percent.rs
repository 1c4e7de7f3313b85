//! Percent-decoding of path ids and query values, in one pass over the bytes.
//!
//! Same rules as the `percent-encoding` crate's decoder (`%XY` with two hex digits is the byte
//! `0xXY`; any other `%` stays as it is; the result must be UTF-8), without its byte-at-a-time
//! iterator: the runs between escapes are copied whole, and a value without escapes is borrowed.

use std::borrow::Cow;

/// Decodes `raw`; with `plus_is_space`, a literal `+` is a space (form encoding, for query
/// values; an encoded `%2B` stays a `+`).
///
/// `None` when the decoded bytes are not UTF-8.
pub(crate) fn decode(raw: &str, plus_is_space: bool) -> Option<Cow<'_, str>> {
    let bytes = raw.as_bytes();
    let special = |b: &u8| *b == b'%' || (plus_is_space && *b == b'+');
    let Some(first) = bytes.iter().position(special) else {
        return Some(Cow::Borrowed(raw));
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    let mut run = first;
    loop {
        // Copy the escape-free run whole, then decode the escape after it.
        let (clean, tail) = rest.split_at(run);
        out.extend_from_slice(clean);
        let Some((&byte, after)) = tail.split_first() else {
            break;
        };
        rest = after;
        if byte == b'+' {
            out.push(b' ');
        } else if let [high, low, after @ ..] = after
            && let (Some(high), Some(low)) = (hex(*high), hex(*low))
        {
            out.push(high << 4 | low);
            rest = after;
        } else {
            out.push(b'%');
        }
        run = rest.iter().position(special).unwrap_or(rest.len());
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The value of a hex digit.
fn hex(digit: u8) -> Option<u8> {
    match digit {
        digit @ b'0'..=b'9' => Some(digit - b'0'),
        digit @ b'a'..=b'f' => Some(digit - b'a' + 10),
        digit @ b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn decodes_like_the_percent_encoding_crate() {
        let inputs = [
            "",
            "plain-id",
            "crn%3Av1%3Abluemix%3Apublic%3Adb%3Aus-south%3Aa%2F0123%3A%3A",
            "%2f%2F%41%7e",
            "100%",
            "%4",
            "%zz%4g%%41",
            "a+b%2Bc",
            "%E2%9C%93",
            "%C3%28",
            "%FF",
            "%",
        ];
        for input in inputs {
            let expected = percent_encoding::percent_decode_str(input)
                .decode_utf8()
                .ok();
            assert_eq!(decode(input, false), expected, "{input:?}");
        }
    }

    #[test]
    fn plus_is_a_space_only_in_query_values() {
        assert_eq!(decode("a+b%2Bc+", true).unwrap(), "a b+c ");
        assert_eq!(decode("a+b", false).unwrap(), "a+b");
        assert!(matches!(decode("abc", true), Some(Cow::Borrowed("abc"))));
    }
}
