//! `Catalog::validate`: every rule of spec.md "Catalog Management" that a broker can get wrong.

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

use super::{Catalog, InputParametersSchema, Plan, Schemas};

/// The largest JSON schema the spec allows (spec.md "Schema Object": at most 64 kB).
const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// The values `requires` may hold (spec.md "Service Offering Object").
const REQUIRES: [&str; 3] = ["syslog_drain", "route_forwarding", "volume_mount"];

/// One thing wrong with a catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogProblem {
    /// Two offerings share an id.
    #[error("duplicate service id {0:?}")]
    DuplicateServiceId(String),
    /// Two offerings share a name.
    #[error("duplicate service name {0:?}")]
    DuplicateServiceName(String),
    /// Two plans (in any offerings) share an id.
    #[error("duplicate plan id {0:?}")]
    DuplicatePlanId(String),
    /// Two plans of one offering share a name.
    #[error("duplicate plan name {plan:?} in service {service:?}")]
    DuplicatePlanName {
        /// The offering's id.
        service: String,
        /// The plan name.
        plan: String,
    },
    /// A required string is empty.
    #[error("empty required field {field} in {location}")]
    EmptyField {
        /// Where: `service <id>` or `plan <id>`.
        location: String,
        /// The field's name.
        field: &'static str,
    },
    /// An offering has no plans.
    #[error("service {0:?} has no plans")]
    NoPlans(String),
    /// `requires` holds a value outside the spec's three.
    #[error("service {service:?} requires unknown permission {value:?}")]
    UnknownRequires {
        /// The offering's id.
        service: String,
        /// The unknown value.
        value: String,
    },
    /// `maintenance_info.version` is not SemVer 2.0.
    #[error("plan {plan:?} has maintenance_info.version {version:?}, which is not SemVer 2.0")]
    InvalidMaintenanceVersion {
        /// The plan's id.
        plan: String,
        /// The version given.
        version: String,
    },
    /// A schema lacks `$schema`.
    #[error("plan {plan:?} schema {schema} has no $schema")]
    SchemaWithoutDollarSchema {
        /// The plan's id.
        plan: String,
        /// Which schema: `service_instance.create`, …
        schema: &'static str,
    },
    /// A schema is larger than 64 kB.
    #[error("plan {plan:?} schema {schema} is {size} bytes, more than 64 kB")]
    SchemaTooLarge {
        /// The plan's id.
        plan: String,
        /// Which schema.
        schema: &'static str,
        /// Its serialised size.
        size: usize,
    },
}

/// Every problem [`Catalog::validate`] found, in catalog order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCatalog {
    problems: Vec<CatalogProblem>,
}

impl InvalidCatalog {
    /// The problems found (never empty).
    pub fn problems(&self) -> &[CatalogProblem] {
        &self.problems
    }
}

impl fmt::Display for InvalidCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid catalog: ")?;
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidCatalog {}

/// Why [`Catalog::from_json`] refused a catalog document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FromJsonError {
    /// The document is not a catalog in the spec's JSON.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The catalog breaks the spec's rules.
    #[error(transparent)]
    Invalid(#[from] InvalidCatalog),
}

/// A catalog document that is malformed JSON or not a catalog; its
/// [`source`](std::error::Error::source) says what the parser expected, and where.
#[derive(Debug, thiserror::Error)]
#[error("the document is not a catalog in the spec's JSON")]
pub struct JsonError(#[source] serde_json::Error);

impl JsonError {
    /// The line (from 1) where the document went wrong.
    pub fn line(&self) -> usize {
        self.0.line()
    }

    /// The column (from 1) where the document went wrong.
    pub fn column(&self) -> usize {
        self.0.column()
    }
}

impl Catalog {
    /// Reads a catalog from its JSON (the body of `GET /v2/catalog`, e.g. a file included
    /// with `include_str!`) and [validates](Self::validate) it.
    ///
    /// # Errors
    ///
    /// [`FromJsonError`]: the JSON is malformed or not a catalog, or the catalog is invalid.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_core::catalog::{Catalog, FromJsonError};
    ///
    /// let json = r#"{"services": [{"id": "s", "name": "db", "description": "A db", "bindable": true,
    ///     "plans": [{"id": "p", "name": "small", "description": "Small"}]}]}"#;
    /// assert_eq!(Catalog::from_json(json)?.services.len(), 1);
    /// let Err(FromJsonError::Json(err)) = Catalog::from_json(r#"{"services": [{"id": "s"}]}"#) else {
    ///     panic!("not a catalog");
    /// };
    /// assert_eq!((err.line(), err.column()), (1, 25)); // where the offering ends unfinished
    /// let no_plans = r#"{"services": [{"id": "s", "name": "db", "description": "A db", "bindable": true, "plans": []}]}"#;
    /// assert!(matches!(Catalog::from_json(no_plans), Err(FromJsonError::Invalid(_))));
    /// # Ok::<(), FromJsonError>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Self, FromJsonError> {
        let catalog: Self = serde_json::from_str(json).map_err(JsonError)?;
        catalog.validate()?;
        Ok(catalog)
    }

    /// Checks the catalog against the spec and returns every problem at once.
    ///
    /// # Errors
    ///
    /// [`InvalidCatalog`] listing each problem: duplicate offering ids or names, duplicate plan
    /// ids, duplicate plan names within an offering, empty required fields, an offering without
    /// plans, `requires` values outside the spec's three, a `maintenance_info.version` that is
    /// not SemVer 2.0, schemas without `$schema` or over 64 kB.
    ///
    /// # Example
    ///
    /// ```
    /// use osb_core::catalog::{Catalog, CatalogProblem, Plan, Service};
    ///
    /// let good = Catalog::new(vec![Service::new("s", "db", "A db", true).with_plan(Plan::new("p", "small", "Small"))]);
    /// assert!(good.validate().is_ok());
    ///
    /// let bad = Catalog::new(vec![Service::new("s", "db", "A db", true)]);
    /// let err = bad.validate().unwrap_err();
    /// assert_eq!(err.problems(), [CatalogProblem::NoPlans("s".into())]);
    /// ```
    pub fn validate(&self) -> Result<(), InvalidCatalog> {
        let mut problems = Vec::new();
        let mut service_ids = HashSet::new();
        let mut service_names = HashSet::new();
        let mut plan_ids = HashSet::new();
        for service in &self.services {
            let location = format!("service {:?}", service.id);
            for (field, value) in [
                ("id", &service.id),
                ("name", &service.name),
                ("description", &service.description),
            ] {
                if value.is_empty() {
                    problems.push(CatalogProblem::EmptyField {
                        location: location.clone(),
                        field,
                    });
                }
            }
            if !service_ids.insert(service.id.as_str()) {
                problems.push(CatalogProblem::DuplicateServiceId(service.id.clone()));
            }
            if !service_names.insert(service.name.as_str()) {
                problems.push(CatalogProblem::DuplicateServiceName(service.name.clone()));
            }
            for value in &service.requires {
                if !REQUIRES.contains(&value.as_str()) {
                    problems.push(CatalogProblem::UnknownRequires {
                        service: service.id.clone(),
                        value: value.clone(),
                    });
                }
            }
            if service.plans.is_empty() {
                problems.push(CatalogProblem::NoPlans(service.id.clone()));
            }
            let mut plan_names = HashSet::new();
            for plan in &service.plans {
                if !plan_ids.insert(plan.id.as_str()) {
                    problems.push(CatalogProblem::DuplicatePlanId(plan.id.clone()));
                }
                if !plan_names.insert(plan.name.as_str()) {
                    problems.push(CatalogProblem::DuplicatePlanName {
                        service: service.id.clone(),
                        plan: plan.name.clone(),
                    });
                }
                validate_plan(plan, &mut problems);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidCatalog { problems })
        }
    }
}

fn validate_plan(plan: &Plan, problems: &mut Vec<CatalogProblem>) {
    let location = format!("plan {:?}", plan.id);
    for (field, value) in [
        ("id", &plan.id),
        ("name", &plan.name),
        ("description", &plan.description),
    ] {
        if value.is_empty() {
            problems.push(CatalogProblem::EmptyField {
                location: location.clone(),
                field,
            });
        }
    }
    if let Some(info) = &plan.maintenance_info
        && semver::Version::parse(&info.version).is_err()
    {
        problems.push(CatalogProblem::InvalidMaintenanceVersion {
            plan: plan.id.clone(),
            version: info.version.clone(),
        });
    }
    if let Some(schemas) = &plan.schemas {
        for (name, schema) in schema_list(schemas) {
            validate_schema(&plan.id, name, schema, problems);
        }
    }
}

fn schema_list(schemas: &Schemas) -> Vec<(&'static str, &InputParametersSchema)> {
    let mut list = Vec::new();
    if let Some(instance) = &schemas.service_instance {
        if let Some(create) = &instance.create {
            list.push(("service_instance.create", create));
        }
        if let Some(update) = &instance.update {
            list.push(("service_instance.update", update));
        }
    }
    if let Some(create) = schemas
        .service_binding
        .as_ref()
        .and_then(|b| b.create.as_ref())
    {
        list.push(("service_binding.create", create));
    }
    list
}

fn validate_schema(
    plan: &str,
    schema: &'static str,
    value: &InputParametersSchema,
    problems: &mut Vec<CatalogProblem>,
) {
    let Some(parameters) = &value.parameters else {
        return;
    };
    if parameters.get("$schema").and_then(Value::as_str).is_none() {
        problems.push(CatalogProblem::SchemaWithoutDollarSchema {
            plan: plan.to_owned(),
            schema,
        });
    }
    let size = parameters.to_string().len();
    if size > MAX_SCHEMA_BYTES {
        problems.push(CatalogProblem::SchemaTooLarge {
            plan: plan.to_owned(),
            schema,
            size,
        });
    }
}
