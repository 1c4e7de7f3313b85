//! The RSA backend chosen by the `aws-lc-rs` / `rust-crypto` cargo features.
//!
//! jsonwebtoken picks a process-wide provider from its own features and panics at run time when
//! both are on (as with `--all-features`). This crate names the provider explicitly instead, so
//! any feature combination works: `aws-lc-rs` wins when both are enabled.

use jsonwebtoken::crypto::CryptoProvider;

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!("osb-iam needs a crypto backend: enable the `aws-lc-rs` (default) or `rust-crypto` feature");

/// The name of the RSA backend this build verifies signatures with: `"aws-lc-rs"` or
/// `"rust-crypto"`.
#[cfg(feature = "aws-lc-rs")]
pub const BACKEND: &str = "aws-lc-rs";
/// The name of the RSA backend this build verifies signatures with: `"aws-lc-rs"` or
/// `"rust-crypto"`.
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
pub const BACKEND: &str = "rust-crypto";

#[cfg(feature = "aws-lc-rs")]
pub(crate) fn provider() -> &'static CryptoProvider {
    &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
pub(crate) fn provider() -> &'static CryptoProvider {
    &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
}
