//! The RSA backend chosen by the `aws-lc-rs` / `rust-crypto` cargo features.
//!
//! jsonwebtoken picks a process-wide provider from its own features and panics at run time when
//! both are on (as with `--all-features`). This crate names the backend explicitly instead, so
//! any feature combination works: `aws-lc-rs` wins when both are enabled.
//!
//! With `aws-lc-rs` each key is parsed once, when the key set is loaded, into aws-lc-rs's
//! `ParsedPublicKey`: jsonwebtoken's verifier rebuilds the key from `n`/`e` on every call, which
//! measured +17 % over the RSA check itself (see the crate docs). With `rust-crypto` the
//! verification goes through jsonwebtoken's RustCrypto verifier; rebuilding the key there is
//! noise next to the ~200 µs RSA check.

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "osb-iam needs a crypto backend: enable the `aws-lc-rs` (default) or `rust-crypto` feature"
);

/// The name of the RSA backend this build verifies signatures with: `"aws-lc-rs"` or
/// `"rust-crypto"`.
#[cfg(feature = "aws-lc-rs")]
pub const BACKEND: &str = "aws-lc-rs";
/// The name of the RSA backend this build verifies signatures with: `"aws-lc-rs"` or
/// `"rust-crypto"`.
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
pub const BACKEND: &str = "rust-crypto";

/// An RSA public key prepared for RS256 (RSASSA-PKCS1-v1_5 with SHA-256) verification.
pub(crate) struct Rs256Key {
    #[cfg(feature = "aws-lc-rs")]
    key: aws_lc_rs::signature::ParsedPublicKey,
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    key: jsonwebtoken::DecodingKey,
}

impl Rs256Key {
    /// Prepares a key from big-endian `n` and `e`; `None` if the backend refuses it.
    #[cfg(feature = "aws-lc-rs")]
    pub(crate) fn new(n: &[u8], e: &[u8]) -> Option<Self> {
        use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
        let components = RsaPublicKeyComponents {
            n: strip_zeros(n),
            e: strip_zeros(e),
        };
        let key = components
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .ok()?;
        Some(Self { key })
    }

    /// Whether `signature` is a valid RS256 signature of `message`.
    #[cfg(feature = "aws-lc-rs")]
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }

    /// Prepares a key from big-endian `n` and `e`; `None` if the backend refuses it.
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    pub(crate) fn new(n: &[u8], e: &[u8]) -> Option<Self> {
        let key =
            jsonwebtoken::DecodingKey::from_rsa_raw_components(strip_zeros(n), strip_zeros(e));
        let factory = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory;
        factory(&jsonwebtoken::Algorithm::RS256, &key).ok()?;
        Some(Self { key })
    }

    /// Whether `signature` is a valid RS256 signature of `message`.
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        // jsonwebtoken's verifiers are not `Sync`, so one is made per call, as
        // `jsonwebtoken::decode` does.
        let factory = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory;
        match factory(&jsonwebtoken::Algorithm::RS256, &self.key) {
            Ok(verifier) => verifier.verify(message, &signature.to_vec()).is_ok(),
            Err(_) => false,
        }
    }
}

/// JWK integers carry no leading zero bytes (RFC 7518 §6.3.1); tolerate them anyway.
fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(bytes.len());
    &bytes[first..]
}
