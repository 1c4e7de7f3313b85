//! The IBM Cloud side of a broker from a handful of settings, set up in one call.
//!
//! [`Settings`] says which IAM to trust, who may call the broker with an IAM bearer token, the
//! provider's API key, and (with the `dashboard` and `metering` features) the dashboard sign-in
//! and usage metering; every capability stays off until its settings are given. With the
//! `clap` feature, `Settings` is a [`clap::Args`] group whose flags read `BROKER_*`
//! environment variables, so a broker's own `clap` parser takes them with one
//! `#[command(flatten)]`.
//!
//! [`Settings::start`] checks them (a capability lacking a setting, a setting without its
//! capability, an empty setting or an unusable URL is refused by name), fetches IAM's signing
//! keys and keeps them fresh, and returns an [`IbmCloud`] holding the started pieces: the
//! broker's authenticator ("Basic or IAM bearer": IBM Cloud's resource controller authenticates
//! with Basic credentials or, recommended, an IAM token minted for the broker's CRN), the
//! dashboard guard, the API-key client and the usage reporter.
//!
//! # Example
//!
//! ```
//! use osb_iam::setup::Settings;
//! use osb_tower::auth::{Basic, RequireAuthLayer};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! // Nothing configured: Basic only, nothing fetched, nothing started.
//! let ibm = Settings::default().start().await?;
//! let auth = RequireAuthLayer::new(ibm.broker_auth(Basic::new("broker", "s3cret")));
//! # let _ = auth;
//! assert!(ibm.key_cache().is_none() && ibm.api_key_client().is_none());
//! ibm.shutdown().await;
//!
//! // Bearer tokens need the identities let in: said at start, not at the first request.
//! let mut settings = Settings::default();
//! settings.iam_jwks_url = Some("https://iam.cloud.ibm.com/identity/keys".into());
//! let err = settings.start().await.unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "BROKER_IAM_JWKS_URL (iam_jwks_url) needs BROKER_IAM_IDENTITIES (iam_identities)"
//! );
//! # Ok::<(), osb_iam::setup::Error>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod cloud;
mod error;
mod settings;

pub use cloud::IbmCloud;
#[cfg(feature = "metering")]
pub use error::MeteringError;
pub use error::{Error, Setting};
pub use settings::Settings;
