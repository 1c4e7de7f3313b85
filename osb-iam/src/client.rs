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
