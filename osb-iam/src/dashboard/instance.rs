//! Which service instance a dashboard request is for.

use http::Uri;
use percent_encoding::percent_decode_str;

/// What stays unencoded in a path segment: RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest instance id accepted (IBM CRNs are well under 300 bytes).
pub(super) const MAX_INSTANCE_ID: usize = 1024;

/// Finds the service instance a dashboard request is about (its CRN on IBM Cloud), or `None`
/// when the request is for no instance (answered 404; so is an id longer than 1 KiB).
///
/// Implemented for closures `Fn(&Uri) -> Option<String>`; the default is
/// [`DashboardPath`]`::ibm()`.
///
/// # Example
///
/// ```
/// use osb_iam::dashboard::ExtractInstance;
///
/// // Instances named by a query parameter instead of the path.
/// let by_query = |uri: &http::Uri| -> Option<String> {
///     uri.query()?.strip_prefix("instance=").map(str::to_owned)
/// };
/// let uri: http::Uri = "/ui?instance=abc".parse()?;
/// assert_eq!(by_query.extract_instance(&uri).as_deref(), Some("abc"));
/// # Ok::<(), http::uri::InvalidUri>(())
/// ```
pub trait ExtractInstance: Send + Sync + 'static {
    /// The instance id of a request to `uri`.
    fn extract_instance(&self, uri: &Uri) -> Option<String>;
}

impl<F> ExtractInstance for F
where
    F: Fn(&Uri) -> Option<String> + Send + Sync + 'static,
{
    fn extract_instance(&self, uri: &Uri) -> Option<String> {
        self(uri)
    }
}

/// The instance id as the URL-encoded path segment after a prefix: IBM Cloud opens
/// `dashboard_url`s of the form `…/dashboard/<URL-encoded instance CRN>` (osb-core rules.md §17.1).
///
/// The segment is percent-decoded; an empty, non-UTF-8, overlong or control-character-holding
/// one is no instance. The prefix is matched against the path as the guard sees it: behind a
/// router that strips a mount prefix (axum's `nest`), give the stripped form.
///
/// # Example
///
/// ```
/// use osb_iam::dashboard::{DashboardPath, ExtractInstance};
///
/// let ibm = DashboardPath::ibm();
/// let uri: http::Uri = "/dashboard/crn%3Av1%3Abluemix%3Apublic%3Asvc%3Aus-south%3Aa%2F0123%3A42%3A%3A/settings".parse()?;
/// assert_eq!(
///     ibm.extract_instance(&uri).as_deref(),
///     Some("crn:v1:bluemix:public:svc:us-south:a/0123:42::")
/// );
/// assert_eq!(ibm.extract_instance(&"/elsewhere".parse()?), None);
/// # Ok::<(), http::uri::InvalidUri>(())
/// ```
#[derive(Debug, Clone)]
pub struct DashboardPath {
    prefix: String,
}

impl DashboardPath {
    /// IBM Cloud's shape: `/dashboard/<URL-encoded instance CRN>`.
    pub fn ibm() -> Self {
        Self::prefix("/dashboard/")
    }

    /// The segment after `prefix` (which should end with `/`), e.g. `/ui/instances/`.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The dashboard URL of `instance_id` under `origin` (`https://host`):
    /// the prefix and the URL-encoded id, the broker's `dashboard_url` this guard understands.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_iam::dashboard::{DashboardPath, ExtractInstance};
    ///
    /// let crn = "crn:v1:bluemix:public:svc:us-south:a/0123:42::";
    /// let url = DashboardPath::ibm().url("https://db.example.com", crn);
    /// assert_eq!(url, "https://db.example.com/dashboard/crn%3Av1%3Abluemix%3Apublic%3Asvc%3Aus-south%3Aa%2F0123%3A42%3A%3A");
    /// let path: http::Uri = url.trim_start_matches("https://db.example.com").parse()?;
    /// assert_eq!(DashboardPath::ibm().extract_instance(&path).as_deref(), Some(crn));
    /// # Ok::<(), http::uri::InvalidUri>(())
    /// ```
    #[must_use]
    pub fn url(&self, origin: &str, instance_id: &str) -> String {
        let id = percent_encoding::utf8_percent_encode(instance_id, SEGMENT);
        format!("{}{}{id}", origin.trim_end_matches('/'), self.prefix)
    }
}

impl ExtractInstance for DashboardPath {
    fn extract_instance(&self, uri: &Uri) -> Option<String> {
        let rest = uri.path().strip_prefix(self.prefix.as_str())?;
        let segment = rest.split('/').next()?;
        let decoded = percent_decode_str(segment).decode_utf8().ok()?;
        let usable = !decoded.is_empty()
            && decoded.len() <= MAX_INSTANCE_ID
            && !decoded.chars().any(char::is_control);
        usable.then(|| decoded.into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(path: &str) -> Option<String> {
        DashboardPath::ibm().extract_instance(&path.parse::<Uri>().ok()?)
    }

    #[test]
    fn the_segment_after_the_prefix_is_decoded() {
        assert_eq!(
            extract("/dashboard/crn%3Av1%3Ax").as_deref(),
            Some("crn:v1:x")
        );
        assert_eq!(extract("/dashboard/plain?tab=1").as_deref(), Some("plain"));
    }

    #[test]
    fn empty_control_or_non_utf8_segments_are_no_instance() {
        assert_eq!(extract("/dashboard/"), None);
        assert_eq!(extract("/dashboard//x"), None);
        assert_eq!(extract("/dashboard/a%0Ab"), None);
        assert_eq!(extract("/dashboard/%FF"), None);
        assert_eq!(extract("/other/crn"), None);
    }
}
