//! Generators for request bodies: a valid body of each kind mutated field by field (removed,
//! emptied, wrongly typed, huge, unicode, nested deep, duplicated, out-of-range numbers), its
//! text mutated byte by byte, or random bytes; each with the status its stage must answer.

use proptest::prelude::*;
use proptest::sample::select;

use super::Verdict;
use super::body_kinds::BodyKind;
use super::body_kinds::Kind;

/// JSON as text is written: objects may repeat keys, numbers keep their spelling.
#[derive(Debug, Clone)]
pub enum Json {
    /// A literal: number, `true`, `false`, `null`.
    Raw(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Self::Raw(raw) => out.push_str(raw),
            Self::Str(s) => out.push_str(&serde_json::Value::from(s.as_str()).to_string()),
            Self::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Self::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    Self::Str(key.clone()).write(out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }

    pub fn str(s: &str) -> Self {
        Self::Str(s.to_owned())
    }

    pub fn obj(fields: &[(&str, Json)]) -> Self {
        Self::Obj(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }
}

/// A body as sent, the class of mutation, and the verdict with the status it must get.
#[derive(Clone)]
pub struct Body {
    pub text: Vec<u8>,
    pub mutation: &'static str,
    pub verdict: Verdict,
    pub status: u16,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = String::from_utf8_lossy(&self.text);
        let shown: String = text.chars().take(2_000).collect();
        f.debug_struct("Body")
            .field("text", &shown)
            .field("len", &self.text.len())
            .field("mutation", &self.mutation)
            .field("verdict", &self.verdict)
            .field("status", &self.status)
            .finish()
    }
}

/// Strings: plain, empty, unicode, huge.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9-]{1,12}",
        1 => Just(String::new()),
        // A value a description must never repeat (it may be a secret in `parameters`).
        1 => "[a-z ,:\"]{0,6}hunter2[a-z ,\"]{0,6}",
        3 => any::<String>(),
        1 => (1_usize..200_000).prop_map(|n| "é".repeat(n / 2)),
    ]
}

/// Numbers, in and far out of range.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        select(vec![
            "1e400",
            "-1e400",
            "18446744073709551616",
            "-9223372036854775809",
            "-0",
            "0.0e-999",
            "123456789012345678901234567890",
            "1E+2",
            "4.9e-324",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Any JSON value, nested a little.
pub fn value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        number().prop_map(Json::Raw),
        select(vec!["true", "false", "null"]).prop_map(|s| Json::Raw(s.to_owned())),
        text().prop_map(Json::Str),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Arr),
            prop::collection::vec(("[a-z_]{0,8}", inner), 0..4).prop_map(Json::Obj),
        ]
    })
}

/// `depth` arrays and objects inside each other around `leaf`, as one literal (a tree this deep
/// would overflow the test's own stack when rendered or dropped).
pub fn nested(depth: usize, leaf: Json) -> Json {
    let mut text = String::with_capacity(depth * 6);
    for level in 0..depth {
        text.push_str(if level % 2 == 0 { "{\"k\":" } else { "[" });
    }
    leaf.write(&mut text);
    for level in (0..depth).rev() {
        text.push(if level % 2 == 0 { '}' } else { ']' });
    }
    Json::Raw(text)
}

/// The verdict on `value` in a field of `kind`, with the status of a refusal.
fn judge(kind: Kind, value: &Json, valid: &Json) -> (Verdict, u16) {
    use Verdict::{Invalid, Unknown, Valid};
    let null = matches!(value, Json::Raw(r) if r == "null");
    let verdict = match (kind, value) {
        (Kind::CatalogId { required }, Json::Str(s)) if s.is_empty() => {
            if required {
                Invalid
            } else {
                Valid
            }
        }
        (Kind::CatalogId { .. }, Json::Str(s)) => match valid {
            Json::Str(v) if v == s => Valid,
            _ => Invalid,
        },
        (Kind::Text { required }, Json::Str(s)) => {
            if required && s.is_empty() {
                Invalid
            } else {
                Valid
            }
        }
        (Kind::Bool { .. }, Json::Raw(r)) if r == "true" || r == "false" => Valid,
        (Kind::CatalogId { required } | Kind::Text { required } | Kind::Bool { required }, _)
            if null =>
        {
            if required {
                Invalid
            } else {
                Valid
            }
        }
        (Kind::CatalogId { .. } | Kind::Text { .. } | Kind::Bool { .. }, _) => Invalid,
        (Kind::Object | Kind::Context, _) if null => Valid,
        (Kind::Object | Kind::Context, Json::Obj(_)) => Unknown,
        (Kind::Object | Kind::Context, _) => Invalid,
        (Kind::Opaque, _) => Unknown,
    };
    (verdict, 400)
}

fn fields(body: &Json) -> Vec<(String, Json)> {
    match body {
        Json::Obj(fields) => fields.clone(),
        _ => Vec::new(),
    }
}

fn mutated(text: String, mutation: &'static str, (verdict, status): (Verdict, u16)) -> Body {
    Body {
        text: text.into_bytes(),
        mutation,
        verdict,
        status,
    }
}

/// Bodies of `kind`: valid, or mutated in one place.
pub fn body(kind: BodyKind) -> impl Strategy<Value = Body> {
    let valid = (kind.valid)();
    let n = kind.fields.len();
    let base = fields(&valid);
    let ok = mutated(valid.render(), "valid", (Verdict::Valid, 400));

    let b = base.clone();
    let remove = (0..n).prop_map(move |i| {
        let (name, field) = kind.fields[i];
        let mut f = b.clone();
        f.retain(|(k, _)| k != name);
        let required = matches!(
            field,
            Kind::CatalogId { required: true }
                | Kind::Text { required: true }
                | Kind::Bool { required: true }
        );
        let verdict = if required {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        mutated(Json::Obj(f).render(), "remove", (verdict, 400))
    });

    let b = base.clone();
    let replace = (0..n, value()).prop_map(move |(i, value)| {
        let (name, field) = kind.fields[i];
        let mut f = b.clone();
        let slot = f.iter_mut().find(|(k, _)| k == name);
        let judged = match slot {
            Some((_, old)) => {
                let judged = judge(field, &value, old);
                *old = value;
                judged
            }
            None => (Verdict::Unknown, 400),
        };
        mutated(Json::Obj(f).render(), "replace", judged)
    });

    // Duplicate keys: serde's derive refuses a repeated known field.
    let b = base.clone();
    let duplicate = (0..n, value()).prop_map(move |(i, value)| {
        let mut f = b.clone();
        f.push((kind.fields[i].0.to_owned(), value));
        mutated(Json::Obj(f).render(), "duplicate", (Verdict::Unknown, 400))
    });

    // Deep nesting inside `parameters`: shallow is accepted, past serde's limit of 128 it is a
    // 400, in between it depends on the depth limit in force. Inside an unknown (vendor) field
    // serde skips it without a limit, so only a depth limit refuses it: either answer.
    let b = base.clone();
    let depth = prop_oneof![4 => 1_usize..=200, 1 => 1_000_usize..=20_000];
    let deep = (depth, value(), prop::bool::ANY).prop_map(move |(depth, leaf, vendor)| {
        let mut f = b.clone();
        let key = if vendor || kind.name == "state" {
            "x_vendor_extension"
        } else {
            "parameters"
        };
        f.retain(|(k, _)| k != key);
        f.push((
            key.to_owned(),
            Json::Obj(vec![("deep".to_owned(), nested(depth, leaf))]),
        ));
        let verdict = match depth {
            141.. if key == "parameters" => Verdict::Invalid,
            _ => Verdict::Unknown,
        };
        mutated(Json::Obj(f).render(), "deep", (verdict, 400))
    });

    // `context.platform` of another type (profile.md "Context Object": a string).
    let b = base.clone();
    let platform = value().prop_map(move |value| {
        let mut f = b.clone();
        let verdict = match &value {
            Json::Str(_) => Verdict::Valid,
            Json::Raw(r) if r == "null" => Verdict::Valid,
            _ => Verdict::Invalid,
        };
        for (k, v) in &mut f {
            if k == "context" {
                *v = Json::Obj(vec![("platform".to_owned(), value.clone())]);
            }
        }
        let verdict = if f.iter().any(|(k, _)| k == "context") {
            verdict
        } else {
            Verdict::Valid
        };
        mutated(Json::Obj(f).render(), "platform", (verdict, 400))
    });

    // Near the size limit (1 MiB): the size stage decides.
    let b = base.clone();
    let huge = (900_000_usize..1_200_000).prop_map(move |n| {
        let mut f = b.clone();
        let key = if kind.name == "state" {
            "x_vendor_extension"
        } else {
            "parameters"
        };
        f.retain(|(k, _)| k != key);
        f.push((
            key.to_owned(),
            Json::Obj(vec![("blob".to_owned(), Json::Str("x".repeat(n)))]),
        ));
        mutated(Json::Obj(f).render(), "huge", (Verdict::Valid, 400))
    });

    // `maintenance_info.version` other than the plan's (spec.md "Provisioning": 422).
    let b = base.clone();
    let version = prop_oneof![1 => text(), 1 => "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}", 1 => Just("1.0.0".to_owned())];
    let maintenance = version.prop_map(move |version| {
        let mut f = b.clone();
        // `{"version": ""}` is "not provided"; a version that is not SemVer 2.0 is a 400 of the
        // body stage (SemVer forbids leading zeros), another SemVer version than the plan's a 422 of the catalog stage.
        let semver = version.split(['-', '+']).next().is_some_and(|core| {
            let parts: Vec<&str> = core.split('.').collect();
            parts.len() == 3
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && p.bytes().all(|b| b.is_ascii_digit())
                        && (*p == "0" || !p.starts_with('0'))
                })
        });
        let (verdict, status) = match kind.name {
            "bind" | "state" => (Verdict::Valid, 400), // an unknown field there
            _ if version.is_empty() => (Verdict::Valid, 400),
            _ if !semver => (Verdict::Invalid, 400),
            "provision" if version != "1.0.0" => (Verdict::Invalid, 422),
            "provision" => (Verdict::Valid, 422),
            _ => (Verdict::Unknown, 422),
        };
        f.retain(|(k, _)| k != "maintenance_info");
        f.push((
            "maintenance_info".to_owned(),
            Json::obj(&[("version", Json::Str(version))]),
        ));
        mutated(Json::Obj(f).render(), "maintenance", (verdict, status))
    });

    let valid_text = valid.render().into_bytes();
    let bytes =
        (any::<prop::sample::Index>(), any::<u8>(), 0_u8..3).prop_map(move |(at, byte, op)| {
            let mut text = valid_text.clone();
            let i = at.index(text.len() + 1);
            match op {
                0 => text.truncate(i),
                1 => text.insert(i, byte),
                _ => {
                    if i < text.len() {
                        text.remove(i);
                    }
                }
            }
            Body {
                text,
                mutation: "bytes",
                verdict: Verdict::Unknown,
                status: 400,
            }
        });
    let random = prop::collection::vec(any::<u8>(), 0..512).prop_map(|text| Body {
        text,
        mutation: "random",
        verdict: Verdict::Unknown,
        status: 400,
    });

    prop_oneof![
        1 => Just(ok),
        2 => remove,
        4 => replace,
        1 => duplicate,
        1 => deep,
        1 => platform,
        1 => huge,
        1 => maintenance,
        2 => bytes,
        1 => random,
    ]
}
