//! The checks [`Settings::start`] makes before touching the network.

use super::{Error, Setting, Settings};
use crate::environment::is_https_or_loopback_http;

/// `Ok` for an `https` URL without credentials in it, or plain `http` on a loopback host.
fn check_url(setting: Setting, url: &str) -> Result<(), Error> {
    let invalid = |reason| Error::Invalid { setting, reason };
    let parsed = reqwest::Url::parse(url).map_err(|_| invalid("not an absolute URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // They would be printed and logged with the URL.
        return Err(invalid("credentials do not belong in the URL"));
    }
    if is_https_or_loopback_http(url) {
        Ok(())
    } else {
        Err(invalid(
            "it must be https (plain http only on a loopback host)",
        ))
    }
}

/// What [`Settings::dashboard_required`] found.
#[cfg(feature = "dashboard")]
pub(super) struct DashboardRequired<'a> {
    pub(super) client_id: &'a str,
    pub(super) client_secret: &'a str,
    pub(super) redirect_url: &'a str,
    pub(super) service_name: &'a str,
}

impl Settings {
    /// Every check of the settings that needs no network.
    pub(super) fn check(&self) -> Result<(), Error> {
        self.check_text()?;
        let missing = |capability, missing| Error::Missing {
            capability,
            missing,
        };
        let unused = |setting, switch| Error::Unused { setting, switch };
        check_url(Setting::IAM_URL, &self.iam_url)?;
        if let Some(url) = &self.iam_jwks_url {
            check_url(Setting::IAM_JWKS_URL, url)?;
        }
        if let Some(issuer) = &self.iam_issuer {
            check_url(Setting::IAM_ISSUER, issuer)?;
        }
        match (self.bearer_enabled(), self.iam_identities.is_empty()) {
            (true, true) => return Err(missing(Setting::IAM_JWKS_URL, Setting::IAM_IDENTITIES)),
            (false, false) => return Err(unused(Setting::IAM_IDENTITIES, Setting::IAM_JWKS_URL)),
            _ => {}
        }
        if self
            .iam_identities
            .iter()
            .any(|id| id.trim().starts_with("crn:"))
        {
            return Err(Error::Invalid {
                setting: Setting::IAM_IDENTITIES,
                reason: "the iam_id of a CRN is `crn-<CRN>`, with `crn-` before the CRN",
            });
        }
        #[cfg(feature = "dashboard")]
        self.check_dashboard()?;
        #[cfg(feature = "metering")]
        if let Some(url) = &self.metering_url {
            check_url(Setting::METERING_URL, url)?;
            if self.iam_api_key.is_none() {
                return Err(missing(Setting::METERING_URL, Setting::IAM_API_KEY));
            }
        }
        Ok(())
    }

    /// The dashboard's settings: all there when it is on, none when it is off.
    #[cfg(feature = "dashboard")]
    fn check_dashboard(&self) -> Result<(), Error> {
        let switch = Setting::DASHBOARD_CLIENT_ID;
        if self.dashboard_enabled() {
            self.dashboard_required()?;
            if self.iam_api_key.is_none() {
                return Err(Error::Missing {
                    capability: switch,
                    missing: Setting::IAM_API_KEY,
                });
            }
        } else {
            let given = [
                (
                    Setting::DASHBOARD_CLIENT_SECRET,
                    self.dashboard_client_secret.is_some(),
                ),
                (
                    Setting::DASHBOARD_REDIRECT_URL,
                    self.dashboard_redirect_url.is_some(),
                ),
                (Setting::SERVICE_NAME, self.service_name.is_some()),
                (
                    Setting::DASHBOARD_SESSION_KEY,
                    self.dashboard_session_key.is_some(),
                ),
            ];
            if let Some((setting, _)) = given.into_iter().find(|(_, given)| *given) {
                return Err(Error::Unused { setting, switch });
            }
        }
        match &self.dashboard_redirect_url {
            Some(url) => check_url(Setting::DASHBOARD_REDIRECT_URL, url),
            None => Ok(()),
        }
    }

    /// The settings the dashboard sign-in cannot do without: client id, client secret,
    /// redirect URL and service name, or the first one missing.
    #[cfg(feature = "dashboard")]
    pub(super) fn dashboard_required(&self) -> Result<DashboardRequired<'_>, Error> {
        fn need(value: &Option<String>, missing: Setting) -> Result<&str, Error> {
            let capability = Setting::DASHBOARD_CLIENT_ID;
            value.as_deref().ok_or(Error::Missing {
                capability,
                missing,
            })
        }
        Ok(DashboardRequired {
            client_id: need(&self.dashboard_client_id, Setting::DASHBOARD_CLIENT_ID)?,
            client_secret: need(
                &self.dashboard_client_secret,
                Setting::DASHBOARD_CLIENT_SECRET,
            )?,
            redirect_url: need(
                &self.dashboard_redirect_url,
                Setting::DASHBOARD_REDIRECT_URL,
            )?,
            service_name: need(&self.service_name, Setting::SERVICE_NAME)?,
        })
    }

    /// Refuses a given but empty setting (never a usable value, and a likely slip: `BROKER_X=`
    /// in a deployment file) and one with surrounding whitespace (an issuer that would never
    /// match a token's).
    fn check_text(&self) -> Result<(), Error> {
        let mut given: Vec<(Setting, &str)> = vec![(Setting::IAM_URL, &self.iam_url)];
        let optional = [
            (Setting::IAM_JWKS_URL, &self.iam_jwks_url),
            (Setting::IAM_ISSUER, &self.iam_issuer),
            #[cfg(feature = "dashboard")]
            (Setting::DASHBOARD_CLIENT_ID, &self.dashboard_client_id),
            #[cfg(feature = "dashboard")]
            (
                Setting::DASHBOARD_CLIENT_SECRET,
                &self.dashboard_client_secret,
            ),
            #[cfg(feature = "dashboard")]
            (
                Setting::DASHBOARD_REDIRECT_URL,
                &self.dashboard_redirect_url,
            ),
            #[cfg(feature = "dashboard")]
            (Setting::SERVICE_NAME, &self.service_name),
            #[cfg(feature = "metering")]
            (Setting::METERING_URL, &self.metering_url),
        ];
        given.extend(
            optional
                .iter()
                .filter_map(|(name, value)| Some((*name, value.as_deref()?))),
        );
        // Identities are trimmed instead: `crn-a, crn-b` is how people write lists.
        if self.iam_identities.iter().any(|id| id.trim().is_empty()) {
            return Err(Error::Empty {
                setting: Setting::IAM_IDENTITIES,
            });
        }
        for (setting, value) in given {
            if value.trim().is_empty() {
                return Err(Error::Empty { setting });
            }
            if value.trim() != value {
                let reason = "it has whitespace around it";
                return Err(Error::Invalid { setting, reason });
            }
        }
        Ok(())
    }
}
