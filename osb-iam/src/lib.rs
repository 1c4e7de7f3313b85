//! IBM Cloud IAM for OSB brokers: bearer-token verification as tower middleware, and the
//! API-key token client.
//!
#![doc = include_str!("../docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod apikey;
mod auth;
pub mod authz;
mod backend;
mod claims;
mod client;
#[cfg(feature = "dashboard")]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
pub mod dashboard;
mod environment;
pub mod keys;
#[cfg(feature = "metering")]
#[cfg_attr(docsrs, doc(cfg(feature = "metering")))]
pub mod metering;
mod policy;
mod rejection;
pub mod setup;
mod verifier;

pub use auth::{IamAuth, IamAuthLayer};
pub use backend::BACKEND;
pub use claims::IamClaims;
#[cfg(feature = "dashboard")]
pub use dashboard::{DashboardAuth, DashboardUser};
pub use environment::Environment;
pub use policy::{Policy, PolicyViolation};
pub use rejection::TokenRejection;
pub use verifier::{Verifier, VerifierBuilder};
