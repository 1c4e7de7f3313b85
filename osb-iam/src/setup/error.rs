//! Why the IBM Cloud side could not be set up.

use std::fmt;

/// One of the [`Settings`](super::Settings), named in errors by its environment variable and
/// its field: `BROKER_IAM_JWKS_URL (iam_jwks_url)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    env_var: &'static str,
    field: &'static str,
}

macro_rules! settings {
    ($($(#[$cfg:meta])* $name:ident = $env:literal, $field:literal;)*) => {
        impl Setting {
            $(
                #[doc = concat!("`", $env, "` (`", $field, "`).")]
                $(#[$cfg])*
                pub const $name: Self = Self { env_var: $env, field: $field };
            )*
        }
    };
}

settings! {
    IAM_URL = "BROKER_IAM_URL", "iam_url";
    IAM_JWKS_URL = "BROKER_IAM_JWKS_URL", "iam_jwks_url";
    IAM_ISSUER = "BROKER_IAM_ISSUER", "iam_issuer";
    IAM_IDENTITIES = "BROKER_IAM_IDENTITIES", "iam_identities";
    IAM_API_KEY = "BROKER_IAM_API_KEY", "iam_api_key";
    #[cfg(feature = "dashboard")]
    DASHBOARD_CLIENT_ID = "BROKER_DASHBOARD_CLIENT_ID", "dashboard_client_id";
    #[cfg(feature = "dashboard")]
    DASHBOARD_CLIENT_SECRET = "BROKER_DASHBOARD_CLIENT_SECRET", "dashboard_client_secret";
    #[cfg(feature = "dashboard")]
    DASHBOARD_REDIRECT_URL = "BROKER_DASHBOARD_REDIRECT_URL", "dashboard_redirect_url";
    #[cfg(feature = "dashboard")]
    DASHBOARD_SESSION_KEY = "BROKER_DASHBOARD_SESSION_KEY", "dashboard_session_key";
    #[cfg(feature = "dashboard")]
    SERVICE_NAME = "BROKER_SERVICE_NAME", "service_name";
    #[cfg(feature = "metering")]
    METERING_URL = "BROKER_METERING_URL", "metering_url";
}

impl Setting {
    /// Its environment variable, e.g. `BROKER_IAM_JWKS_URL`.
    pub fn env_var(self) -> &'static str {
        self.env_var
    }

    /// Its field of [`Settings`](super::Settings), e.g. `iam_jwks_url` (its flag is
    /// `--iam-jwks-url`).
    pub fn field(self) -> &'static str {
        self.field
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.env_var, self.field)
    }
}

/// Why the IBM Cloud side could not be set up ([`Settings::start`](super::Settings::start),
/// [`IbmCloud::start_metering`](super::IbmCloud::start_metering)). Every setting is named as
/// [`Setting`] does; no value is ever part of a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is given but empty (an empty environment variable is no value).
    #[error("{setting} is empty")]
    Empty {
        /// The setting.
        setting: Setting,
    },
    /// A capability was switched on without a setting it needs.
    #[error("{capability} needs {missing}")]
    Missing {
        /// The setting that switched the capability on.
        capability: Setting,
        /// The setting it needs.
        missing: Setting,
    },
    /// A setting was given whose capability is off, so it would be ignored.
    #[error("{setting} has no effect without {switch}")]
    Unused {
        /// The setting given.
        setting: Setting,
        /// The setting that switches its capability on.
        switch: Setting,
    },
    /// A setting's value is unusable.
    #[error("{setting} is unusable: {reason}")]
    Invalid {
        /// The setting.
        setting: Setting,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key, token, discovery or authorization URL derived from the settings is unusable
    /// (not expected once the settings' own URLs passed their checks).
    #[error("an IAM URL derived from the settings is unusable")]
    DerivedUrl(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The dashboard sign-in's settings are unusable (e.g. the redirect URL).
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    #[error("the dashboard sign-in's settings are unusable")]
    Dashboard(#[from] crate::dashboard::ConfigError),
    /// Usage metering could not start.
    #[cfg(feature = "metering")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
    #[error("usage metering could not start")]
    Metering(#[from] MeteringError),
}

/// Why [`IbmCloud::start_metering`](super::IbmCloud::start_metering) could not start.
#[cfg(feature = "metering")]
#[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeteringError {
    /// The reporter's configuration is unusable (e.g. no metered plan named).
    #[error(transparent)]
    Reporter(#[from] crate::metering::ReporterConfigError),
    /// The metering client could not be built.
    #[error(transparent)]
    Url(#[from] crate::metering::InvalidBaseUrl),
    /// A reporter was already started; a second one would double the work.
    #[error("the usage reporter is already running")]
    AlreadyStarted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_named_by_its_variable_and_its_field() {
        assert_eq!(
            Setting::IAM_JWKS_URL.to_string(),
            "BROKER_IAM_JWKS_URL (iam_jwks_url)"
        );
        assert_eq!(Setting::IAM_IDENTITIES.field(), "iam_identities");
        let err = Error::Missing {
            capability: Setting::IAM_JWKS_URL,
            missing: Setting::IAM_IDENTITIES,
        };
        assert_eq!(
            err.to_string(),
            "BROKER_IAM_JWKS_URL (iam_jwks_url) needs BROKER_IAM_IDENTITIES (iam_identities)"
        );
    }
}
