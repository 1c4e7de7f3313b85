//! Splitting and decoding a JWS compact serialisation, and checking its header before any key
//! is looked up.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

use crate::TokenRejection;

/// The one algorithm IAM signs with.
const RS256: &str = "RS256";

/// A token split into its parts, header checked.
pub(super) struct Parts<'a> {
    /// `base64(header) "." base64(payload)`: what the signature covers.
    pub(super) signing_input: &'a str,
    pub(super) payload: &'a str,
    pub(super) signature: &'a str,
    pub(super) kid: String,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

fn malformed(reason: &'static str) -> TokenRejection {
    TokenRejection::Malformed { reason }
}

/// Splits `token` and checks its header: `alg` must be exactly `RS256` (RFC 8725 §3.1: never
/// let the token choose), before any key lookup.
pub(super) fn split(token: &str) -> Result<Parts<'_>, TokenRejection> {
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(malformed("not three dot-separated segments"));
    };
    let header_segment = header;
    let header_bytes = decode(header)?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|_| malformed("the header is not a JOSE header"))?;
    if header.alg != RS256 {
        // Covers `none` and `HS256` (the public key used as an HMAC secret), RFC 8725 §2.1.
        let mut alg = header.alg;
        alg.truncate(32);
        return Err(TokenRejection::DisallowedAlgorithm { alg });
    }
    if header.crit.is_some() {
        // RFC 7515 §4.1.11: critical extensions this verifier does not know must be refused.
        return Err(malformed("the header has critical extensions"));
    }
    let kid = header.kid.ok_or(TokenRejection::MissingKeyId)?;
    // OK because `header` and `payload` are the first two segments of `token`.
    let signing_input = &token[..header_segment.len() + 1 + payload.len()];
    Ok(Parts {
        signing_input,
        payload,
        signature,
        kid,
    })
}

/// Decodes one unpadded base64url segment.
pub(super) fn decode(segment: &str) -> Result<Vec<u8>, TokenRejection> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| malformed("a segment is not base64url"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn signing_input_is_header_and_payload_segments() {
        let token = format!("{}.{}.c2ln", b64(r#"{"alg":"RS256","kid":"k"}"#), b64("{}"));
        let parts = split(&token)
            .map_err(|_| "rejected")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            parts.signing_input,
            token.rsplit_once('.').map_or("", |(input, _)| input)
        );
        assert_eq!(parts.signature, "c2ln");
        assert_eq!(parts.kid, "k");
    }

    #[test]
    fn algorithm_is_refused_before_the_kid_is_read() {
        let token = format!("{}.e30.", b64(r#"{"alg":"none"}"#));
        assert!(matches!(
            split(&token),
            Err(TokenRejection::DisallowedAlgorithm { .. })
        ));
        let long = format!(
            "{}.e30.",
            b64(&format!(r#"{{"alg":"{}"}}"#, "X".repeat(500)))
        );
        match split(&long) {
            Err(TokenRejection::DisallowedAlgorithm { alg }) => assert_eq!(alg.len(), 32),
            _ => panic!("a long alg must be refused, truncated"),
        }
    }

    #[test]
    fn padded_or_standard_base64_is_malformed() {
        assert!(decode("e30=").is_err());
        assert!(decode("a+b/").is_err());
        assert!(decode("e30").is_ok());
    }
}
