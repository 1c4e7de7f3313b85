//! Percent-decoding of path ids and query values, in one pass over the bytes.
//!
//! Strict RFC 3986 §2.1 decoding: `%XY` with two hex digits is the byte `0xXY`, and a `%` that
//! does not start such a triplet is an error, not a literal `%`. A lenient decoder (the
//! `percent-encoding` crate's) keeps `a%zz` as it is, which makes it an alias of the id sent as
//! `a%25zz`; two spellings of one resource on the wire must never name two different resources,
//! nor one resource two ways. The runs between escapes are copied whole, and a value without
//! escapes is borrowed.

use std::borrow::Cow;

/// Why a value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// A `%` not followed by two hex digits.
    Escape,
    /// The decoded bytes are not UTF-8.
    Utf8,
    /// The decoded id holds a control character (NUL, other C0 or C1 controls, DEL): never a
    /// character of a real id, and one that logs and stores would carry as is.
    Control,
}

impl Invalid {
    /// The problem, as the end of a sentence naming the value.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Escape => "has a '%' that is not followed by two hex digits",
            Self::Utf8 => "is not valid UTF-8 after percent-decoding",
            Self::Control => "holds a control character after percent-decoding",
        }
    }
}

/// Decodes `raw`; with `plus_is_space`, a literal `+` is a space (form encoding, for query
/// values; an encoded `%2B` stays a `+`).
pub(crate) fn decode(raw: &str, plus_is_space: bool) -> Result<Cow<'_, str>, Invalid> {
    let bytes = raw.as_bytes();
    let special = |b: &u8| *b == b'%' || (plus_is_space && *b == b'+');
    let Some(first) = bytes.iter().position(special) else {
        return Ok(Cow::Borrowed(raw));
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
            return Err(Invalid::Escape);
        }
        run = rest.iter().position(special).unwrap_or(rest.len());
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| Invalid::Utf8)
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
    fn well_formed_input_decodes_like_the_percent_encoding_crate() {
        let inputs = [
            "",
            "plain-id",
            "crn%3Av1%3Abluemix%3Apublic%3Adb%3Aus-south%3Aa%2F0123%3A%3A",
            "%2f%2F%41%7e",
            "a%25zz",
            "a+b%2Bc",
            "%E2%9C%93",
        ];
        for input in inputs {
            let expected = percent_encoding::percent_decode_str(input)
                .decode_utf8()
                .unwrap();
            assert_eq!(decode(input, false).unwrap(), expected, "{input:?}");
        }
    }

    #[test]
    fn a_percent_without_two_hex_digits_is_an_error_not_a_literal() {
        for input in ["100%", "%4", "a%zz", "%zz%4g%%41", "%", "a%", "%%", "ok%2"] {
            assert_eq!(decode(input, false), Err(Invalid::Escape), "{input:?}");
            assert_eq!(decode(input, true), Err(Invalid::Escape), "{input:?}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_an_error() {
        for input in ["%C3%28", "%FF", "a%80b"] {
            assert_eq!(decode(input, false), Err(Invalid::Utf8), "{input:?}");
        }
    }

    #[test]
    fn plus_is_a_space_only_in_query_values() {
        assert_eq!(decode("a+b%2Bc+", true).unwrap(), "a b+c ");
        assert_eq!(decode("a+b", false).unwrap(), "a+b");
        assert!(matches!(decode("abc", true), Ok(Cow::Borrowed("abc"))));
    }
}
