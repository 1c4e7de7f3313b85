//! The route table and the order of checks: the one place both are written down.
//!
//! # Routes
//!
//! | Method | Path | [`Endpoint`] | Since |
//! |---|---|---|---|
//! | `GET` | `/v2/catalog` | [`Catalog`](Endpoint::Catalog) | 2.0 |
//! | `PUT` | `/v2/service_instances/:instance_id` | [`Provision`](Endpoint::Provision) | 2.0 |
//! | `PATCH` | `/v2/service_instances/:instance_id` | [`Update`](Endpoint::Update) | 2.0 |
//! | `DELETE` | `/v2/service_instances/:instance_id` | [`Deprovision`](Endpoint::Deprovision) | 2.0 |
//! | `GET` | `/v2/service_instances/:instance_id` | [`FetchInstance`](Endpoint::FetchInstance) | 2.14 |
//! | `GET` | `/v2/service_instances/:instance_id/last_operation` | [`LastOperation`](Endpoint::LastOperation) | 2.0 |
//! | `PUT` | `/v2/service_instances/:instance_id/service_bindings/:binding_id` | [`Bind`](Endpoint::Bind) | 2.0 |
//! | `DELETE` | `/v2/service_instances/:instance_id/service_bindings/:binding_id` | [`Unbind`](Endpoint::Unbind) | 2.0 |
//! | `GET` | `/v2/service_instances/:instance_id/service_bindings/:binding_id` | [`FetchBinding`](Endpoint::FetchBinding) | 2.14 |
//! | `GET` | `/v2/service_instances/:instance_id/service_bindings/:binding_id/last_operation` | [`BindingLastOperation`](Endpoint::BindingLastOperation) | 2.14 |
//! | `GET` | `/bluemix_v1/service_instances/:instance_id` | [`GetInstanceState`](Endpoint::GetInstanceState) | IBM |
//! | `PUT` | `/bluemix_v1/service_instances/:instance_id` | [`SetInstanceState`](Endpoint::SetInstanceState) | IBM |
//!
//! The path is split on `/` first and each id segment is percent-decoded afterwards, so an IBM
//! Cloud instance CRN sent as `crn%3Av1%3A…%3Aa%2F0123…` arrives whole, `/` included (osb-core
//! rules.md §17.1). An empty id segment, a trailing `/` or any other path is `404`; a known path with
//! another method is `405` with `Allow`.
//!
//! # Order of checks
//!
//! Every request passes the same stages, in this order; each stage owns its statuses and none
//! re-checks another's work. `#` is the section of osb-core's rules.md (`osb_core::rules`) that
//! holds the step; **spec** = the spec
//! requires it, **choice** = the spec allows several answers and this is ours, **deviation** =
//! deliberately not the literal spec.
//!
//! | # | Check | Status | Kind |
//! |---|---|---|---|
//! | §2.5 | Authentication, by a layer in front of the service (e.g. `auth::RequireAuthLayer`), even for unknown ids | 401 | spec (order: choice) |
//! | – | Route: unknown path / wrong method (`Allow` lists the methods) | 404 / 405 | choice |
//! | §2.1 | `X-Broker-API-Version` absent or empty | 412 (400 as a setting, [`MissingVersion`](crate::MissingVersion)) | deviation: spec says MAY 400, conformance tools expect 412 |
//! | §2.1 | `X-Broker-API-Version` not `MAJOR.MINOR`, not 2.x, or outside the configured range (default 2.12 and later) | 412, description names the supported range | spec |
//! | §2.1 | 2.14-only endpoint (fetch instance/binding, binding last_operation) with an older declared version, only when enabled | 412 | choice (off by default) |
//! | §2.2 | `X-Broker-API-Originating-Identity` malformed | 400 | spec (format) |
//! | §4 | `Content-Length` (or the body's size hint) above the limit | 413 | choice |
//! | §4 | Query: `accepts_incomplete` neither `true` nor `false`; empty values are absent | 400 | spec |
//! | §4 | Id segment with a `%` not followed by two hex digits, not UTF-8 after percent-decoding, or holding a control character (NUL, C0, DEL, C1) | 400 | choice (RFC 3986 §2.1; never an alias of another id) |
//! | §4 | Body read: more bytes than the limit | 413 | choice |
//! | §4 | Body: malformed JSON, or a required field missing or empty (the description names the field or position, never a value); unknown fields ignored | 400 | spec |
//! | §4 | Body: `context.platform` present and not a string (provision, update, bind) | 400 | spec (profile.md "Context Object") |
//! | §8 | Provision: `service_id` in the catalog, `plan_id` a plan of it | 400 | spec |
//! | §8 | Provision: `organization_guid`/`space_guid` missing and no `context` (always when strict) | 400 | deviation: accepted with `context` (Kubernetes-style platforms) |
//! | §8 | Provision: `maintenance_info.version` differs from the plan's, or the plan has none | 422 `MaintenanceInfoConflict` | spec (none sent: no check) |
//! | §10 | Update: `service_id` in the catalog; a `plan_id` a plan of it | 400 | spec |
//! | §11.1 | Bind: `service_id` in the catalog, `plan_id` a plan of it | 400 | spec |
//! | §11.1 | Bind: plan not bindable | 400 | spec |
//! | §11.1 | Bind: `predecessor_binding_id` on a plan that is not `binding_rotatable` | 400 | spec |
//! | §12.2 | Deprovision, unbind: `service_id` and `plan_id` query parameters present (never checked against the catalog: retired plans stay deletable) | 400 | spec |
//! | §9, §12.1 | Fetch instance / binding when no offering declares `instances_retrievable` / `bindings_retrievable` (the `service_id` hint's offering when it names one) | 404 | spec |
//! | – | The broker's method: unknown resource (404/410), idempotency (200/409), busy (422), `RequiresApp` (422), … | its answer | broker |
//! | – | Update, judged against the instance as the broker recorded it ([`UpdateRequest::check`](osb_core::UpdateRequest::check)): plan change while the current plan is not `plan_updateable` (422), context-only change without `allow_context_updates` (422), `maintenance_info.version` vs the *target* plan's (422 `MaintenanceInfoConflict`) | its answer | broker (spec; `previous_values` is informational) |
//!
//! Two consequences of checking the catalog in the HTTP layer, before the broker: on `PATCH`
//! and bind a catalog `400`/`422` comes before the broker's `404` for an unknown instance (rules.md
//! §4); and `RequiresApp` is the broker's to decide
//! (see `BindRequest::app_guid`), because only the broker knows whether it needs an app; the
//! update rules that need the current plan or context are the broker's for the same reason.
//!
//! The answers of the broker are then shaped: `instance_usable` stays only on update and
//! deprovision errors, `update_repeatable` only on update errors (spec.md "Service Broker
//! Errors"); a `202` to a request without `accepts_incomplete=true` is a broker bug and becomes a
//! `500`; `Retry-After` (delta-seconds) comes from the broker's last-operation answer; the catalog
//! carries a strong `ETag` and honours `If-None-Match` with `304`; every answer echoes
//! `X-Broker-API-Request-Identity`.
//!
//! The `bluemix_v1` routes are IBM Cloud's extension, not OSB endpoints: they do not require
//! `X-Broker-API-Version` (**choice**; a valid one is still recorded in the request context, else
//! the configured minimum is), and answer `404` when the broker offers no
//! [`InstanceStateBroker`](osb_core::InstanceStateBroker).

use std::borrow::Cow;
use std::ops::Range;

use http::Method;
use osb_core::ApiVersion;

use crate::percent::Invalid;
use crate::response::ErrorFlags;

/// One endpoint of the route table, as the tracing span and response extensions name it.
///
/// Every response of [`OsbService`](crate::OsbService) to a routed request carries its `Endpoint`
/// in the response extensions.
///
/// # Example
///
/// ```
/// use osb_tower::Endpoint;
///
/// assert_eq!(Endpoint::Bind.template(), "/v2/service_instances/:instance_id/service_bindings/:binding_id");
/// assert_eq!(Endpoint::Provision.method(), http::Method::PUT);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `GET /v2/catalog`.
    Catalog,
    /// `PUT /v2/service_instances/:instance_id`.
    Provision,
    /// `PATCH /v2/service_instances/:instance_id`.
    Update,
    /// `DELETE /v2/service_instances/:instance_id`.
    Deprovision,
    /// `GET /v2/service_instances/:instance_id` (2.14).
    FetchInstance,
    /// `GET /v2/service_instances/:instance_id/last_operation`.
    LastOperation,
    /// `PUT …/service_bindings/:binding_id`.
    Bind,
    /// `DELETE …/service_bindings/:binding_id`.
    Unbind,
    /// `GET …/service_bindings/:binding_id` (2.14).
    FetchBinding,
    /// `GET …/service_bindings/:binding_id/last_operation` (2.14).
    BindingLastOperation,
    /// `GET /bluemix_v1/service_instances/:instance_id` (IBM Cloud).
    GetInstanceState,
    /// `PUT /bluemix_v1/service_instances/:instance_id` (IBM Cloud).
    SetInstanceState,
}

impl Endpoint {
    /// The path template, with ids as `:instance_id` / `:binding_id` (never raw ids, so it is
    /// safe and cheap to log).
    pub const fn template(self) -> &'static str {
        match self {
            Self::Catalog => "/v2/catalog",
            Self::Provision | Self::Update | Self::Deprovision | Self::FetchInstance => {
                "/v2/service_instances/:instance_id"
            }
            Self::LastOperation => "/v2/service_instances/:instance_id/last_operation",
            Self::Bind | Self::Unbind | Self::FetchBinding => {
                "/v2/service_instances/:instance_id/service_bindings/:binding_id"
            }
            Self::BindingLastOperation => {
                "/v2/service_instances/:instance_id/service_bindings/:binding_id/last_operation"
            }
            Self::GetInstanceState | Self::SetInstanceState => {
                "/bluemix_v1/service_instances/:instance_id"
            }
        }
    }

    /// The HTTP method.
    pub fn method(self) -> Method {
        match self {
            Self::Provision | Self::Bind | Self::SetInstanceState => Method::PUT,
            Self::Update => Method::PATCH,
            Self::Deprovision | Self::Unbind => Method::DELETE,
            Self::Catalog
            | Self::FetchInstance
            | Self::LastOperation
            | Self::FetchBinding
            | Self::BindingLastOperation
            | Self::GetInstanceState => Method::GET,
        }
    }

    /// The OSB version that introduced the endpoint (`None` for IBM's `bluemix_v1`).
    pub const fn since(self) -> Option<ApiVersion> {
        match self {
            Self::FetchInstance | Self::FetchBinding | Self::BindingLastOperation => {
                Some(ApiVersion::V2_14)
            }
            Self::GetInstanceState | Self::SetInstanceState => None,
            Self::Catalog
            | Self::Provision
            | Self::Update
            | Self::Deprovision
            | Self::LastOperation
            | Self::Bind
            | Self::Unbind => Some(ApiVersion::new(2, 0)),
        }
    }

    /// Whether the endpoint is part of the OSB API (and so needs `X-Broker-API-Version`).
    pub const fn is_osb(self) -> bool {
        self.since().is_some()
    }

    /// Whether the request has a JSON body to read.
    pub(crate) const fn has_body(self) -> bool {
        matches!(
            self,
            Self::Provision | Self::Update | Self::Bind | Self::SetInstanceState
        )
    }

    /// The failure flags its error bodies may carry (spec.md "Service Broker Errors").
    pub(crate) const fn error_flags(self) -> ErrorFlags {
        match self {
            Self::Update => ErrorFlags {
                instance_usable: true,
                update_repeatable: true,
            },
            Self::Deprovision => ErrorFlags {
                instance_usable: true,
                update_repeatable: false,
            },
            _ => ErrorFlags::NONE,
        }
    }
}

/// A matched request: the endpoint and where its ids sit in the (prefix-stripped) path.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) endpoint: Endpoint,
    /// Byte range of the raw `:instance_id` segment in the request path.
    instance_id: Range<usize>,
    /// Byte range of the raw `:binding_id` segment in the request path.
    binding_id: Range<usize>,
}

impl Route {
    /// The raw (still percent-encoded) instance id.
    pub(crate) fn raw_instance_id<'p>(&self, path: &'p str) -> &'p str {
        path.get(self.instance_id.clone()).unwrap_or_default()
    }

    /// The raw (still percent-encoded) binding id.
    pub(crate) fn raw_binding_id<'p>(&self, path: &'p str) -> &'p str {
        path.get(self.binding_id.clone()).unwrap_or_default()
    }
}

/// Why no route matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoute {
    /// No endpoint has this path.
    NotFound,
    /// The path exists with other methods; the value is the `Allow` header.
    MethodNotAllowed(&'static str),
}

const ALLOW_GET: &str = "GET";
const ALLOW_INSTANCE: &str = "PUT, PATCH, DELETE, GET";
const ALLOW_BINDING: &str = "PUT, DELETE, GET";
const ALLOW_STATE: &str = "GET, PUT";

/// Matches a request against the route table. `prefix` (`""` or `/broker`) must lead the path.
pub(crate) fn route(method: &Method, path: &str, prefix: &str) -> Result<Route, NoRoute> {
    let Some(rest) = path.strip_prefix(prefix) else {
        return Err(NoRoute::NotFound);
    };
    let base = path.len() - rest.len();
    // Segments of `rest` (which must start with `/`), with their byte offsets in `path`.
    let Some(rest) = rest.strip_prefix('/') else {
        return Err(NoRoute::NotFound);
    };
    let mut segments: [(usize, &str); 7] = [(0, ""); 7];
    let mut count = 0;
    let mut offset = base + 1;
    for segment in rest.split('/') {
        if count == segments.len() {
            return Err(NoRoute::NotFound);
        }
        segments[count] = (offset, segment);
        count += 1;
        offset += segment.len() + 1;
    }
    let seg = |i: usize| segments[i].1;
    let range = |i: usize| segments[i].0..segments[i].0 + segments[i].1.len();
    let id = |i: usize| !seg(i).is_empty();
    let none = 0..0;

    let (endpoint, allow, instance_id, binding_id) = match (count, seg(0), seg(1)) {
        (2, "v2", "catalog") => (
            (method == Method::GET).then_some(Endpoint::Catalog),
            ALLOW_GET,
            none.clone(),
            none,
        ),
        (3, "v2", "service_instances") if id(2) => {
            let endpoint = match *method {
                Method::PUT => Some(Endpoint::Provision),
                Method::PATCH => Some(Endpoint::Update),
                Method::DELETE => Some(Endpoint::Deprovision),
                Method::GET => Some(Endpoint::FetchInstance),
                _ => None,
            };
            (endpoint, ALLOW_INSTANCE, range(2), none)
        }
        (4, "v2", "service_instances") if id(2) && seg(3) == "last_operation" => (
            (method == Method::GET).then_some(Endpoint::LastOperation),
            ALLOW_GET,
            range(2),
            none,
        ),
        (5, "v2", "service_instances") if id(2) && seg(3) == "service_bindings" && id(4) => {
            let endpoint = match *method {
                Method::PUT => Some(Endpoint::Bind),
                Method::DELETE => Some(Endpoint::Unbind),
                Method::GET => Some(Endpoint::FetchBinding),
                _ => None,
            };
            (endpoint, ALLOW_BINDING, range(2), range(4))
        }
        (6, "v2", "service_instances")
            if id(2) && seg(3) == "service_bindings" && id(4) && seg(5) == "last_operation" =>
        {
            (
                (method == Method::GET).then_some(Endpoint::BindingLastOperation),
                ALLOW_GET,
                range(2),
                range(4),
            )
        }
        (3, "bluemix_v1", "service_instances") if id(2) => {
            let endpoint = match *method {
                Method::GET => Some(Endpoint::GetInstanceState),
                Method::PUT => Some(Endpoint::SetInstanceState),
                _ => None,
            };
            (endpoint, ALLOW_STATE, range(2), none)
        }
        _ => return Err(NoRoute::NotFound),
    };
    match endpoint {
        Some(endpoint) => Ok(Route {
            endpoint,
            instance_id,
            binding_id,
        }),
        None => Err(NoRoute::MethodNotAllowed(allow)),
    }
}

/// Percent-decodes one id segment (after the path was split, so `%2F` stays inside the id).
///
/// An error for a malformed escape, bytes that are not UTF-8, or a control character in the
/// decoded id: each is a `400`, never another spelling of some other id.
pub(crate) fn decode_id(raw: &str) -> Result<Cow<'_, str>, Invalid> {
    let id = crate::percent::decode(raw, false)?;
    if id.chars().any(char::is_control) {
        return Err(Invalid::Control);
    }
    Ok(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn ok(method: Method, path: &str) -> (Endpoint, String, String) {
        let route = route(&method, path, "").expect("route matches");
        (
            route.endpoint,
            route.raw_instance_id(path).to_owned(),
            route.raw_binding_id(path).to_owned(),
        )
    }

    #[test]
    fn every_endpoint_routes() {
        let cases = [
            (Method::GET, "/v2/catalog", Endpoint::Catalog),
            (Method::PUT, "/v2/service_instances/i", Endpoint::Provision),
            (Method::PATCH, "/v2/service_instances/i", Endpoint::Update),
            (
                Method::DELETE,
                "/v2/service_instances/i",
                Endpoint::Deprovision,
            ),
            (
                Method::GET,
                "/v2/service_instances/i",
                Endpoint::FetchInstance,
            ),
            (
                Method::GET,
                "/v2/service_instances/i/last_operation",
                Endpoint::LastOperation,
            ),
            (
                Method::PUT,
                "/v2/service_instances/i/service_bindings/b",
                Endpoint::Bind,
            ),
            (
                Method::DELETE,
                "/v2/service_instances/i/service_bindings/b",
                Endpoint::Unbind,
            ),
            (
                Method::GET,
                "/v2/service_instances/i/service_bindings/b",
                Endpoint::FetchBinding,
            ),
            (
                Method::GET,
                "/v2/service_instances/i/service_bindings/b/last_operation",
                Endpoint::BindingLastOperation,
            ),
            (
                Method::GET,
                "/bluemix_v1/service_instances/i",
                Endpoint::GetInstanceState,
            ),
            (
                Method::PUT,
                "/bluemix_v1/service_instances/i",
                Endpoint::SetInstanceState,
            ),
        ];
        for (method, path, endpoint) in cases {
            let (got, instance, _) = ok(method.clone(), path);
            assert_eq!(got, endpoint, "{method} {path}");
            assert_eq!(got.method(), method);
            if path != "/v2/catalog" {
                assert_eq!(instance, "i");
            }
        }
    }

    #[test]
    fn ids_are_split_before_decoding() {
        let path = "/v2/service_instances/crn%3Av1%3Aa%2Fb%3A%3A/service_bindings/k%2F1";
        let (_, instance, binding) = ok(Method::PUT, path);
        assert_eq!(decode_id(&instance).as_deref(), Ok("crn:v1:a/b::"));
        assert_eq!(decode_id(&binding).as_deref(), Ok("k/1"));
    }

    #[test]
    fn ids_with_bad_escapes_bytes_or_control_characters_are_refused() {
        for (raw, problem) in [
            ("a%zz", Invalid::Escape),
            ("a%", Invalid::Escape),
            ("%FF", Invalid::Utf8),
            ("a%00b", Invalid::Control),
            ("a%0A", Invalid::Control),
            ("%7F", Invalid::Control),
            ("%C2%85", Invalid::Control),
        ] {
            assert_eq!(decode_id(raw), Err(problem), "{raw:?}");
        }
        assert_eq!(decode_id("a%25zz").as_deref(), Ok("a%zz"));
        assert_eq!(decode_id("caf%C3%A9%20x").as_deref(), Ok("café x"));
    }

    #[test]
    fn unknown_paths_and_methods() {
        for path in [
            "/",
            "",
            "/v2",
            "/v2/catalog/",
            "/v2/service_instances/",
            "/v2/service_instances//last_operation",
            "/v2/service_instances/i/service_bindings/",
            "/v2/service_instances/i/x",
            "/v2/service_instances/i/service_bindings/b/last_operation/x",
            "/v3/catalog",
        ] {
            assert_eq!(
                route(&Method::GET, path, "").unwrap_err(),
                NoRoute::NotFound,
                "{path}"
            );
        }
        assert_eq!(
            route(&Method::POST, "/v2/service_instances/i", "").unwrap_err(),
            NoRoute::MethodNotAllowed("PUT, PATCH, DELETE, GET")
        );
        assert_eq!(
            route(&Method::PUT, "/v2/catalog", "").unwrap_err(),
            NoRoute::MethodNotAllowed("GET")
        );
    }

    #[test]
    fn prefix_must_lead_the_path() {
        let path = "/broker/v2/service_instances/i";
        let route_ = route(&Method::PUT, path, "/broker").expect("prefixed route");
        assert_eq!(route_.raw_instance_id(path), "i");
        assert_eq!(
            route(&Method::GET, "/v2/catalog", "/broker").unwrap_err(),
            NoRoute::NotFound
        );
        assert_eq!(
            route(&Method::GET, "/brokerv2/catalog", "/broker").unwrap_err(),
            NoRoute::NotFound
        );
    }
}
