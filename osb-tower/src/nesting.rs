//! The nesting limit on request JSON: a body nested deeper than [`MAX_JSON_DEPTH`] is a 400
//! before it is parsed, so nothing deeper ever reaches a broker or its store.

use osb_core::BrokerError;

/// How deeply a request body's JSON may nest: arrays and objects, the body's own object
/// counting as the first level. A deeper body is refused with `400 BadRequest` whose
/// description names the top-level field that nests too deeply (e.g. `parameters`), before
/// anything reaches the broker.
///
/// Why 64: it is the default of other JSON stacks (System.Text.Json, Json.NET) and more than
/// platforms send (Cloud Foundry's own parser stops at 100), while half of serde_json's
/// recursion limit (128): what a broker stores wraps the request in a level or two (osb-core's
/// managed records add one) and a broker may nest `parameters` in documents of its own, all of
/// which must still parse. Spec: spec.md "Content Type" (a body that cannot be processed SHOULD
/// be a 400).
///
/// # Example
///
/// ```
/// use osb_tower::MAX_JSON_DEPTH;
///
/// // `{"parameters":{"p":[[…]]}}`: the body and `parameters` are two levels, so at most 62
/// // arrays fit in `p`.
/// assert_eq!(MAX_JSON_DEPTH, 64);
/// ```
pub const MAX_JSON_DEPTH: usize = 64;

/// 400 when `bytes` nests deeper than [`MAX_JSON_DEPTH`].
///
/// One pass over the bytes counting brackets outside strings; it does not validate the JSON
/// (the parser does that next), so a malformed body may be refused here or there.
pub(crate) fn check(bytes: &[u8]) -> Result<(), BrokerError> {
    within(bytes, MAX_JSON_DEPTH).map_err(|field| refused(field.as_deref()))
}

/// `Ok` when `bytes` nests at most `limit` deep; otherwise the top-level key whose value nests
/// too deeply, if the body is an object and the key is plain text.
fn within(bytes: &[u8], limit: usize) -> Result<(), Option<String>> {
    let mut depth = 0_usize;
    // The span of the latest string at depth 1: a key, once a value opens after it.
    let mut key = (0, 0);
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'"' => {
                let start = i + 1;
                i = start;
                while let Some(&b) = bytes.get(i) {
                    match b {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                if depth == 1 {
                    key = (start, i);
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(field(bytes, key));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The key at `span`, when it is short plain text worth naming.
fn field(bytes: &[u8], (start, end): (usize, usize)) -> Option<String> {
    let key = std::str::from_utf8(bytes.get(start..end)?).ok()?;
    let plain = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'`');
    plain.then(|| key.to_owned())
}

fn refused(field: Option<&str>) -> BrokerError {
    let description = match field {
        Some(field) => format!(
            "The request body is not valid: field `{field}` nests JSON deeper than \
             {MAX_JSON_DEPTH} levels (the body counts as one)."
        ),
        None => format!(
            "The request body is not valid: it nests JSON deeper than {MAX_JSON_DEPTH} levels."
        ),
    };
    BrokerError::bad_request(description)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!(
            r#"{{"service_id":"s","plan_id":"p","parameters":{{"p":{}1{}}}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    }

    #[test]
    fn a_body_at_the_limit_is_accepted() {
        // The body, `parameters` and 62 arrays: 64 levels.
        assert!(check(nested(62).as_bytes()).is_ok());
        assert!(check(b"{}").is_ok());
        assert!(check(b"").is_ok());
    }

    #[test]
    fn a_deeper_body_is_refused_naming_the_field() {
        let err = check(nested(63).as_bytes()).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        assert!(err.description().contains("field `parameters`"), "{err}");
        assert!(err.description().contains("64"), "{err}");
        let context = format!(
            r#"{{"context":{{"a":{}{}}}}}"#,
            "[".repeat(70),
            "]".repeat(70)
        );
        let err = check(context.as_bytes()).unwrap_err();
        assert!(err.description().contains("field `context`"), "{err}");
    }

    #[test]
    fn brackets_in_strings_do_not_count() {
        let body = format!(
            r#"{{"parameters":{{"a":"{}","b\"[":"\\"}}}}"#,
            "[{".repeat(100)
        );
        assert!(check(body.as_bytes()).is_ok());
    }

    #[test]
    fn a_top_level_array_or_an_odd_key_is_not_named() {
        let array = "[".repeat(65);
        let err = check(array.as_bytes()).unwrap_err();
        assert!(!err.description().contains('`'), "{err}");
        let odd = format!(r#"{{"a\"b":{}}}"#, "[".repeat(65));
        let err = check(odd.as_bytes()).unwrap_err();
        assert!(err.description().contains("it nests"), "{err}");
    }
}
