//! Request bodies: the size limit (413) and JSON parsing (400).
//!
//! Spec: spec.md "Content Type" (a body that cannot be processed SHOULD be a 400) and "Vendor
//! Extensions" (unknown fields are ignored). A wrong `Content-Type` is forgiven when the body
//! parses (osb-core rules.md §2.4: the receiver MAY still parse).

use bytes::{Buf, Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use osb_core::{BoxError, BrokerError};
use serde::de::DeserializeOwned;

/// The default body limit: 1 MiB.
pub(crate) const DEFAULT_MAX_BODY_SIZE: usize = 1024 * 1024;

/// 413 when the declared size is already too large (checked before reading).
pub(crate) fn check_declared_size<B: Body>(
    headers: &HeaderMap,
    body: &B,
    limit: usize,
) -> Result<(), BrokerError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let hinted = body.size_hint().lower();
    if declared.is_some_and(|n| n > limit as u64) || hinted > limit as u64 {
        return Err(too_large(limit));
    }
    Ok(())
}

fn too_large(limit: usize) -> BrokerError {
    BrokerError::status_code(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The request body is larger than the limit of {limit} bytes."),
    )
}

/// Reads the whole body, stopping with 413 as soon as it exceeds `limit`.
pub(crate) async fn read<B>(body: B, limit: usize) -> Result<Bytes, BrokerError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| {
            let err: BoxError = err.into();
            tracing::debug!(error = %err, "failed to read the request body");
            BrokerError::bad_request("The request body could not be read.")
        })?;
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers carry nothing for OSB
        };
        let len = first.as_ref().map_or(0, Bytes::len) + buf.len() + data.remaining();
        if len > limit {
            return Err(too_large(limit));
        }
        // The common case is one chunk: keep it without copying.
        if first.is_none() && buf.is_empty() {
            first = Some(data.copy_to_bytes(data.remaining()));
        } else {
            if let Some(first) = first.take() {
                buf.extend_from_slice(&first);
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                data.advance(n);
            }
        }
    }
    Ok(match first {
        Some(first) => first,
        None => buf.freeze(),
    })
}

/// Parses a JSON body into `T`, with a 400 that names the field or position and never a value;
/// a body nested deeper than [`MAX_JSON_DEPTH`](crate::MAX_JSON_DEPTH) is a 400 naming the field.
pub(crate) fn parse<T: DeserializeOwned>(
    bytes: &[u8],
    headers: &HeaderMap,
) -> Result<T, BrokerError> {
    crate::nesting::check(bytes)?;
    // The fast path: path tracking costs about half again the parse, so it runs only to
    // describe a failure (see the overhead benchmark in `benches/`).
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let fail = |problem: String| {
        let description = if is_json(headers) {
            format!("The request body is not valid: {problem}.")
        } else {
            format!(
                "The request body is not valid JSON ({problem}); send Content-Type: application/json."
            )
        };
        BrokerError::bad_request(description)
    };
    let value: T = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| fail(describe(err.inner(), &err.path().to_string())))?;
    // Trailing characters after the object.
    deserializer
        .end()
        .map_err(|err| fail(describe(&err, ".")))?;
    Ok(value)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || (mime.len() > 5 && mime[mime.len() - 5..].eq_ignore_ascii_case("+json"))
        })
}

/// What was wrong, without echoing request values (they may be secrets in `parameters`).
fn describe(inner: &serde_json::Error, path: &str) -> String {
    let (line, column) = (inner.line(), inner.column());
    match inner.classify() {
        serde_json::error::Category::Eof if bytes_were_empty(line, column) => {
            "the body is empty; expected a JSON object".to_owned()
        }
        serde_json::error::Category::Eof => {
            format!("unexpected end of JSON at line {line} column {column}")
        }
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
            format!("malformed JSON at line {line} column {column}")
        }
        serde_json::error::Category::Data => {
            let message = redact(&strip_position(&inner.to_string()));
            if path == "." {
                message
            } else {
                format!("field `{path}`: {message}")
            }
        }
    }
}

fn bytes_were_empty(line: usize, column: usize) -> bool {
    line == 1 && column == 0
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Removes the request's values from a parser message, wherever they sit in it: serde writes a
/// string value `"quoted"` (`invalid type: string "hunter2", expected a map`), a number, boolean,
/// character or variant in backticks after its kind (`invalid type: integer `5``), and the
/// model's own messages quote values the same way (`maintenance_info.version "x" is not …`),
/// also behind a prefix (`invalid service_id: invalid type: …`). Backticks after anything else
/// name a field (`missing field `service_id``) and stay.
fn redact(message: &str) -> String {
    const VALUE_KINDS: [&str; 5] = [
        "boolean ",
        "integer ",
        "floating point ",
        "character ",
        "variant ",
    ];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(['"', '`']) {
        let (before, quoted) = rest.split_at(at);
        let backtick = quoted.starts_with('`');
        if backtick && !VALUE_KINDS.iter().any(|kind| before.ends_with(kind)) {
            // A field name: keep it, closing backtick included.
            let end = quoted[1..].find('`').map_or(quoted.len(), |i| i + 2);
            out.push_str(before);
            out.push_str(&quoted[..end]);
            rest = &quoted[end..];
            continue;
        }
        out.push_str(before.strip_suffix(' ').unwrap_or(before));
        rest = skip_quoted(quoted);
    }
    out.push_str(rest);
    out
}

/// The text after the quoted value `quoted` starts with (`"…"` with Rust escapes, or `` `…` ``).
fn skip_quoted(quoted: &str) -> &str {
    let mut chars = quoted.char_indices();
    let Some((_, open)) = chars.next() else {
        return quoted;
    };
    let mut escaped = false;
    for (i, c) in chars {
        match c {
            '\\' if open == '"' && !escaped => escaped = true,
            c if c == open && !escaped => return &quoted[i + c.len_utf8()..],
            _ => escaped = false,
        }
    }
    "" // unterminated: everything after the opening quote is the value
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use osb_core::ProvisionRequest;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        h
    }

    fn err(body: &str) -> String {
        parse::<ProvisionRequest>(body.as_bytes(), &json_headers())
            .unwrap_err()
            .description()
            .to_owned()
    }

    #[test]
    fn errors_name_the_field_or_position() {
        assert!(err(r#"{"plan_id":"p"}"#).contains("missing field `service_id`"));
        assert!(err(r#"{"service_id":"","plan_id":"p"}"#).contains("field `service_id`"));
        assert!(err(r#"{"service_id":"s",}"#).contains("line 1 column"));
        assert!(err("").contains("empty"));
        assert!(err(r#"{"service_id":"s""#).contains("end of JSON"));
        assert!(err(r#"{"service_id":"s","plan_id":"p"} x"#).contains("line 1"));
    }

    #[test]
    fn errors_never_echo_values() {
        let message = err(r#"{"service_id":"s","plan_id":"p","parameters":"hunter2"}"#);
        assert!(message.contains("field `parameters`"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        let message =
            err(r#"{"service_id":"s","plan_id":"p","parameters":{"a":1},"context":"pw-123"}"#);
        assert!(!message.contains("pw-123"), "{message}");
    }

    #[test]
    fn errors_never_echo_values_behind_a_prefix_or_in_the_models_messages() {
        for body in [
            r#"{"service_id":"s","plan_id":"p","maintenance_info":{"version":"hunter2"}}"#,
            r#"{"service_id":"s","plan_id":"p","parameters":"a, expected hunter2"}"#,
            r#"{"service_id":"s","plan_id":"p","parameters":"\"hunter2\" `x`"}"#,
            r#"{"service_id":7777777,"plan_id":"p"}"#,
            r#"{"service_id":"s","plan_id":true}"#,
            r#"{"service_id":"s","plan_id":"p","maintenance_info":7777777}"#,
        ] {
            let message = err(body);
            assert!(message.contains("field `"), "{message}");
            for value in ["hunter2", "7777777", "true"] {
                assert!(!message.contains(value), "{body}: {message}");
            }
        }
        assert_eq!(
            redact(r#"invalid type: string "a\"b`c", expected a map"#),
            "invalid type: string, expected a map"
        );
        assert_eq!(
            redact("unknown variant `x`, expected one of `a`, `b`"),
            "unknown variant, expected one of `a`, `b`"
        );
        assert_eq!(
            redact("missing field `service_id`"),
            "missing field `service_id`"
        );
    }

    #[test]
    fn content_type_is_only_mentioned_when_wrong() {
        let none = HeaderMap::new();
        let message = parse::<ProvisionRequest>(b"nope", &none).unwrap_err();
        assert!(message.description().contains("Content-Type"));
        assert!(parse::<ProvisionRequest>(br#"{"service_id":"s","plan_id":"p"}"#, &none).is_ok());
    }

    #[test]
    fn read_caps_the_body() {
        use futures_util::FutureExt as _;
        let body = http_body_util::Full::new(Bytes::from(vec![b' '; 11]));
        let err = read(body, 10).now_or_never().unwrap().unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = http_body_util::Full::new(Bytes::from_static(b"{}"));
        assert_eq!(read(body, 10).now_or_never().unwrap().unwrap(), "{}");
    }
}
