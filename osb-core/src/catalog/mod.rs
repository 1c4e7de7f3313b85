//! The catalog: service offerings and their plans.
//!
//! Spec: spec.md "Catalog Management"; metadata conventions: profile.md "Service Metadata" and
//! "Plan Metadata".

mod schemas;
mod validate;

pub use schemas::{InputParametersSchema, Schemas, ServiceBindingSchema, ServiceInstanceSchema};
pub use validate::{CatalogProblem, FromJsonError, InvalidCatalog, JsonError};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::BrokerError;
use crate::lenient::{is_none, is_none_or_empty};

/// The answer to `GET /v2/catalog`: `{"services": [...]}` (spec.md "Catalog Management" →
/// Response → Body).
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
    /// `services`*: the service offerings. MAY be empty.
    pub services: Vec<Service>,
}

/// A service offering (spec.md "Service Offering Object").
///
/// Fields marked * are required by the spec. Optional booleans are `Option<bool>` so that what
/// the broker wrote is what the platform reads; the accessors ([`Service::instances_retrievable`]
/// and friends) apply the spec's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Service {
    /// `name`*: non-empty and unique across the catalog (compared case-sensitively). A
    /// CLI-friendly name (alphanumerics, `.` and `-`) is RECOMMENDED.
    pub name: String,
    /// `id`*: non-empty, globally unique, and never changes across catalog fetches. A GUID is
    /// RECOMMENDED.
    pub id: String,
    /// `description`*: a short, non-empty description.
    pub description: String,
    /// `tags`: a classification such as `mysql`, `relational`, `caching`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `requires`: permissions the user grants on provisioning; only `syslog_drain`,
    /// `route_forwarding` and `volume_mount` exist. A binding answer's `syslog_drain_url`,
    /// `route_service_url` and `volume_mounts` need the matching value here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// `bindable`*: whether instances can be bound; the default for every plan, which may
    /// override it ([`Plan::is_bindable`]).
    pub bindable: bool,
    /// `instances_retrievable` (2.14): whether `GET /v2/service_instances/:id` is supported
    /// for all plans. Absent means `false`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub instances_retrievable: Option<bool>,
    /// `bindings_retrievable` (2.14): whether `GET …/service_bindings/:id` is supported for all
    /// bindable plans. Absent means `false`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub bindings_retrievable: Option<bool>,
    /// `allow_context_updates` (2.15): whether an update that only changes the `context` is
    /// accepted. Absent means `false`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub allow_context_updates: Option<bool>,
    /// `metadata`: opaque to the spec; the profile's conventional fields are typed
    /// (profile.md "Service Metadata").
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<ServiceMetadata>,
    /// `dashboard_client`: the dashboard SSO client (profile.md "Catalog Extensions", a Cloud
    /// Foundry extension).
    #[serde(default, skip_serializing_if = "is_none")]
    pub dashboard_client: Option<DashboardClient>,
    /// `plan_updateable`: whether instances may change plan; plans may override it
    /// ([`Plan::is_plan_updateable`]). Absent means `false`. Misspelled on purpose, as the spec
    /// spells it (not `plan_updatable`).
    #[serde(default, skip_serializing_if = "is_none")]
    pub plan_updateable: Option<bool>,
    /// `plans`*: at least one plan ([`Catalog::validate`] checks it).
    pub plans: Vec<Plan>,
    /// Vendor extension fields (spec.md "Vendor Extension Fields"), kept and sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A service plan (spec.md "Service Plan Object"). Fields marked * are required by the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// `id`*: non-empty, globally unique (across every offering), never changes.
    pub id: String,
    /// `name`*: non-empty and unique within its offering.
    pub name: String,
    /// `description`*: a short, non-empty description.
    pub description: String,
    /// `metadata`: opaque to the spec; the profile's conventional fields are typed
    /// (profile.md "Plan Metadata").
    #[serde(default, skip_serializing_if = "is_none")]
    pub metadata: Option<PlanMetadata>,
    /// `free`: whether instances of the plan cost nothing. Absent means `true`
    /// ([`Plan::is_free`]).
    #[serde(default, skip_serializing_if = "is_none")]
    pub free: Option<bool>,
    /// `bindable`: overrides the offering's `bindable` when present ([`Plan::is_bindable`]).
    #[serde(default, skip_serializing_if = "is_none")]
    pub bindable: Option<bool>,
    /// `binding_rotatable` (2.17): whether bindings support rotation, i.e. a bind request may
    /// name a `predecessor_binding_id` (spec.md "Binding Rotation"). Absent means `false`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub binding_rotatable: Option<bool>,
    /// `plan_updateable` (2.15): overrides the offering's value when present
    /// ([`Plan::is_plan_updateable`]).
    #[serde(default, skip_serializing_if = "is_none")]
    pub plan_updateable: Option<bool>,
    /// `schemas`: JSON schemas of the parameters of provision, update and bind.
    #[serde(default, skip_serializing_if = "is_none")]
    pub schemas: Option<Schemas>,
    /// `maximum_polling_duration` (2.15): seconds after which the platform SHOULD stop polling
    /// `last_operation` and consider the operation failed (spec.md "Polling Interval and
    /// Duration").
    #[serde(default, skip_serializing_if = "is_none")]
    pub maximum_polling_duration: Option<u64>,
    /// `maintenance_info` (2.15): the plan's maintenance version. A provision or update naming
    /// another version gets `422 MaintenanceInfoConflict`.
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
    /// `displayName`: the offering's name in a user interface.
    #[serde(
        rename = "displayName",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub display_name: Option<String>,
    /// `imageUrl`: a URL to an image, or a data URL holding it.
    #[serde(rename = "imageUrl", default, skip_serializing_if = "is_none_or_empty")]
    pub image_url: Option<String>,
    /// `longDescription`: a long description.
    #[serde(
        rename = "longDescription",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub long_description: Option<String>,
    /// `providerDisplayName`: the provider's name in a user interface.
    #[serde(
        rename = "providerDisplayName",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub provider_display_name: Option<String>,
    /// `documentationUrl`: a link to the offering's documentation.
    #[serde(
        rename = "documentationUrl",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub documentation_url: Option<String>,
    /// `supportUrl`: a link to the offering's support.
    #[serde(
        rename = "supportUrl",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub support_url: Option<String>,
    /// `shareable`: whether instances may be shared across spaces (Cloud Foundry).
    #[serde(default, skip_serializing_if = "is_none")]
    pub shareable: Option<bool>,
    /// Every other field, kept and sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Plan metadata (profile.md "Plan Metadata"); every other field kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlanMetadata {
    /// `displayName`: the plan's name in a user interface.
    #[serde(
        rename = "displayName",
        default,
        skip_serializing_if = "is_none_or_empty"
    )]
    pub display_name: Option<String>,
    /// `bullets`: features of the plan, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bullets: Vec<String>,
    /// `costs`: what the plan costs, one entry per unit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub costs: Vec<Cost>,
    /// Every other field, kept and sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One cost of a plan (profile.md "Plan Metadata" → cost object):
/// `{"amount": {"usd": 99.0}, "unit": "MONTHLY"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Cost {
    /// `amount`*: the price per currency code (`{"usd": 99.0, "eur": 49.0}`), as JSON numbers.
    pub amount: Map<String, Value>,
    /// `unit`*: what the amount is for, e.g. `MONTHLY` or `1GB of messages over 20GB`.
    pub unit: String,
}

/// The OAuth client of a dashboard (profile.md "Dashboard Client Object", a Cloud Foundry
/// catalog extension). The `secret` is redacted in `Debug`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DashboardClient {
    /// `id`*: the OAuth client id the dashboard uses.
    pub id: String,
    /// `secret`*: the OAuth client secret.
    pub secret: String,
    /// `redirect_uri`: a domain for the dashboard's OAuth redirects.
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

/// Maintenance information (spec.md "Maintenance Info Object", 2.15).
///
/// In requests only `version` is used; a `{}` placeholder is treated as absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MaintenanceInfo {
    /// `version`*: a SemVer 2.0 version, e.g. `2.1.1+abcdef`.
    pub version: String,
    /// `description`: the impact of the maintenance update, shown to users before they
    /// trigger it.
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

    /// Checks a requested `maintenance_info.version` against this plan's (spec.md
    /// "Provisioning" and "Updating a Service Instance"; rules.md §8, §10): the plan must have
    /// maintenance info, of exactly that version.
    ///
    /// # Errors
    ///
    /// `422 MaintenanceInfoConflict`, with a description telling the platform to fetch the
    /// catalog again.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_core::catalog::{MaintenanceInfo, Plan};
    ///
    /// let mut plan = Plan::new("p", "small", "Small");
    /// assert!(plan.check_maintenance_info("1.0.0").is_err(), "no maintenance info");
    /// plan.maintenance_info = Some(MaintenanceInfo::new("1.0.0"));
    /// assert!(plan.check_maintenance_info("1.0.0").is_ok());
    /// assert!(plan.check_maintenance_info("0.9.0").is_err());
    /// ```
    pub fn check_maintenance_info(&self, requested: &str) -> Result<(), BrokerError> {
        match &self.maintenance_info {
            Some(info) if info.version == requested => Ok(()),
            Some(info) => Err(BrokerError::maintenance_info_conflict().with_description(format!(
                "The maintenance_info.version {requested:?} does not match the plan's {:?}; fetch the catalog again.",
                info.version
            ))),
            None => Err(BrokerError::maintenance_info_conflict().with_description(format!(
                "The plan {:?} has no maintenance_info, but the request names version {requested:?}; fetch the catalog again.",
                self.id
            ))),
        }
    }
}
