//! The `context` object and its platform profiles.
//!
//! Spec: spec.md "Context Object", profile.md "Context Object" (Cloud Foundry, Kubernetes);
//! IBM Cloud: rules.md §15, §17.2. Every field the platform sends is kept, typed or not, so a
//! context survives a round trip unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Platform-specific contextual information sent on provision, update and bind (spec.md
/// "Context Object"; bind since 2.13).
///
/// The variant is chosen by the `platform` field. Unknown platforms, and contexts without a
/// `platform`, land in [`Context::Other`]; nothing is ever rejected or dropped. Which profile
/// fields are mandatory depends on the platform's API version, so none is required here
/// (rules.md §15). A typed profile field of the wrong JSON type keeps the whole object
/// in [`Context::Other`] rather than failing the request.
///
/// # Example
///
/// ```
/// use osb_core::Context;
///
/// let ctx: Context = serde_json::from_str(
///     r#"{"platform":"ibmcloud","account_id":"acc","crn":"crn:v1:x","region":"us-south"}"#,
/// )?;
/// let Context::IbmCloud(ibm) = &ctx else { panic!("expected ibmcloud") };
/// assert_eq!(ibm.account_id.as_deref(), Some("acc"));
/// assert_eq!(ibm.extra["region"], "us-south");
/// assert_eq!(ctx.platform(), Some("ibmcloud"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Context {
    /// `platform: "cloudfoundry"`.
    CloudFoundry(CloudFoundryContext),
    /// `platform: "kubernetes"`.
    Kubernetes(KubernetesContext),
    /// `platform: "ibmcloud"` (IBM Cloud's resource controller).
    IbmCloud(IbmCloudContext),
    /// Any other platform: the whole object, `platform` included.
    Other(Map<String, Value>),
}

/// The Cloud Foundry profile (profile.md "Cloud Foundry Context Object").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CloudFoundryContext {
    /// `organization_guid` (2.11): the org's GUID.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub organization_guid: Option<String>,
    /// `organization_name` (2.15): the org's name; may change between requests.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub organization_name: Option<String>,
    /// `space_guid` (2.11): the space's GUID.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub space_guid: Option<String>,
    /// `space_name` (2.15): the space's name; may change between requests.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub space_name: Option<String>,
    /// `instance_name` (2.15): the instance's name; may change between requests.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub instance_name: Option<String>,
    /// Every other field, kept as sent: `organization_annotations`, `space_annotations`,
    /// `instance_annotations` (2.16) and anything newer.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The Kubernetes profile (profile.md "Kubernetes Context Object").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KubernetesContext {
    /// `namespace` (2.11): the namespace the instance lives in.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub namespace: Option<String>,
    /// `clusterid` (2.14): the cluster's id (spelled as the profile spells it).
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub clusterid: Option<String>,
    /// `instance_name` (2.15): the instance's name; may change between requests.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub instance_name: Option<String>,
    /// Every other field, kept as sent: `namespace_annotations`, `instance_annotations` (2.16)
    /// and anything newer.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// IBM Cloud's context, `platform: "ibmcloud"` (IBM Cloud's broker documentation;
/// rules.md §17.2). IBM Cloud sends it on provision, update and bind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IbmCloudContext {
    /// `account_id`: the account that owns the instance.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub account_id: Option<String>,
    /// `crn`: the instance's CRN (also its `:instance_id` in the path).
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub crn: Option<String>,
    /// `resource_group_crn`: the CRN of the instance's resource group.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub resource_group_crn: Option<String>,
    /// `target_crn`: the CRN of the catalog deployment (location) the instance is made in.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub target_crn: Option<String>,
    /// `name`: the instance's name, as IBM's reference brokers read it.
    #[serde(
        default,
        deserialize_with = "crate::lenient::empty_string_as_none",
        skip_serializing_if = "crate::lenient::is_none_or_empty"
    )]
    pub name: Option<String>,
    /// Every other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Context {
    /// The `platform` value, if any (`None` when absent, empty or not a string).
    pub fn platform(&self) -> Option<&str> {
        match self {
            Self::CloudFoundry(_) => Some(PLATFORM_CLOUDFOUNDRY),
            Self::Kubernetes(_) => Some(PLATFORM_KUBERNETES),
            Self::IbmCloud(_) => Some(PLATFORM_IBMCLOUD),
            // `"platform": ""` is "not provided" like every empty string (rules.md §16).
            Self::Other(map) => map
                .get("platform")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty()),
        }
    }

    /// The fields that identify where a resource lives, for idempotency comparisons.
    ///
    /// Names and annotations may change between retries (profile.md) and are excluded; this
    /// is the project's definition of "identical" (rules.md §13).
    pub fn identifying_fields(&self) -> Vec<(&'static str, Option<&str>)> {
        match self {
            Self::CloudFoundry(c) => vec![
                ("platform", Some(PLATFORM_CLOUDFOUNDRY)),
                ("organization_guid", c.organization_guid.as_deref()),
                ("space_guid", c.space_guid.as_deref()),
            ],
            Self::Kubernetes(c) => vec![
                ("platform", Some(PLATFORM_KUBERNETES)),
                ("namespace", c.namespace.as_deref()),
                ("clusterid", c.clusterid.as_deref()),
            ],
            Self::IbmCloud(c) => vec![
                ("platform", Some(PLATFORM_IBMCLOUD)),
                ("account_id", c.account_id.as_deref()),
                ("crn", c.crn.as_deref()),
                ("resource_group_crn", c.resource_group_crn.as_deref()),
            ],
            Self::Other(_) => vec![("platform", self.platform())],
        }
    }

    /// Whether two contexts name the same place (see [`Context::identifying_fields`]).
    pub fn identifies_same(&self, other: &Context) -> bool {
        self.identifying_fields() == other.identifying_fields()
    }
}

/// Whether two optional contexts name the same place (rules.md §13): two absent contexts do, an
/// absent and a present one do not.
pub(crate) fn identifies_same(a: Option<&Context>, b: Option<&Context>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.identifies_same(b),
        _ => false,
    }
}

const PLATFORM_CLOUDFOUNDRY: &str = "cloudfoundry";
const PLATFORM_KUBERNETES: &str = "kubernetes";
const PLATFORM_IBMCLOUD: &str = "ibmcloud";

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        let platform = map
            .get("platform")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let typed = |map: Map<String, Value>| -> Result<Self, D::Error> {
            let mut map = map;
            map.remove("platform");
            let value = Value::Object(map);
            Ok(match platform.as_deref() {
                Some(PLATFORM_CLOUDFOUNDRY) => Self::CloudFoundry(
                    serde_json::from_value(value).map_err(serde::de::Error::custom)?,
                ),
                Some(PLATFORM_KUBERNETES) => Self::Kubernetes(
                    serde_json::from_value(value).map_err(serde::de::Error::custom)?,
                ),
                _ => {
                    Self::IbmCloud(serde_json::from_value(value).map_err(serde::de::Error::custom)?)
                }
            })
        };
        match platform.as_deref() {
            Some(PLATFORM_CLOUDFOUNDRY | PLATFORM_KUBERNETES | PLATFORM_IBMCLOUD) => {
                // A typed field of the wrong JSON type (e.g. `"crn": 5`) keeps the whole object
                // rather than failing the request: the context is informational.
                typed(map.clone()).or(Ok(Self::Other(map)))
            }
            _ => Ok(Self::Other(map)),
        }
    }
}

impl Serialize for Context {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn with_platform<T: Serialize, S: Serializer>(
            platform: &str,
            value: &T,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            let mut map = match serde_json::to_value(value).map_err(serde::ser::Error::custom)? {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            map.insert("platform".to_owned(), Value::String(platform.to_owned()));
            map.serialize(serializer)
        }
        match self {
            Self::CloudFoundry(c) => with_platform(PLATFORM_CLOUDFOUNDRY, c, serializer),
            Self::Kubernetes(c) => with_platform(PLATFORM_KUBERNETES, c, serializer),
            Self::IbmCloud(c) => with_platform(PLATFORM_IBMCLOUD, c, serializer),
            Self::Other(map) => map.serialize(serializer),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cloud_foundry_round_trip_keeps_annotations() {
        let input = json!({
            "platform": "cloudfoundry",
            "organization_guid": "org", "organization_name": "o",
            "space_guid": "space", "space_name": "s", "instance_name": "i",
            "instance_annotations": {"a": "b"}
        });
        let ctx: Context = serde_json::from_value(input.clone()).unwrap();
        assert!(
            matches!(&ctx, Context::CloudFoundry(c) if c.space_guid.as_deref() == Some("space"))
        );
        assert_eq!(serde_json::to_value(&ctx).unwrap(), input);
    }

    #[test]
    fn unknown_platform_is_kept_whole() {
        let input = json!({"platform": "acme", "zone": 3});
        let ctx: Context = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(ctx.platform(), Some("acme"));
        assert_eq!(serde_json::to_value(&ctx).unwrap(), input);
        let none: Context = serde_json::from_value(json!({})).unwrap();
        assert_eq!(none.platform(), None);
    }

    #[test]
    fn wrongly_typed_known_field_falls_back_to_other() {
        let input = json!({"platform": "kubernetes", "namespace": 5});
        let ctx: Context = serde_json::from_value(input.clone()).unwrap();
        assert!(matches!(ctx, Context::Other(_)));
        assert_eq!(serde_json::to_value(&ctx).unwrap(), input);
    }

    #[test]
    fn names_do_not_change_identity() {
        let a: Context = serde_json::from_value(
            json!({"platform":"kubernetes","namespace":"n","clusterid":"c","instance_name":"x"}),
        )
        .unwrap();
        let b: Context = serde_json::from_value(
            json!({"platform":"kubernetes","namespace":"n","clusterid":"c","instance_name":"y"}),
        )
        .unwrap();
        let c: Context = serde_json::from_value(
            json!({"platform":"kubernetes","namespace":"other","clusterid":"c"}),
        )
        .unwrap();
        assert!(a.identifies_same(&b));
        assert!(!a.identifies_same(&c));
    }
}
