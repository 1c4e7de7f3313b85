//! Operation tokens: the opaque `operation` a broker returns with a `202 Accepted`.

use std::fmt;

use serde::Deserialize;

/// The longest token the spec allows (spec.md "Provisioning" → Response: at most 10,000 characters).
pub const MAX_OPERATION_LEN: usize = 10_000;

/// An operation token, echoed by the platform as `?operation=` on `last_operation`.
///
/// Never empty and at most 10,000 characters, so every value is a valid spec answer.
///
/// # Example
///
/// ```
/// use osb_core::OperationToken;
///
/// let op = OperationToken::new("provision-1")?;
/// assert_eq!(op.as_str(), "provision-1");
/// assert!(OperationToken::new("").is_err());
/// # Ok::<(), osb_core::operation::InvalidOperationToken>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct OperationToken(String);

/// The error returned for an empty or over-long operation token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation token must be 1 to 10000 characters, got {len}")]
pub struct InvalidOperationToken {
    len: usize,
}

impl OperationToken {
    /// Wraps a token.
    ///
    /// # Errors
    ///
    /// [`InvalidOperationToken`] when `token` is empty or longer than 10,000 characters.
    pub fn new(token: impl Into<String>) -> Result<Self, InvalidOperationToken> {
        let token = token.into();
        let len = token.chars().count();
        if len == 0 || len > MAX_OPERATION_LEN {
            return Err(InvalidOperationToken { len });
        }
        Ok(Self(token))
    }

    /// A fresh random token (a v4 UUID).
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The token as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OperationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for OperationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OperationToken {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        OperationToken::new(s).map_err(serde::de::Error::custom)
    }
}
