//! Bindings: bind, unbind and fetch (spec.md "Binding", "Unbinding", "Fetching a Service Binding").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::Context;
use crate::lenient::{Redacted, empty_string_as_none, is_none, is_none_or_empty};
use crate::operation::OperationToken;

/// The body of a bind request. `parameters` are redacted in `Debug` output.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BindRequest {
    /// The offering's id.
    #[serde(deserialize_with = "crate::lenient::service_id")]
    pub service_id: String,
    /// The plan's id.
    #[serde(deserialize_with = "crate::lenient::plan_id")]
    pub plan_id: String,
    /// Platform context (2.13).
    #[serde(default, skip_serializing_if = "is_none")]
    pub context: Option<Context>,
    /// Deprecated in favour of `bind_resource.app_guid`.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub app_guid: Option<String>,
    /// What the binding is for.
    #[serde(default, skip_serializing_if = "is_none")]
    pub bind_resource: Option<BindResource>,
    /// Configuration parameters (may hold secrets).
    #[serde(default, skip_serializing_if = "is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// The binding this one rotates (2.17).
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
    /// `app_guid` (NOTES.md §2, `RequiresApp`).
    pub fn app_guid(&self) -> Option<&str> {
        self.bind_resource
            .as_ref()
            .and_then(|r| r.app_guid.as_deref())
            .or(self.app_guid.as_deref())
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

/// `bind_resource`: the application or route bound, plus platform extras (kept in `extra`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BindResource {
    /// The application's GUID.
    #[serde(
        default,
        deserialize_with = "empty_string_as_none",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub app_guid: Option<String>,
    /// The route, for route services.
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

/// Binding metadata (`expires_at` 2.16, `renew_before` 2.17), ISO 8601 strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BindingMetadata {
    /// When the binding expires.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub expires_at: Option<String>,
    /// When the platform should rotate the binding (at most `expires_at`).
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub renew_before: Option<String>,
}

/// A volume mount (spec.md "Volume Mount Object").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VolumeMount {
    /// The volume driver.
    pub driver: String,
    /// Where to mount in the container.
    pub container_dir: String,
    /// `r` or `rw`.
    pub mode: String,
    /// Always `shared`.
    pub device_type: String,
    /// The device.
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
    /// The volume's id.
    pub volume_id: String,
    /// Driver configuration.
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
    /// A host name or IP address.
    pub host: String,
    /// Ports or ranges (`"443"`, `"9000-9010"`).
    pub ports: Vec<String>,
    /// `tcp` (default), `udp` or `all`.
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

/// A complete binding: the body of a 200 or 201 bind answer.
///
/// `credentials` are redacted in `Debug` output.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Binding {
    /// Binding metadata.
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<BindingMetadata>,
    /// Credentials for the application.
    #[serde(default, skip_serializing_if = "is_none")]
    pub credentials: Option<Map<String, Value>>,
    /// Needs `requires: ["syslog_drain"]`.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub syslog_drain_url: Option<String>,
    /// Needs `requires: ["route_forwarding"]`.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub route_service_url: Option<String>,
    /// Needs `requires: ["volume_mount"]`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
    /// Every endpoint relevant to the application.
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
    /// The operation to poll.
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

/// The 200 answer to a fetch-binding request: the binding plus its parameters.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FetchBindingResponse {
    /// The binding (credentials included).
    #[serde(flatten)]
    pub binding: Binding,
    /// The parameters the binding was created with.
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
