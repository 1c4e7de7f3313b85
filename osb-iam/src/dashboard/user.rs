//! Who is looking at the dashboard: [`DashboardUser`].

/// The signed-in user, put into the request's extensions by the [`Guard`](super::Guard) before
/// the provider's handler runs.
///
/// # Example
///
/// ```
/// use osb_iam::DashboardUser;
///
/// async fn page(request: http::Request<()>) -> String {
///     match request.extensions().get::<DashboardUser>() {
///         Some(user) => format!("{} on {}", user.iam_id, user.instance_id),
///         // Unreachable behind the guard; a handler mounted without it sees no user.
///         None => String::from("not signed in"),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DashboardUser {
    /// The user's `iam_id`, e.g. `IBMid-50GNR717YE`.
    pub iam_id: String,
    /// `name` from the user's token, where present.
    pub name: Option<String>,
    /// `email` from the user's token, where present.
    pub email: Option<String>,
    /// `account.bss`: the account the user signed in with, where present.
    pub account_id: Option<String>,
    /// The instance this request is for (its CRN on IBM Cloud), as the
    /// [`ExtractInstance`](super::ExtractInstance) found it.
    pub instance_id: String,
}
