//! The browser's two cookies, both sealed with the [`SessionKey`]: the session (who signed in,
//! for which instances, until when) and the short-lived sign-in state (the `state` nonce bound
//! to the browser, and where to go back to).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cookie::{Cookie, CookieJar, SameSite};
use http::{HeaderMap, HeaderValue, header};
use serde::{Deserialize, Serialize};

/// Longest kept `name` / `email`, so a session always fits in one cookie.
const MAX_TEXT: usize = 256;
/// Longest `Set-Cookie` line written: browsers keep cookies up to 4096 bytes.
const MAX_SET_COOKIE: usize = 4000;

/// The secret that seals the dashboard's cookies.
///
/// Cookies are sealed with AES-256-GCM (the `cookie` crate's private jar): authenticated
/// encryption, so the browser can neither read a cookie nor change a single byte of it without
/// the cookie being refused, and the cookie's name is bound in as associated data so one cookie
/// cannot be replayed as another. `Debug` never shows the key.
///
/// Every replica serving the same dashboard needs the same key; changing it signs everyone out.
///
/// # Example
///
/// ```
/// use osb_iam::dashboard::SessionKey;
///
/// // From your secret store: at least 32 random bytes (64 are used as they are; 32 to 63 are
/// // expanded with HKDF-SHA256).
/// let key = SessionKey::from_bytes(&[7u8; 64])?;
/// assert_eq!(format!("{key:?}"), "SessionKey(<redacted>)");
/// assert!(SessionKey::from_bytes(b"too short").is_err());
/// # Ok::<(), osb_iam::dashboard::ShortKey>(())
/// ```
#[derive(Clone)]
pub struct SessionKey(cookie::Key);

/// A [`SessionKey`] needs at least 32 bytes.
#[derive(Debug, thiserror::Error)]
#[error("a session key needs at least 32 bytes, got {len}")]
pub struct ShortKey {
    len: usize,
}

/// Why [`SessionKey::from_base64`] refused a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidSessionKey {
    /// The text is not base64.
    #[error("a session key must be base64")]
    NotBase64,
    /// Too few bytes.
    #[error(transparent)]
    Short(#[from] ShortKey),
}

impl SessionKey {
    /// A key from secret bytes: 64 or more are used as they are (the first 64), 32 to 63 are
    /// expanded with HKDF-SHA256.
    ///
    /// # Errors
    ///
    /// [`ShortKey`] with fewer than 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ShortKey> {
        match bytes.len() {
            len if len >= 64 => cookie::Key::try_from(bytes)
                .map(Self)
                .map_err(|_| ShortKey { len }),
            len if len >= 32 => Ok(Self(cookie::Key::derive_from(bytes))),
            len => Err(ShortKey { len }),
        }
    }

    /// A key from the base64 (standard or URL-safe alphabet, padded or not, whitespace and line
    /// breaks ignored) of secret bytes, as kept in an environment variable or a secret store;
    /// see [`from_bytes`](Self::from_bytes).
    ///
    /// # Errors
    ///
    /// [`InvalidSessionKey`] when the text is not base64 or decodes to fewer than 32 bytes.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::dashboard::SessionKey;
    ///
    /// // `openssl rand -base64 48`
    /// let key = SessionKey::from_base64("q0tgpvH1uMuJy2C5Yb0Nqf0a+FqC7yv8hJt0Q7b1o6h3mLe2vxj0tUaiTjz3ZbCl")?;
    /// assert!(SessionKey::from_base64("dG9vIHNob3J0").is_err()); // "too short"
    /// assert!(SessionKey::from_base64("not base64!").is_err());
    /// // As `openssl rand -base64 64` prints it: over two lines.
    /// let wrapped = "q0tgpvH1uMuJy2C5Yb0Nqf0a+FqC7yv8hJt0Q7b1o6h3mLe2vxj0tUaiTjz3ZbCl\nq0tgpvH1uMuJy2C5Yb0Nqf0a+A==\n";
    /// assert!(SessionKey::from_base64(wrapped).is_ok());
    /// # let _ = key;
    /// # Ok::<(), osb_iam::dashboard::InvalidSessionKey>(())
    /// ```
    pub fn from_base64(text: &str) -> Result<Self, InvalidSessionKey> {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        let text: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let text = text.trim_end_matches('=');
        let bytes = STANDARD_NO_PAD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| InvalidSessionKey::NotBase64)?;
        Ok(Self::from_bytes(&bytes)?)
    }

    /// A fresh random key (from the operating system); `None` if no randomness is available.
    ///
    /// Sessions sealed with it die with the process and are not understood by other replicas.
    pub fn generate() -> Option<Self> {
        cookie::Key::try_generate().map(Self)
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// How the cookies are written: name, path, `Secure`.
#[derive(Debug, Clone)]
pub(super) struct CookieSettings {
    pub(super) key: SessionKey,
    pub(super) name: String,
    pub(super) path: String,
    pub(super) callback_path: String,
    pub(super) secure: bool,
}

/// The signed-in browser: one IAM identity and the instances IAM let it view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Session {
    #[serde(rename = "v")]
    pub(super) version: u8,
    #[serde(rename = "u")]
    pub(super) iam_id: String,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<String>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub(super) account_id: Option<String>,
    /// Expiry, seconds since the Unix epoch; checked on every request (the cookie's `Max-Age`
    /// is only advice to the browser).
    #[serde(rename = "x")]
    pub(super) expires: u64,
    /// Instances IAM let this identity view, most recent first.
    #[serde(rename = "i", default)]
    pub(super) instances: Vec<String>,
}

impl Session {
    pub(super) const VERSION: u8 = 1;

    pub(super) fn new(
        iam_id: String,
        name: Option<String>,
        email: Option<String>,
        account_id: Option<String>,
        expires: u64,
    ) -> Self {
        Self {
            version: Self::VERSION,
            iam_id,
            name: name.map(truncate),
            email: email.map(truncate),
            account_id: account_id.map(truncate),
            expires,
            instances: Vec::new(),
        }
    }

    /// Records `instance` as viewable, keeping at most `max` instances (the oldest go).
    pub(super) fn admit(&mut self, instance: &str, max: usize) {
        self.instances.retain(|known| known != instance);
        self.instances.insert(0, instance.to_owned());
        self.instances.truncate(max.max(1));
    }

    pub(super) fn allows(&self, instance: &str) -> bool {
        self.instances.iter().any(|known| known == instance)
    }
}

/// The sign-in under way: the `state` nonce, the page to return to, and the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SignInState {
    #[serde(rename = "s")]
    pub(super) nonce: String,
    #[serde(rename = "r")]
    pub(super) return_to: String,
    #[serde(rename = "i")]
    pub(super) instance: String,
    #[serde(rename = "x")]
    pub(super) expires: u64,
}

impl CookieSettings {
    /// The name of the state cookie of the sign-in whose `state` is `nonce`: one cookie per
    /// sign-in, so two tabs signing in at once do not overwrite each other's state.
    pub(super) fn state_name(&self, nonce: &str) -> String {
        let tag: String = nonce.chars().take(STATE_TAG_LEN).collect();
        format!("{}_state_{tag}", self.name)
    }

    /// The session in the request's cookies, if one opens with the key and has not expired.
    pub(super) fn session(&self, headers: &HeaderMap, now: u64) -> Option<Session> {
        let value = self.open(headers, &self.name)?;
        let session: Session = serde_json::from_str(&value).ok()?;
        (session.version == Session::VERSION && now < session.expires).then_some(session)
    }

    /// The sign-in state cookie for `nonce`, if present and it opens with the key.
    pub(super) fn state(&self, headers: &HeaderMap, nonce: &str) -> Option<SignInState> {
        let value = self.open(headers, &self.state_name(nonce))?;
        serde_json::from_str(&value).ok()
    }

    /// `Set-Cookie` for `session`, living `lifetime`. Forgets the oldest instances until the
    /// cookie fits the 4 KiB browsers keep.
    pub(super) fn set_session(
        &self,
        session: &mut Session,
        lifetime: Duration,
    ) -> Option<HeaderValue> {
        loop {
            let value = serde_json::to_string(session).ok()?;
            let header = self.seal(&self.name, value, &self.path, lifetime)?;
            if header.len() <= MAX_SET_COOKIE || session.instances.len() <= 1 {
                return Some(header);
            }
            session.instances.pop();
        }
    }

    /// `Set-Cookie` for `state`, living `lifetime`, sent back only to the callback.
    pub(super) fn set_state(&self, state: &SignInState, lifetime: Duration) -> Option<HeaderValue> {
        let value = serde_json::to_string(state).ok()?;
        self.seal(
            &self.state_name(&state.nonce),
            value,
            &self.callback_path,
            lifetime,
        )
    }

    /// `Set-Cookie` that deletes the state cookie for `nonce`.
    pub(super) fn clear_state(&self, nonce: &str) -> Option<HeaderValue> {
        let cookie = self
            .attributes(
                Cookie::build((self.state_name(nonce), "")),
                &self.callback_path,
            )
            .max_age(cookie::time::Duration::ZERO)
            .build();
        HeaderValue::try_from(cookie.to_string()).ok()
    }

    fn attributes<'c>(
        &self,
        cookie: cookie::CookieBuilder<'c>,
        path: &str,
    ) -> cookie::CookieBuilder<'c> {
        cookie
            .path(path.to_owned())
            .http_only(true)
            .secure(self.secure)
            // Lax: the cookie must come along on the top-level navigations from IBM Cloud's
            // console and back from IAM, and on nothing cross-site else.
            .same_site(SameSite::Lax)
    }

    fn seal(
        &self,
        name: &str,
        value: String,
        path: &str,
        lifetime: Duration,
    ) -> Option<HeaderValue> {
        let max_age = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        let cookie = self
            .attributes(Cookie::build((name.to_owned(), value)), path)
            .max_age(cookie::time::Duration::seconds(max_age))
            .build();
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key.0).add(cookie);
        let sealed = jar.get(name)?;
        let mut header = HeaderValue::try_from(sealed.to_string()).ok()?;
        header.set_sensitive(true);
        Some(header)
    }

    fn open(&self, headers: &HeaderMap, name: &str) -> Option<String> {
        let jar = CookieJar::new();
        let private = jar.private(&self.key.0);
        // A browser may send the same name twice (different paths): any copy that opens wins.
        request_cookies(headers)
            .filter(|cookie| cookie.name() == name)
            .find_map(|cookie| private.decrypt(cookie))
            .map(|cookie| cookie.value().to_owned())
    }
}

/// How many characters of the nonce name its state cookie.
pub(super) const STATE_TAG_LEN: usize = 16;

fn request_cookies(headers: &HeaderMap) -> impl Iterator<Item = Cookie<'static>> + '_ {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| Cookie::split_parse(value.to_owned()))
        .filter_map(Result::ok)
        .map(Cookie::into_owned)
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Seconds since the Unix epoch.
pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CookieSettings {
        CookieSettings {
            key: SessionKey::from_bytes(&[1; 64]).unwrap_or_else(|error| panic!("{error}")),
            name: "osb_dashboard".to_owned(),
            path: "/".to_owned(),
            callback_path: "/auth/callback".to_owned(),
            secure: true,
        }
    }

    fn request_with(set_cookie: &HeaderValue) -> HeaderMap {
        // What a browser sends back: `name=value` of the Set-Cookie line.
        let pair = set_cookie
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::try_from(pair).unwrap_or(HeaderValue::from_static("")),
        );
        headers
    }

    fn session(expires: u64) -> Session {
        let mut session = Session::new(
            "IBMid-1".into(),
            Some("Ann".into()),
            None,
            Some("acct".into()),
            expires,
        );
        session.admit("crn:a", 8);
        session
    }

    #[test]
    fn a_sealed_session_opens_with_the_same_key_and_hides_its_content() {
        let settings = settings();
        let set = settings.set_session(&mut session(2_000), Duration::from_secs(3600));
        let set = set.unwrap_or_else(|| panic!("sealed"));
        let text = set.to_str().unwrap_or_default();
        assert!(
            !text.contains("IBMid-1"),
            "the identity must not be readable: {text}"
        );
        for attribute in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(text.contains(attribute), "{attribute} missing in {text}");
        }
        assert_eq!(
            settings.session(&request_with(&set), 1_000),
            Some(session(2_000))
        );
    }

    #[test]
    fn an_expired_session_does_not_open() {
        let settings = settings();
        let set = settings.set_session(&mut session(2_000), Duration::from_secs(3600));
        let set = set.unwrap_or_else(|| panic!("sealed"));
        assert_eq!(settings.session(&request_with(&set), 2_000), None);
    }

    #[test]
    fn another_key_cannot_open_a_session() {
        let settings = settings();
        let set = settings.set_session(&mut session(2_000), Duration::from_secs(3600));
        let set = set.unwrap_or_else(|| panic!("sealed"));
        let other = CookieSettings {
            key: SessionKey::from_bytes(&[2; 32]).unwrap_or_else(|error| panic!("{error}")),
            ..settings
        };
        assert_eq!(other.session(&request_with(&set), 1_000), None);
    }

    #[test]
    fn a_state_cookie_cannot_be_replayed_as_a_session() {
        let settings = settings();
        let state = SignInState {
            nonce: "abcdefghijklmnopqrstuvwxyz".into(),
            return_to: "/".into(),
            instance: "crn:a".into(),
            expires: 2_000,
        };
        let set = settings.set_state(&state, Duration::from_secs(600));
        let set = set.unwrap_or_else(|| panic!("sealed"));
        let value = set
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default();
        let value = value
            .split_once('=')
            .map(|(_, value)| value)
            .unwrap_or_default();
        let mut headers = HeaderMap::new();
        let forged = format!("osb_dashboard={value}");
        headers.insert(
            header::COOKIE,
            HeaderValue::try_from(forged).unwrap_or(HeaderValue::from_static("")),
        );
        assert_eq!(settings.session(&headers, 1_000), None);
        assert_eq!(
            settings.state(&request_with(&set), &state.nonce),
            Some(state)
        );
    }

    #[test]
    fn a_session_cookie_too_large_for_browsers_forgets_its_oldest_instances() {
        let settings = settings();
        let mut session = session(2_000);
        for i in 0..8 {
            session.admit(&format!("instance-{i}-{}", "x".repeat(600)), 8);
        }
        let set = settings.set_session(&mut session, Duration::from_secs(3600));
        let set = set.unwrap_or_else(|| panic!("sealed"));
        assert!(set.len() <= MAX_SET_COOKIE, "{}", set.len());
        assert!(session.instances.len() < 8);
        assert!(
            session.instances[0].starts_with("instance-7-"),
            "the newest is kept"
        );
        assert_eq!(settings.session(&request_with(&set), 1_000), Some(session));
    }

    #[test]
    fn a_session_keeps_a_bounded_most_recent_first_list_of_instances() {
        let mut session = session(2_000);
        for crn in ["crn:b", "crn:c", "crn:a"] {
            session.admit(crn, 2);
        }
        assert_eq!(session.instances, ["crn:a", "crn:c"]);
    }

    #[test]
    fn key_material_shorter_than_32_bytes_is_refused() {
        assert!(SessionKey::from_bytes(&[0; 31]).is_err());
        assert!(SessionKey::from_bytes(&[0; 32]).is_ok());
        assert!(SessionKey::from_bytes(&[0; 100]).is_ok());
    }
}
