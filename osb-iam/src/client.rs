//! The process-wide default HTTP client for IAM calls.

use std::sync::OnceLock;
use std::time::Duration;

/// Connect timeout of the default client.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A shared `reqwest` client (rustls, no redirects: IAM's endpoints never redirect, and a
/// redirect could carry an API key elsewhere). Built once; clones share the connection pool.
pub(crate) fn shared() -> Result<reqwest::Client, reqwest::Error> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

/// Why [`read_limited`] returned no body.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The connection failed while the body was read.
    Network(reqwest::Error),
    /// The body is longer than the limit (by its `Content-Length`, or once read that far).
    TooLarge,
}

/// Reads `response`'s body, at most `limit` bytes: a server answering more gets
/// [`BodyError::TooLarge`] after at most `limit` bytes were buffered, never unbounded memory.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Network)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
