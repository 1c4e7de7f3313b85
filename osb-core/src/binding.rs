//! Bindings: bind, unbind and fetch (spec.md "Binding", "Unbinding", "Fetching a Service Binding").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::Context;
use crate::lenient::{Redacted, empty_string_as_none, is_none, is_none_or_empty};
use crate::operation::OperationToken;

/// The body of a bind request (spec.md "Binding" → Request → Body; rotation: "Request
/// (Rotating a Service Binding)").
///
/// Parsed leniently (rules.md §16): unknown fields are ignored, `""` means absent and
/// `"bind_resource": {}` is accepted. `service_id` and `plan_id` must be present and non-empty.
/// `parameters` are redacted in `Debug` output.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BindRequest {
    /// `service_id`*: the offering's id.
    #[serde(deserialize_with = "crate::lenient::service_id")]
    pub service_id: String,
    /// `plan_id`*: the plan's id.
    #[serde(deserialize_with = "crate::lenient::plan_id")]
    pub plan_id: String,
    /// `context` (2.13): where the binding is made (profile.md "Context Object").
    #[serde(default, skip_serializing_if = "is_none")]
    pub context: Option<Context>,
    /// `app_guid`: deprecated in favour of `bind_resource.app_guid`, still sent by 2.12-era
    /// platforms. Read both with [`BindRequest::app_guid`].
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub app_guid: Option<String>,
    /// `bind_resource`: the platform resources the binding is for (spec.md "Bind Resource
    /// Object"); the object and all its fields are optional.
    #[serde(default, skip_serializing_if = "is_none")]
    pub bind_resource: Option<BindResource>,
    /// `parameters`: configuration parameters (may hold secrets). A broker SHOULD validate them,
    /// e.g. against the plan's `schemas.service_binding.create`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// `predecessor_binding_id` (2.17): the non-expired binding of the same instance this one
    /// rotates; only for plans with `binding_rotatable: true` (spec.md "Binding Rotation").
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub predecessor_binding_id: Option<String>,
}

impl BindRequest {
    /// A bind request for a plan of an offering, with nothing else set.
    pub fn new(service_id: impl Into<String>, plan_id: impl Into<String>) -> Self {
        Self {
            service_id: service_id.into(),
            plan_id: plan_id.into(),
            context: None,
            app_guid: None,
            bind_resource: None,
            parameters: None,
            predecessor_binding_id: None,
        }
    }

    /// The application's GUID: `bind_resource.app_guid`, else the deprecated top-level
    /// `app_guid` (rules.md §11.3, `RequiresApp`).
    pub fn app_guid(&self) -> Option<&str> {
        self.bind_resource
            .as_ref()
            .and_then(|r| r.app_guid.as_deref())
            .or(self.app_guid.as_deref())
    }

    /// Whether `other` is a retry of this request: identical in the sense of rules.md §13, so it
    /// gets this request's answer (`200` with the stored credentials, or `202` while it runs)
    /// rather than `409`. Compares the ids, `parameters` (as values), the application
    /// ([`BindRequest::app_guid`]), `bind_resource.route`, `predecessor_binding_id` and the
    /// identifying context fields ([`Context::identifying_fields`]); the other `bind_resource`
    /// fields and context names and annotations may differ.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_core::BindRequest;
    ///
    /// let first = BindRequest::new("db", "small");
    /// assert!(first.is_identical(&BindRequest::new("db", "small")));
    /// // A rotation of another binding: a conflict, not a retry.
    /// let mut rotation = BindRequest::new("db", "small");
    /// rotation.predecessor_binding_id = Some("b-0".to_owned());
    /// assert!(!first.is_identical(&rotation));
    /// ```
    pub fn is_identical(&self, other: &BindRequest) -> bool {
        let route = |r: &BindRequest| r.bind_resource.as_ref().and_then(|b| b.route.clone());
        self.service_id == other.service_id
            && self.plan_id == other.plan_id
            && self.parameters == other.parameters
            && self.app_guid() == other.app_guid()
            && route(self) == route(other)
            && self.predecessor_binding_id == other.predecessor_binding_id
            && crate::context::identifies_same(self.context.as_ref(), other.context.as_ref())
    }
}

impl std::fmt::Debug for BindRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindRequest")
            .field("service_id", &self.service_id)
            .field("plan_id", &self.plan_id)
            .field("context", &self.context)
            .field("app_guid", &self.app_guid)
            .field("bind_resource", &self.bind_resource)
            .field("parameters", &Redacted(&self.parameters))
            .field("predecessor_binding_id", &self.predecessor_binding_id)
            .finish()
    }
}

/// `bind_resource`: the application or route bound, plus platform extras kept in `extra`
/// (spec.md "Bind Resource Object", profile.md "Bind Resource Object").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BindResource {
    /// `app_guid`: the application (Cloud Foundry) or scope, e.g. a namespace (Kubernetes).
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub app_guid: Option<String>,
    /// `route`: the URL of the application to intermediate, for route services.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub route: Option<String>,
    /// Every other field (`space_guid`, `credential_client_id`, IBM's `serviceid_crn`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Binding metadata (spec.md "Binding Metadata Object"): `expires_at` (2.16) and `renew_before`
/// (2.17), ISO 8601 strings in the pattern `yyyy-mm-ddThh:mm:ss.sZ`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BindingMetadata {
    /// `expires_at`: when the binding becomes invalid, e.g. `2019-12-31T23:59:59.0Z`.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub expires_at: Option<String>,
    /// `renew_before`: when the binding SHOULD be renewed (rotated); at most `expires_at`.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub renew_before: Option<String>,
}

/// A volume mount (spec.md "Volume Mount Object").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VolumeMount {
    /// `driver`*: the volume driver plugin that manages the device.
    pub driver: String,
    /// `container_dir`*: where the volume is mounted in the application container.
    pub container_dir: String,
    /// `mode`*: `r` (read-only) or `rw` (read-write).
    pub mode: String,
    /// `device_type`*: `shared`, the only type the spec defines.
    pub device_type: String,
    /// `device`*: the device's details.
    pub device: Device,
}

impl VolumeMount {
    /// A volume mount of a shared device (`device_type: "shared"`, the only type the spec
    /// defines). `mode` is `"r"` (read-only) or `"rw"` (read-write).
    pub fn new(
        driver: impl Into<String>,
        container_dir: impl Into<String>,
        mode: impl Into<String>,
        device: Device,
    ) -> Self {
        Self {
            driver: driver.into(),
            container_dir: container_dir.into(),
            mode: mode.into(),
            device_type: "shared".to_owned(),
            device,
        }
    }
}

/// A volume mount's device (spec.md "Device Object"; only shared devices exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Device {
    /// `volume_id`*: the shared volume mounted on every application instance.
    pub volume_id: String,
    /// `mount_config`: configuration passed to the driver when the volume is mounted.
    #[serde(default, skip_serializing_if = "is_none")]
    pub mount_config: Option<Map<String, Value>>,
}

impl Device {
    /// A shared device with a volume id and no driver configuration.
    pub fn new(volume_id: impl Into<String>) -> Self {
        Self {
            volume_id: volume_id.into(),
            mount_config: None,
        }
    }

    /// Sets the configuration passed to the driver when the volume is mounted.
    #[must_use]
    pub fn with_mount_config(mut self, mount_config: Map<String, Value>) -> Self {
        self.mount_config = Some(mount_config);
        self
    }
}

/// A network endpoint (spec.md "Endpoint Object", 2.15).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Endpoint {
    /// `host`*: a host name or a single IP address.
    pub host: String,
    /// `ports`*: a non-empty list of ports (`"443"`) or port ranges (`"9000-9010"`).
    pub ports: Vec<String>,
    /// `protocol`: `tcp`, `udp` or `all`. Absent means `tcp`.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub protocol: Option<String>,
}

impl Endpoint {
    /// An endpoint on a host with ports.
    pub fn new(host: impl Into<String>, ports: Vec<String>) -> Self {
        Self {
            host: host.into(),
            ports,
            protocol: None,
        }
    }

    /// Sets the protocol: `tcp`, `udp` or `all` (spec.md "Endpoint Object"). Absent means `tcp`.
    #[must_use]
    pub fn with_protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }
}

/// A complete binding: the body of a 200 or 201 bind answer (spec.md "Binding" → Response →
/// Body). Only a synchronous answer or a fetch carries it: a 202 is [`BindAccepted`].
///
/// `credentials` are redacted in `Debug` output.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Binding {
    /// `metadata`: expiry and renewal times; never data needed to connect.
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<BindingMetadata>,
    /// `credentials`: what applications need to access the service. MUST be returned when the
    /// broker generates credentials.
    #[serde(default, skip_serializing_if = "is_none")]
    pub credentials: Option<Map<String, Value>>,
    /// `syslog_drain_url`: where logs are streamed. Needs `requires: ["syslog_drain"]`.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub syslog_drain_url: Option<String>,
    /// `route_service_url`: where the platform proxies `bind_resource.route`. Needs
    /// `requires: ["route_forwarding"]`.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub route_service_url: Option<String>,
    /// `volume_mounts`: remote storage to mount. Needs `requires: ["volume_mount"]`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
    /// `endpoints` (2.15): if present, every endpoint relevant to the application.
    #[serde(default, skip_serializing_if = "is_none")]
    pub endpoints: Option<Vec<Endpoint>>,
}

impl Binding {
    /// A binding carrying credentials.
    pub fn with_credentials(credentials: Map<String, Value>) -> Self {
        Self {
            credentials: Some(credentials),
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("metadata", &self.metadata)
            .field("credentials", &Redacted(&self.credentials))
            .field("syslog_drain_url", &self.syslog_drain_url)
            .field("route_service_url", &self.route_service_url)
            .field("volume_mounts", &self.volume_mounts)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

/// The body of a 202 bind answer. It has no place for credentials: the spec forbids them there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BindAccepted {
    /// `operation`: the token the platform echoes when polling.
    #[serde(default, skip_serializing_if = "is_none")]
    pub operation: Option<OperationToken>,
}

/// A bind answer.
#[derive(Debug, Clone, PartialEq)]
pub enum BindResponse {
    /// 201 Created.
    Created(Binding),
    /// 200 OK: identical binding exists (carries the credentials again).
    AlreadyExists(Binding),
    /// 202 Accepted: binding runs asynchronously.
    Accepted(BindAccepted),
}

/// The query of an unbind request: both ids required (presence only).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnbindRequest {
    /// The offering's id.
    pub service_id: String,
    /// The plan's id.
    pub plan_id: String,
}

impl UnbindRequest {
    /// An unbind request.
    pub fn new(service_id: impl Into<String>, plan_id: impl Into<String>) -> Self {
        Self {
            service_id: service_id.into(),
            plan_id: plan_id.into(),
        }
    }
}

/// An unbind answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnbindResponse {
    /// 200 OK: the binding is gone.
    Deleted,
    /// 202 Accepted: the unbind runs asynchronously.
    Accepted {
        /// The operation to poll.
        operation: Option<OperationToken>,
    },
}

/// The query of a fetch-binding request: optional hints, empty values ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchBindingRequest {
    /// The offering's id, if sent.
    pub service_id: Option<String>,
    /// The plan's id, if sent.
    pub plan_id: Option<String>,
}

/// The 200 answer to a fetch-binding request (spec.md "Fetching a Service Binding" → Body): the
/// binding plus its parameters. Unlike a fetched instance it has no `service_id` / `plan_id`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FetchBindingResponse {
    /// The binding's fields (`metadata`, `credentials`, `syslog_drain_url`,
    /// `route_service_url`, `volume_mounts`, `endpoints`), inline in the body.
    #[serde(flatten)]
    pub binding: Binding,
    /// `parameters`: the parameters the binding was created with (a broker MAY omit sensitive
    /// ones).
    #[serde(default, skip_serializing_if = "is_none")]
    pub parameters: Option<Map<String, Value>>,
}

impl FetchBindingResponse {
    /// A fetch answer for a binding.
    pub fn new(binding: Binding) -> Self {
        Self {
            binding,
            parameters: None,
        }
    }
}

impl std::fmt::Debug for FetchBindingResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchBindingResponse")
            .field("binding", &self.binding)
            .field("parameters", &Redacted(&self.parameters))
            .finish()
    }
}
