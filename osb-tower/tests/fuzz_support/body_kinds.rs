//! The four kinds of request body the fuzz suite mutates, each as a valid body and a table of
//! its fields with what the OSB model requires of them.

use super::json_gen::Json;

/// What a field must be, as the OSB model reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A catalog id (`service_id`, `plan_id`): any other string is a 400.
    CatalogId {
        required: bool,
    },
    /// A string; an empty one counts as absent.
    Text {
        required: bool,
    },
    Bool {
        required: bool,
    },
    /// An optional object (`parameters`, `bind_resource`, `maintenance_info`).
    Object,
    /// `context`: an object whose `platform`, if any, is a string.
    Context,
    /// Informational (`previous_values`): no verdict on its shape.
    Opaque,
}

/// One kind of body: its valid form and its fields.
#[derive(Debug, Clone, Copy)]
pub struct BodyKind {
    pub name: &'static str,
    pub fields: &'static [(&'static str, Kind)],
    pub valid: fn() -> Json,
}

fn context() -> Json {
    Json::obj(&[
        ("platform", Json::str("cloudfoundry")),
        ("organization_guid", Json::str("org")),
        ("space_guid", Json::str("space")),
    ])
}

fn parameters() -> Json {
    Json::obj(&[("size", Json::Raw("3".into())), ("name", Json::str("db"))])
}

pub const PROVISION: BodyKind = BodyKind {
    name: "provision",
    fields: &[
        ("service_id", Kind::CatalogId { required: true }),
        ("plan_id", Kind::CatalogId { required: true }),
        ("organization_guid", Kind::Text { required: false }),
        ("space_guid", Kind::Text { required: false }),
        ("context", Kind::Context),
        ("parameters", Kind::Object),
        ("maintenance_info", Kind::Object),
    ],
    valid: || {
        Json::obj(&[
            ("service_id", Json::str("svc-db")),
            ("plan_id", Json::str("plan-small")),
            ("organization_guid", Json::str("org")),
            ("space_guid", Json::str("space")),
            ("context", context()),
            ("parameters", parameters()),
            (
                "maintenance_info",
                Json::obj(&[("version", Json::str("1.0.0"))]),
            ),
        ])
    },
};

pub const UPDATE: BodyKind = BodyKind {
    name: "update",
    fields: &[
        ("service_id", Kind::CatalogId { required: true }),
        ("plan_id", Kind::CatalogId { required: false }),
        ("context", Kind::Context),
        ("parameters", Kind::Object),
        ("previous_values", Kind::Opaque),
    ],
    valid: || {
        Json::obj(&[
            ("service_id", Json::str("svc-db")),
            ("plan_id", Json::str("plan-small")),
            ("context", context()),
            ("parameters", parameters()),
            (
                "previous_values",
                Json::obj(&[("plan_id", Json::str("plan-small"))]),
            ),
        ])
    },
};

pub const BIND: BodyKind = BodyKind {
    name: "bind",
    fields: &[
        ("service_id", Kind::CatalogId { required: true }),
        ("plan_id", Kind::CatalogId { required: true }),
        ("context", Kind::Context),
        ("bind_resource", Kind::Object),
        ("parameters", Kind::Object),
        ("app_guid", Kind::Text { required: false }),
    ],
    valid: || {
        Json::obj(&[
            ("service_id", Json::str("svc-db")),
            ("plan_id", Json::str("plan-small")),
            ("context", context()),
            (
                "bind_resource",
                Json::obj(&[("app_guid", Json::str("app-1"))]),
            ),
            ("parameters", parameters()),
        ])
    },
};

pub const STATE: BodyKind = BodyKind {
    name: "state",
    fields: &[
        ("enabled", Kind::Bool { required: true }),
        ("initiator_id", Kind::Text { required: false }),
        ("reason_code", Kind::Text { required: false }),
    ],
    valid: || {
        Json::obj(&[
            ("enabled", Json::Raw("false".into())),
            ("initiator_id", Json::str("IBMid-1")),
            ("reason_code", Json::str("IBMCLOUD_ACCT_SUSPEND")),
        ])
    },
};
