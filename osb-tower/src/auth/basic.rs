//! [`Basic`]: HTTP Basic authentication ([RFC 7617]) against one or more credential pairs.
//!
//! [RFC 7617]: https://www.rfc-editor.org/rfc/rfc7617

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use http::header::AUTHORIZATION;
use http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{Authenticate, Rejection};

/// HTTP Basic authentication, the scheme the OSB spec names for platform-to-broker calls
/// (spec.md "Platform to Service Broker Authentication").
///
/// Holds one or more user/password pairs, so credentials can be rotated without downtime: add the
/// new pair with [`with_credentials`](Self::with_credentials), move the platform over, then drop
/// the old pair.
///
/// The comparison runs in constant time: both sides are hashed with SHA-256 first, so the
/// length of a guess does not change the work done, and every configured pair is compared, with no
/// early exit. Only the digests of the configured passwords are kept, and `Debug` shows user
/// names, never passwords.
///
/// | request                                            | answer                                     |
/// |----------------------------------------------------|--------------------------------------------|
/// | no `Authorization` header, or another scheme       | [`Rejection::missing_credentials`], 401    |
/// | not base64, not UTF-8, no `:`, several headers     | 401, [`BasicFailure::MalformedCredentials`] |
/// | user or password matches no configured pair        | 401, [`BasicFailure::WrongCredentials`]    |
///
/// Every 401 carries `WWW-Authenticate: Basic realm="…", charset="UTF-8"`; the reason is a
/// [`BasicFailure`] in the response's extensions.
///
/// # Example
///
/// ```
/// use osb_tower::auth::{Basic, RequireAuthLayer};
///
/// let basic = Basic::new("platform", "s3cret")
///     .with_credentials("platform", "n3w-s3cret") // rotation: both pairs are accepted
///     .realm("my-broker");
/// assert!(!format!("{basic:?}").contains("s3cret"));
/// let layer = RequireAuthLayer::new(basic);
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct Basic {
    pairs: Vec<Pair>,
    challenge: HeaderValue,
}

#[derive(Clone)]
struct Pair {
    user: String,
    user_digest: [u8; 32],
    password_digest: [u8; 32],
    /// `false` for an empty user name or password: such a pair never matches.
    usable: bool,
}

impl Pair {
    fn new(user: String, password: &str) -> Self {
        let usable = !user.is_empty() && !password.is_empty();
        if !usable {
            tracing::warn!(user = %user, "Basic credentials with an empty user name or password admit nobody");
        }
        Self {
            user_digest: digest(user.as_bytes()),
            password_digest: digest(password.as_bytes()),
            usable,
            user,
        }
    }
}

/// Why [`Basic`] refused a request, found in the 401 response's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BasicFailure {
    /// No `Authorization` header, or one with another scheme.
    MissingCredentials,
    /// A `Basic` header whose payload is not base64 of `user:password` in UTF-8, or several
    /// `Authorization` headers.
    MalformedCredentials,
    /// Well-formed credentials that match no configured pair.
    WrongCredentials,
}

const DEFAULT_REALM: &str = "osb";

impl Basic {
    /// Accepts `user` with `password`; the realm is `osb` until [`realm`](Self::realm) changes it.
    ///
    /// A user name that holds a `:` can never match, because the client's `user:password` is
    /// split at the first colon ([RFC 7617 §2]). Neither can an empty user name or password
    /// (logged as a warning): an unset secret in a deployment must not open the broker to
    /// anyone who sends `user:` with nothing after the colon.
    ///
    /// [RFC 7617 §2]: https://www.rfc-editor.org/rfc/rfc7617#section-2
    pub fn new(user: impl Into<String>, password: impl AsRef<str>) -> Self {
        Self {
            pairs: vec![Pair::new(user.into(), password.as_ref())],
            challenge: challenge(DEFAULT_REALM),
        }
    }

    /// Accepts one more user/password pair, for credential rotation.
    pub fn with_credentials(mut self, user: impl Into<String>, password: impl AsRef<str>) -> Self {
        self.pairs.push(Pair::new(user.into(), password.as_ref()));
        self
    }

    /// Sets the realm named in the `WWW-Authenticate` challenge. Quotes and backslashes are
    /// escaped, control characters dropped.
    ///
    /// Default: `osb`.
    pub fn realm(mut self, realm: impl AsRef<str>) -> Self {
        self.challenge = challenge(realm.as_ref());
        self
    }

    /// Checks an `Authorization` header value set (all values of the header, in order).
    fn check(&self, parts: &Parts) -> Result<(), Rejection> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(self.reject_missing());
        };
        let Some(payload) = basic_payload(value.as_bytes()) else {
            // Another scheme (Bearer, ...): not ours, so `Any` may try the next authenticator.
            return Err(self.reject_missing());
        };
        if values.next().is_some() {
            return Err(self.reject(
                BasicFailure::MalformedCredentials,
                "several Authorization headers",
            ));
        }
        let Some((user, password)) = decode(payload) else {
            return Err(self.reject(
                BasicFailure::MalformedCredentials,
                "malformed Basic credentials: expected base64 of user:password",
            ));
        };
        if self.matches(user.as_bytes(), password.as_bytes()) {
            Ok(())
        } else {
            Err(self.reject(BasicFailure::WrongCredentials, "invalid credentials"))
        }
    }

    /// Compares against every pair without an early exit; only digests are compared, so the
    /// lengths of the presented values do not matter either.
    fn matches(&self, user: &[u8], password: &[u8]) -> bool {
        let user = digest(user);
        let password = digest(password);
        let found = self.pairs.iter().fold(Choice::from(0), |found, pair| {
            let usable = Choice::from(u8::from(pair.usable));
            found | (pair.user_digest.ct_eq(&user) & pair.password_digest.ct_eq(&password) & usable)
        });
        found.into()
    }

    fn reject_missing(&self) -> Rejection {
        Rejection::missing_credentials("missing Basic credentials")
            .with_challenge(self.challenge.clone())
            .with_reason(BasicFailure::MissingCredentials)
    }

    fn reject(&self, failure: BasicFailure, description: &str) -> Rejection {
        Rejection::unauthorized(description)
            .with_challenge(self.challenge.clone())
            .with_reason(failure)
    }
}

impl Authenticate for Basic {
    fn authenticate<'a>(
        &'a self,
        parts: &'a mut Parts,
    ) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'a>> {
        let result = self.check(parts);
        Box::pin(std::future::ready(result))
    }
}

impl fmt::Debug for Basic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.pairs.iter().map(|pair| pair.user.as_str()).collect();
        f.debug_struct("Basic")
            .field("users", &users)
            .field("passwords", &"<redacted>")
            .field("challenge", &self.challenge)
            .finish()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The credentials after `Basic ` (scheme case-insensitive, RFC 9110 §11.1), or `None` for
/// another scheme.
fn basic_payload(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"basic";
    let scheme = value.get(..SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &value[SCHEME.len()..];
    match rest.first() {
        // `Basic` alone, or `Basic ` followed by the token; `Basicfoo` is another scheme.
        None => Some(rest),
        Some(b' ' | b'\t') => Some(rest.trim_ascii()),
        Some(_) => None,
    }
}

/// Decodes base64 `user:password`; `None` when it is not base64, not UTF-8 or has no colon.
fn decode(payload: &[u8]) -> Option<(String, String)> {
    let decoded = STANDARD.decode(payload).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// `Basic realm="…", charset="UTF-8"` with the realm as an RFC 9110 quoted-string.
fn challenge(realm: &str) -> HeaderValue {
    let mut value = String::with_capacity(realm.len() + 32);
    value.push_str("Basic realm=\"");
    for c in realm.chars().filter(|c| !c.is_control()) {
        if matches!(c, '"' | '\\') {
            value.push('\\');
        }
        value.push(c);
    }
    value.push_str("\", charset=\"UTF-8\"");
    // Control characters are gone, and a HeaderValue accepts every other byte of UTF-8 text.
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("Basic realm=\"osb\", charset=\"UTF-8\""))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use http::Request;

    fn parts_with(values: &[&[u8]]) -> Parts {
        let mut request = Request::new(());
        for value in values {
            request
                .headers_mut()
                .append(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        }
        request.into_parts().0
    }

    fn basic_header(user: &str, password: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))).into_bytes()
    }

    fn check(basic: &Basic, values: &[&[u8]]) -> Result<(), Rejection> {
        basic.check(&parts_with(values))
    }

    fn failure(rejection: Rejection) -> Option<BasicFailure> {
        rejection
            .into_response::<bytes::Bytes>()
            .extensions()
            .get::<BasicFailure>()
            .copied()
    }

    #[test]
    fn right_pair_is_accepted() {
        let basic = Basic::new("admin", "secret");
        assert!(check(&basic, &[&basic_header("admin", "secret")]).is_ok());
    }

    #[test]
    fn every_rotated_pair_is_accepted_and_mixed_pairs_are_not() {
        let basic = Basic::new("old", "one").with_credentials("new", "two");
        assert!(check(&basic, &[&basic_header("old", "one")]).is_ok());
        assert!(check(&basic, &[&basic_header("new", "two")]).is_ok());
        let mixed = check(&basic, &[&basic_header("old", "two")]).unwrap_err();
        assert_eq!(failure(mixed), Some(BasicFailure::WrongCredentials));
    }

    #[test]
    fn an_empty_password_or_user_name_admits_nobody() {
        let basic = Basic::new("broker", "").with_credentials("", "secret");
        for (user, password) in [("broker", ""), ("", "secret"), ("", "")] {
            let refused = check(&basic, &[&basic_header(user, password)]).unwrap_err();
            assert_eq!(failure(refused), Some(BasicFailure::WrongCredentials));
        }
        let rotated = basic.with_credentials("broker", "secret");
        assert!(check(&rotated, &[&basic_header("broker", "secret")]).is_ok());
    }

    #[test]
    fn wrong_password_and_wrong_user_are_rejected() {
        let basic = Basic::new("admin", "secret");
        for (user, password) in [
            ("admin", "Secret"),
            ("Admin", "secret"),
            ("admin", ""),
            ("", ""),
        ] {
            let rejection = check(&basic, &[&basic_header(user, password)]).unwrap_err();
            assert!(!rejection.is_missing_credentials());
            assert_eq!(failure(rejection), Some(BasicFailure::WrongCredentials));
        }
    }

    #[test]
    fn password_may_hold_colons() {
        let basic = Basic::new("admin", "a:b:c");
        assert!(check(&basic, &[&basic_header("admin", "a:b:c")]).is_ok());
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let basic = Basic::new("admin", "secret");
        let token = STANDARD.encode("admin:secret");
        for scheme in ["basic", "BASIC", "bAsIc"] {
            assert!(check(&basic, &[format!("{scheme} {token}").as_bytes()]).is_ok());
        }
        assert!(check(&basic, &[format!("Basic   {token}  ").as_bytes()]).is_ok());
    }

    #[test]
    fn missing_header_or_other_scheme_is_missing_credentials() {
        let basic = Basic::new("admin", "secret");
        for values in [
            &[][..],
            &[&b"Bearer abc.def"[..]],
            &[&b"Basicabc"[..]],
            &[&b"Digest x"[..]],
        ] {
            let rejection = check(&basic, values).unwrap_err();
            assert!(rejection.is_missing_credentials(), "{values:?}");
            assert_eq!(failure(rejection), Some(BasicFailure::MissingCredentials));
        }
    }

    #[test]
    fn malformed_credentials_are_401_not_missing() {
        let basic = Basic::new("admin", "secret");
        let no_colon = format!("Basic {}", STANDARD.encode("adminsecret"));
        let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', b'x']));
        let cases: [&[u8]; 5] = [
            b"Basic",
            b"Basic !!!not-base64!!!",
            no_colon.as_bytes(),
            not_utf8.as_bytes(),
            b"Basic \xff\xfe",
        ];
        for value in cases {
            let rejection = check(&basic, &[value]).unwrap_err();
            assert!(!rejection.is_missing_credentials(), "{value:?}");
            assert_eq!(rejection.status(), http::StatusCode::UNAUTHORIZED);
            assert_eq!(failure(rejection), Some(BasicFailure::MalformedCredentials));
        }
    }

    #[test]
    fn several_authorization_headers_are_malformed() {
        let basic = Basic::new("admin", "secret");
        let good = basic_header("admin", "secret");
        let rejection = check(&basic, &[&good, &good]).unwrap_err();
        assert_eq!(failure(rejection), Some(BasicFailure::MalformedCredentials));
    }

    #[test]
    fn challenge_names_the_realm_escaped() {
        let basic = Basic::new("a", "b").realm("my \"broker\"\n\\");
        let rejection = check(&basic, &[]).unwrap_err();
        assert_eq!(
            rejection.challenges(),
            [r#"Basic realm="my \"broker\"\\", charset="UTF-8""#]
        );
        let default = check(&Basic::new("a", "b"), &[]).unwrap_err();
        assert_eq!(
            default.challenges(),
            [r#"Basic realm="osb", charset="UTF-8""#]
        );
    }

    #[test]
    fn rejection_never_echoes_the_presented_credentials() {
        let basic = Basic::new("admin", "secret");
        let header = basic_header("admin", "hunter2");
        let response = check(&basic, &[&header])
            .unwrap_err()
            .into_response::<bytes::Bytes>();
        let body = String::from_utf8(response.body().to_vec()).unwrap();
        let token = STANDARD.encode("admin:hunter2");
        assert!(
            !body.contains("hunter2") && !body.contains(&token),
            "{body}"
        );
    }

    #[test]
    fn debug_redacts_passwords() {
        let basic = Basic::new("admin", "topsecret").with_credentials("next", "alsosecret");
        let debug = format!("{basic:?}");
        assert!(debug.contains("admin") && debug.contains("next"));
        assert!(
            !debug.contains("topsecret") && !debug.contains("alsosecret"),
            "{debug}"
        );
    }
}
