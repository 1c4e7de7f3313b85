//! The catalog: service offerings and their plans.
//!
//! Spec: spec.md "Catalog Management"; metadata conventions: profile.md "Service Metadata" and
//! "Plan Metadata".

mod validate;

pub use validate::{CatalogProblem, InvalidCatalog};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lenient::{is_none, is_none_or_empty};

/// The answer to `GET /v2/catalog`: `{"services": [...]}`.
///
/// # Example
///
/// ```
/// use osb_core::catalog::{Catalog, Plan, Service};
///
/// let catalog = Catalog::new(vec![
///     Service::new("svc-id", "my-db", "A database", true)
///         .with_plan(Plan::new("plan-id", "small", "A small database")),
/// ]);
/// catalog.validate()?;
/// assert!(catalog.plan("svc-id", "plan-id").is_some());
/// # Ok::<(), osb_core::catalog::InvalidCatalog>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Catalog {
    /// The service offerings (may be empty).
    pub services: Vec<Service>,
}

/// A service offering (spec.md "Service Offering Object").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Service {
    /// The offering's name, unique in the catalog.
    pub name: String,
    /// The offering's id: globally unique, never changes.
    pub id: String,
    /// A short description.
    pub description: String,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Permissions the offering needs: `syslog_drain`, `route_forwarding`, `volume_mount`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Whether instances can be bound; plans may override it.
    pub bindable: bool,
    /// Whether `GET /v2/service_instances/:id` is supported (2.14).
    #[serde(default, skip_serializing_if = "is_none")]
    pub instances_retrievable: Option<bool>,
    /// Whether `GET …/service_bindings/:id` is supported (2.14).
    #[serde(default, skip_serializing_if = "is_none")]
    pub bindings_retrievable: Option<bool>,
    /// Whether context-only updates are accepted (2.15).
    #[serde(default, skip_serializing_if = "is_none")]
    pub allow_context_updates: Option<bool>,
    /// Metadata, with the conventional fields typed.
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<ServiceMetadata>,
    /// The dashboard OAuth client (Cloud Foundry profile).
    #[serde(default, skip_serializing_if = "is_none")]
    pub dashboard_client: Option<DashboardClient>,
    /// Whether instances may change plan; plans may override it. Spelled as the spec spells it.
    #[serde(default, skip_serializing_if = "is_none")]
    pub plan_updateable: Option<bool>,
    /// The plans (at least one).
    pub plans: Vec<Plan>,
    /// Vendor extension fields (spec.md "Vendor Extension Fields"), kept and sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A service plan (spec.md "Service Plan Object").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// The plan's id: globally unique, never changes.
    pub id: String,
    /// The plan's name, unique within its offering.
    pub name: String,
    /// A short description.
    pub description: String,
    /// Metadata, with the conventional fields typed.
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<PlanMetadata>,
    /// Whether the plan is free. Absent means `true`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub free: Option<bool>,
    /// Overrides the offering's `bindable`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub bindable: Option<bool>,
    /// Whether a binding may name a `predecessor_binding_id` (2.17).
    #[serde(default, skip_serializing_if = "is_none")]
    pub binding_rotatable: Option<bool>,
    /// Overrides the offering's `plan_updateable` (2.15).
    #[serde(default, skip_serializing_if = "is_none")]
    pub plan_updateable: Option<bool>,
    /// JSON schemas for parameters.
    #[serde(default, skip_serializing_if = "is_none")]
    pub schemas: Option<Schemas>,
    /// Seconds after which the platform stops polling (2.15).
    #[serde(default, skip_serializing_if = "is_none")]
    pub maximum_polling_duration: Option<u64>,
    /// The plan's maintenance version (2.15).
    #[serde(default, skip_serializing_if = "is_none")]
    pub maintenance_info: Option<MaintenanceInfo>,
    /// Vendor extension fields (spec.md "Vendor Extension Fields"), kept and sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Offering metadata (profile.md "Service Metadata"); every other field kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceMetadata {
    /// `displayName`.
    #[serde(
        rename = "displayName",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub display_name: Option<String>,
    /// `imageUrl`.
    #[serde(rename = "imageUrl", default, skip_serializing_if = "is_none_or_empty")]
    pub image_url: Option<String>,
    /// `longDescription`.
    #[serde(
        rename = "longDescription",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub long_description: Option<String>,
    /// `providerDisplayName`.
    #[serde(
        rename = "providerDisplayName",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub provider_display_name: Option<String>,
    /// `documentationUrl`.
    #[serde(
        rename = "documentationUrl",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub documentation_url: Option<String>,
    /// `supportUrl`.
    #[serde(
        rename = "supportUrl",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub support_url: Option<String>,
    /// `shareable` (Cloud Foundry).
    #[serde(default, skip_serializing_if = "is_none")]
    pub shareable: Option<bool>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Plan metadata (profile.md "Plan Metadata"); every other field kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlanMetadata {
    /// `displayName`.
    #[serde(
        rename = "displayName",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub display_name: Option<String>,
    /// `bullets`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bullets: Vec<String>,
    /// `costs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub costs: Vec<Cost>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One cost of a plan: `{"amount": {"usd": 99.0}, "unit": "MONTHLY"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Cost {
    /// Amount per currency code.
    pub amount: Map<String, Value>,
    /// The unit, e.g. `MONTHLY`.
    pub unit: String,
}

/// The OAuth client of a dashboard (Cloud Foundry profile). The `secret` is redacted in `Debug`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DashboardClient {
    /// The client id.
    pub id: String,
    /// The client secret.
    pub secret: String,
    /// The redirect URI.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub redirect_uri: Option<String>,
}

impl DashboardClient {
    /// A dashboard client with an id and a secret, and no redirect URI.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: secret.into(),
            redirect_uri: None,
        }
    }

    /// Sets the redirect URI (an empty one is never sent).
    #[must_use]
    pub fn with_redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }
}

impl std::fmt::Debug for DashboardClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardClient")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

impl Cost {
    /// A cost of `amount` in `currency` per `unit`, e.g. `Cost::new("usd", 99.0, "MONTHLY")`.
    ///
    /// A non-finite amount (NaN, infinity) cannot be written as JSON and is recorded as `0`.
    pub fn new(currency: impl Into<String>, amount: f64, unit: impl Into<String>) -> Self {
        let amount =
            serde_json::Number::from_f64(amount).map_or_else(|| Value::from(0), Value::Number);
        Self {
            amount: Map::from_iter([(currency.into(), amount)]),
            unit: unit.into(),
        }
    }
}

/// A plan's JSON schemas (spec.md "Schemas Object").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Schemas {
    /// Schemas for instances.
    #[serde(default, skip_serializing_if = "is_none")]
    pub service_instance: Option<ServiceInstanceSchema>,
    /// Schemas for bindings.
    #[serde(default, skip_serializing_if = "is_none")]
    pub service_binding: Option<ServiceBindingSchema>,
}

/// Instance schemas: create and update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceInstanceSchema {
    /// Parameters of a provision.
    #[serde(default, skip_serializing_if = "is_none")]
    pub create: Option<InputParametersSchema>,
    /// Parameters of an update.
    #[serde(default, skip_serializing_if = "is_none")]
    pub update: Option<InputParametersSchema>,
}

/// Binding schemas: create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceBindingSchema {
    /// Parameters of a bind.
    #[serde(default, skip_serializing_if = "is_none")]
    pub create: Option<InputParametersSchema>,
}

/// `{"parameters": <JSON schema>}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputParametersSchema {
    /// The JSON schema (draft-04 at least; `$schema` required).
    #[serde(default, skip_serializing_if = "is_none")]
    pub parameters: Option<Value>,
}

impl InputParametersSchema {
    /// Wraps a JSON schema.
    pub fn new(parameters: Value) -> Self {
        Self {
            parameters: Some(parameters),
        }
    }
}

/// Maintenance information (spec.md "Maintenance Info Object", 2.15).
///
/// In requests only `version` is used; a `{}` placeholder is treated as absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MaintenanceInfo {
    /// A SemVer 2.0 version.
    pub version: String,
    /// What the version changes.
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub description: Option<String>,
}

impl MaintenanceInfo {
    /// Maintenance info with a version and no description.
    pub fn new(version: impl Into<String>) -> Self {
        Self {
            version: version.into(),
            description: None,
        }
    }
}

impl Catalog {
    /// A catalog of these offerings.
    pub fn new(services: Vec<Service>) -> Self {
        Self { services }
    }

    /// The offering with this id.
    pub fn service(&self, service_id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == service_id)
    }

    /// The plan `plan_id` of offering `service_id` (`None` if either is unknown, or the plan
    /// belongs to another offering).
    pub fn plan(&self, service_id: &str, plan_id: &str) -> Option<(&Service, &Plan)> {
        let service = self.service(service_id)?;
        service.plan(plan_id).map(|plan| (service, plan))
    }

    /// Whether any offering has a plan with this id.
    pub fn has_plan(&self, plan_id: &str) -> bool {
        self.services.iter().any(|s| s.plan(plan_id).is_some())
    }
}

impl Service {
    /// An offering with the required fields and no plans yet.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
        bindable: bool,
    ) -> Self {
        Self {
            name: name.into(),
            id: id.into(),
            description: description.into(),
            tags: Vec::new(),
            requires: Vec::new(),
            bindable,
            instances_retrievable: None,
            bindings_retrievable: None,
            allow_context_updates: None,
            metadata: None,
            dashboard_client: None,
            plan_updateable: None,
            plans: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Adds a plan.
    #[must_use]
    pub fn with_plan(mut self, plan: Plan) -> Self {
        self.plans.push(plan);
        self
    }

    /// The plan with this id.
    pub fn plan(&self, plan_id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == plan_id)
    }

    /// Whether `GET` on an instance is supported.
    pub fn instances_retrievable(&self) -> bool {
        self.instances_retrievable.unwrap_or(false)
    }

    /// Whether `GET` on a binding is supported.
    pub fn bindings_retrievable(&self) -> bool {
        self.bindings_retrievable.unwrap_or(false)
    }

    /// Whether context-only updates are accepted.
    pub fn allow_context_updates(&self) -> bool {
        self.allow_context_updates.unwrap_or(false)
    }
}

impl Plan {
    /// A plan with the required fields.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            metadata: None,
            free: None,
            bindable: None,
            binding_rotatable: None,
            plan_updateable: None,
            schemas: None,
            maximum_polling_duration: None,
            maintenance_info: None,
            extra: Map::new(),
        }
    }

    /// Whether instances of this plan can be bound: the plan's `bindable`, else the offering's.
    pub fn is_bindable(&self, service: &Service) -> bool {
        self.bindable.unwrap_or(service.bindable)
    }

    /// Whether instances of this plan may change plan: the plan's `plan_updateable`, else the
    /// offering's, else `false`.
    pub fn is_plan_updateable(&self, service: &Service) -> bool {
        self.plan_updateable
            .or(service.plan_updateable)
            .unwrap_or(false)
    }

    /// Whether bindings of this plan may be rotated (2.17). Default `false`.
    pub fn is_binding_rotatable(&self) -> bool {
        self.binding_rotatable.unwrap_or(false)
    }

    /// Whether the plan is free. Default `true`.
    pub fn is_free(&self) -> bool {
        self.free.unwrap_or(true)
    }
}
