//! Generators for the request line and the headers: id segments, paths, query strings and header
//! values, each with the [`Verdict`] the service must reach on it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use proptest::sample::select;

use super::Verdict;
use osb_tower::Endpoint;

/// An id segment as sent (percent-encoded), what it decodes to when well-formed, and its verdict.
#[derive(Debug, Clone)]
pub struct Id {
    pub raw: String,
    pub decoded: Option<String>,
    pub verdict: Verdict,
}

impl Id {
    fn valid(raw: String, decoded: String) -> Self {
        Self {
            raw,
            decoded: Some(decoded),
            verdict: Verdict::Valid,
        }
    }

    fn invalid(raw: String) -> Self {
        Self {
            raw,
            decoded: None,
            verdict: Verdict::Invalid,
        }
    }
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// Ids: plain, IBM CRNs with `%3A`/`%2F`, any encoded unicode (control characters refused),
/// huge, malformed escapes, bytes that are not UTF-8, and random characters of a path segment.
pub fn id() -> impl Strategy<Value = Id> {
    let plain = "[A-Za-z0-9._~-]{1,40}".prop_map(|s| Id::valid(s.clone(), s));
    let crn = ("[a-z-]{1,12}", "[0-9a-f]{8}", "[0-9a-f-]{36}").prop_map(|(svc, acct, guid)| {
        let id = format!("crn:v1:bluemix:public:{svc}:us-south:a/{acct}:{guid}::");
        Id::valid(encode(&id), id)
    });
    let unicode = any::<String>()
        .prop_filter("ids are not empty", |s| !s.is_empty())
        .prop_map(|s| {
            let raw = encode(&s);
            if s.chars().any(char::is_control) {
                Id::invalid(raw)
            } else {
                Id::valid(raw, s)
            }
        });
    let huge = (1_usize..20_000).prop_map(|n| Id::valid("x".repeat(n), "x".repeat(n)));
    let bad_escape = (
        "[a-z0-9]{0,8}",
        "(%|%[0-9a-fA-F]|%[g-zG-Z%][0-9a-z]?)",
        "[a-z]{0,4}",
    )
        .prop_map(|(a, escape, b)| {
            // A trailing hex digit after `%X` would complete the escape: keep `b` non-hex.
            let b: String = b.chars().filter(|c| !c.is_ascii_hexdigit()).collect();
            Id::invalid(format!("{a}{escape}{b}"))
        });
    let not_utf8 = select(vec!["%FF", "%C3%28", "%80", "%ED%A0%80", "%F8%88%80%80%80"])
        .prop_map(|s| Id::invalid(format!("a{s}b")));
    let control = prop_oneof![0_u32..0x20, Just(0x7F), 0x80_u32..0xA0]
        .prop_map(|c| Id::invalid(encode(&format!("a{}b", char::from_u32(c).unwrap()))));
    let random = "[A-Za-z0-9._~!$&'()*+,;=:@%-]{1,60}".prop_map(|raw| Id {
        raw,
        decoded: None,
        verdict: Verdict::Unknown,
    });
    prop_oneof![
        3 => plain,
        2 => crn,
        3 => unicode,
        1 => huge,
        2 => bad_escape,
        1 => not_utf8,
        2 => control,
        3 => random,
    ]
}

/// A routable request line of one endpoint: its path with the given ids.
pub fn path_of(endpoint: Endpoint, instance: &str, binding: &str) -> String {
    endpoint
        .template()
        .replace(":instance_id", instance)
        .replace(":binding_id", binding)
}

pub fn endpoint() -> impl Strategy<Value = Endpoint> {
    select(vec![
        Endpoint::Catalog,
        Endpoint::Provision,
        Endpoint::Update,
        Endpoint::Deprovision,
        Endpoint::FetchInstance,
        Endpoint::LastOperation,
        Endpoint::Bind,
        Endpoint::Unbind,
        Endpoint::FetchBinding,
        Endpoint::BindingLastOperation,
        Endpoint::GetInstanceState,
        Endpoint::SetInstanceState,
    ])
}

pub fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        4 => select(vec![Method::GET, Method::PUT, Method::PATCH, Method::DELETE]),
        1 => select(vec![Method::POST, Method::HEAD, Method::OPTIONS, Method::TRACE]),
        1 => "[A-Z]{1,10}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

/// Path segments built from the route table's words, ids and odd segments (empty, `.`, `..`,
/// case and spacing variants), so most paths are near a route.
pub fn segments() -> impl Strategy<Value = Vec<String>> {
    let word = prop_oneof![
        6 => select(vec![
            "v2", "catalog", "service_instances", "service_bindings", "last_operation",
            "bluemix_v1",
        ])
        .prop_map(str::to_owned),
        2 => select(vec!["", ".", "..", "V2", "v2%2F", "v3", "catalog%20", "%2e%2e"])
            .prop_map(str::to_owned),
        3 => "[a-z0-9-]{1,12}",
    ];
    prop::collection::vec(word, 0..8)
}

/// What the route table makes of a path's segments (an oracle written from the table, not the
/// router): the endpoint, or 404/405.
pub fn route_model(method: &Method, segments: &[String]) -> Result<Endpoint, u16> {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let id = |x: &str| !x.is_empty();
    let (by_method, _): (&[(Method, Endpoint)], ()) = match s.as_slice() {
        ["v2", "catalog"] => (&[(Method::GET, Endpoint::Catalog)], ()),
        ["v2", "service_instances", i] if id(i) => (
            &[
                (Method::PUT, Endpoint::Provision),
                (Method::PATCH, Endpoint::Update),
                (Method::DELETE, Endpoint::Deprovision),
                (Method::GET, Endpoint::FetchInstance),
            ],
            (),
        ),
        ["v2", "service_instances", i, "last_operation"] if id(i) => {
            (&[(Method::GET, Endpoint::LastOperation)], ())
        }
        ["v2", "service_instances", i, "service_bindings", b] if id(i) && id(b) => (
            &[
                (Method::PUT, Endpoint::Bind),
                (Method::DELETE, Endpoint::Unbind),
                (Method::GET, Endpoint::FetchBinding),
            ],
            (),
        ),
        [
            "v2",
            "service_instances",
            i,
            "service_bindings",
            b,
            "last_operation",
        ] if id(i) && id(b) => (&[(Method::GET, Endpoint::BindingLastOperation)], ()),
        ["bluemix_v1", "service_instances", i] if id(i) => (
            &[
                (Method::GET, Endpoint::GetInstanceState),
                (Method::PUT, Endpoint::SetInstanceState),
            ],
            (),
        ),
        _ => return Err(404),
    };
    by_method
        .iter()
        .find(|(m, _)| m == method)
        .map(|(_, endpoint)| *endpoint)
        .ok_or(405)
}

/// One `key=value` pair of a query string, as sent.
#[derive(Debug, Clone)]
pub struct Pair {
    pub key: String,
    pub value: String,
    /// `key=value`, `key=`, `key` or a bare `=value`.
    pub form: u8,
}

/// Query pairs: the OSB keys and others, values well-formed, empty, `+`-spaced, escaped,
/// wrongly escaped or not UTF-8, `accepts_incomplete` as any case of true/false or anything.
pub fn query() -> impl Strategy<Value = Vec<Pair>> {
    let key = prop_oneof![
        6 => select(vec!["accepts_incomplete", "service_id", "plan_id", "operation"]),
        1 => select(vec!["ACCEPTS_INCOMPLETE", "accepts_incomplete%5B%5D", "", "x", "plan_id%20"]),
    ]
    .prop_map(str::to_owned);
    let value = prop_oneof![
        3 => select(vec!["true", "false", "TRUE", "False", "", "1", "yes", "tru", "true+", "%74rue"])
            .prop_map(str::to_owned),
        3 => "[A-Za-z0-9._~+-]{0,30}",
        2 => any::<String>().prop_map(|s| encode(&s)),
        2 => "[a-z]{0,4}(%|%[0-9a-f]|%zz|%FF|%C3%28|%00)[g-z]{0,3}",
        1 => "[A-Za-z0-9._~!$'()*+,;:@/?%=-]{0,40}",
    ];
    let pair = (key, value, 0_u8..4).prop_map(|(key, value, form)| Pair { key, value, form });
    prop::collection::vec(pair, 0..6)
}

pub fn render_query(pairs: &[Pair], separator: &str) -> String {
    let rendered: Vec<String> = pairs
        .iter()
        .map(|p| match p.form {
            0 | 1 => format!("{}={}", p.key, p.value),
            2 => format!("{}=", p.key),
            _ => p.key.clone(),
        })
        .collect();
    rendered.join(separator)
}

/// A header value as sent (`None`: header absent) and its verdict.
#[derive(Debug, Clone)]
pub struct Header {
    pub value: Option<Vec<u8>>,
    pub verdict: Verdict,
}

fn header(value: Option<Vec<u8>>, verdict: Verdict) -> Header {
    Header { value, verdict }
}

/// Any bytes a header value may hold on the wire (visible ASCII, spaces, tabs, obs-text).
pub fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![8 => 0x20_u8..0x7F, 1 => Just(b'\t'), 1 => 0x80_u8..=0xFF],
        0..max,
    )
}

/// `X-Broker-API-Version`: supported (2.12 and later 2.x), absent or blank, or unsupported.
pub fn version() -> impl Strategy<Value = Header> {
    prop_oneof![
        4 => (12_u16..200).prop_map(|m| header(Some(format!("2.{m}").into_bytes()), Verdict::Valid)),
        1 => Just(header(None, Verdict::Invalid)),
        1 => select(vec!["", " ", "\t"]).prop_map(|v| header(Some(v.into()), Verdict::Invalid)),
        2 => select(vec![
            "2.11", "2.0", "1.17", "3.0", "2", "2.", ".17", "v2.17", "2,17", "2.1a", "2.17.0",
            "99999.1", "2.99999", "2.-1", "+2.17",
        ])
        .prop_map(|v| header(Some(v.into()), Verdict::Invalid)),
        1 => header_bytes(40).prop_map(|v| header(Some(v), Verdict::Unknown)),
    ]
}

/// `X-Broker-API-Originating-Identity`: `<platform> <base64 JSON>`, absent, or broken in the
/// platform, the base64 or the JSON.
pub fn originating_identity() -> impl Strategy<Value = Header> {
    let json = prop_oneof![
        Just(r#"{"user_id":"683ea748-3092-4ff4-b656-39cacc4d5360"}"#.to_owned()),
        Just(r#"{"iam_id":"IBMid-1","sub":"a@b.c","groups":["x"]}"#.to_owned()),
        any::<String>().prop_map(|s| serde_json::json!({ "user_id": s }).to_string()),
    ];
    let platform = "[a-z]{1,12}";
    let valid = (platform, json.clone()).prop_map(|(p, j)| {
        let value = format!("{p} {}", STANDARD.encode(j));
        header(Some(value.into_bytes()), Verdict::Valid)
    });
    let not_json = (platform, "[^{\\[\"0-9tfn ]{1,20}").prop_map(|(p, s)| {
        header(
            Some(format!("{p} {}", STANDARD.encode(s)).into_bytes()),
            Verdict::Invalid,
        )
    });
    let not_base64 = (platform, "[a-z]{0,8}[!*@#][a-z]{0,8}")
        .prop_map(|(p, s)| header(Some(format!("{p} {s}").into_bytes()), Verdict::Invalid));
    let one_word =
        json.prop_map(|j| header(Some(STANDARD.encode(j).into_bytes()), Verdict::Invalid));
    prop_oneof![
        4 => valid,
        2 => Just(header(None, Verdict::Valid)),
        1 => not_json,
        1 => not_base64,
        1 => one_word,
        2 => header_bytes(80).prop_map(|v| header(Some(v), Verdict::Unknown)),
    ]
}

/// `Authorization` for `Basic::new(USER, PASSWORD)`: right, wrong, absent, malformed.
pub const USER: &str = "platform";
pub const PASSWORD: &str = "s3cret-for-fuzz";

pub fn authorization() -> impl Strategy<Value = Header> {
    let basic = |user: &str, password: &str| {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))).into_bytes()
    };
    let right = basic(USER, PASSWORD);
    prop_oneof![
        10 => Just(header(Some(right), Verdict::Valid)),
        1 => Just(header(None, Verdict::Invalid)),
        2 => ("[ -~]{0,20}", "[ -~]{0,20}")
            .prop_filter("not the right pair", |(u, p)| u != USER || p != PASSWORD)
            .prop_map(move |(u, p)| header(Some(basic(&u, &p)), Verdict::Invalid)),
        1 => "Basic [A-Za-z0-9+/=!*]{0,40}".prop_map(|v| header(Some(v.into_bytes()), Verdict::Invalid)),
        1 => "Bearer [a-z.]{0,40}".prop_map(|v| header(Some(v.into_bytes()), Verdict::Invalid)),
        1 => header_bytes(60).prop_map(|v| header(Some(v), Verdict::Invalid)),
    ]
}

/// Optional headers with random values: request identity, content type, `If-None-Match`.
pub fn optional(values: Vec<&'static str>) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        2 => Just(None),
        2 => select(values).prop_map(|v| Some(v.as_bytes().to_vec())),
        1 => header_bytes(60).prop_map(Some),
    ]
}

/// `Content-Length` as declared (in-process it is only the size check's input).
pub fn content_length() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => (0_u64..2_000_000).prop_map(|n| Some(n.to_string())),
        1 => select(vec!["-1", "abc", "", "1e3", "99999999999999999999999", " 10", "0x10"])
            .prop_map(|s| Some(s.to_owned())),
    ]
}
