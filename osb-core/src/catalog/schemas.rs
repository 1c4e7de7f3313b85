//! A plan's JSON schemas for the parameters of provision, update and bind (spec.md "Schemas
//! Object").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lenient::is_none;

/// A plan's JSON schemas (spec.md "Schemas Object").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Schemas {
    /// `service_instance`: schemas for provision and update.
    #[serde(default, skip_serializing_if = "is_none")]
    pub service_instance: Option<ServiceInstanceSchema>,
    /// `service_binding`: the schema for bind (used only when the plan is bindable).
    #[serde(default, skip_serializing_if = "is_none")]
    pub service_binding: Option<ServiceBindingSchema>,
}

impl Schemas {
    /// Sets the provision schema (`service_instance.create.parameters`).
    #[must_use]
    pub fn with_instance_create(mut self, parameters: Value) -> Self {
        self.service_instance
            .get_or_insert_with(Default::default)
            .create = Some(InputParametersSchema::new(parameters));
        self
    }

    /// Sets the update schema (`service_instance.update.parameters`).
    #[must_use]
    pub fn with_instance_update(mut self, parameters: Value) -> Self {
        self.service_instance
            .get_or_insert_with(Default::default)
            .update = Some(InputParametersSchema::new(parameters));
        self
    }

    /// Sets the bind schema (`service_binding.create.parameters`).
    #[must_use]
    pub fn with_binding_create(mut self, parameters: Value) -> Self {
        self.service_binding
            .get_or_insert_with(Default::default)
            .create = Some(InputParametersSchema::new(parameters));
        self
    }
}

/// Instance schemas: create and update (spec.md "Service Instance Schema Object").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceInstanceSchema {
    /// `create`: the parameters of a provision.
    #[serde(default, skip_serializing_if = "is_none")]
    pub create: Option<InputParametersSchema>,
    /// `update`: the parameters of an update.
    #[serde(default, skip_serializing_if = "is_none")]
    pub update: Option<InputParametersSchema>,
}

/// Binding schemas: create (spec.md "Service Binding Schema Object").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceBindingSchema {
    /// `create`: the parameters of a bind.
    #[serde(default, skip_serializing_if = "is_none")]
    pub create: Option<InputParametersSchema>,
}

/// `{"parameters": <JSON schema>}` (spec.md "Input Parameters Schema Object").
///
/// The schema MUST declare `$schema`, MUST NOT use external references and MUST NOT exceed
/// 64 kB; [`Catalog::validate`](super::Catalog::validate) checks the first and the last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputParametersSchema {
    /// `parameters`: the JSON schema of the parameters object (platforms support draft-04 at
    /// least).
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
