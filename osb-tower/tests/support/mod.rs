//! Shared test support: a recording broker with scriptable answers, and request helpers that go
//! through `tower::ServiceExt::oneshot`.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use osb_core::catalog::Catalog;
use osb_core::{
    ApiVersion, BindRequest, BindResponse, Binding, BindingLastOperation, BindingOperationState,
    BrokerError, DeprovisionRequest, DeprovisionResponse, FetchBindingRequest,
    FetchBindingResponse, FetchInstanceRequest, FetchInstanceResponse, InstanceState,
    InstanceStateBroker, InstanceStateUpdate, LastOperation, LastOperationRequest, OperationState,
    ProvisionRequest, ProvisionResponse, ProvisionedInstance, RequestContext, ServiceBroker,
    UnbindRequest, UnbindResponse, UpdateRequest, UpdateResponse, UpdatedInstance,
};
use osb_tower::OsbService;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A spec-shaped fixture file under `tests/fixtures/`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

pub fn catalog() -> Catalog {
    serde_json::from_str(&fixture("catalog.json")).unwrap()
}

/// What an outer layer (e.g. auth) put into the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker(pub String);

/// One call the broker received.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: &'static str,
    pub instance_id: String,
    pub binding_id: Option<String>,
    pub api_version: ApiVersion,
    pub accepts_incomplete: bool,
    pub originating_platform: Option<String>,
    pub request_identity: Option<String>,
    pub marker: Option<Marker>,
    /// Operation-specific detail (query ids, operation token, plan …).
    pub detail: String,
}

type Answer<T> = Mutex<Option<Box<dyn Fn() -> Result<T, BrokerError> + Send + Sync>>>;

/// A broker that records every call and answers with defaults unless told otherwise.
pub struct TestBroker {
    pub catalog: Mutex<Arc<Catalog>>,
    pub calls: Mutex<Vec<Call>>,
    pub catalog_calls: Mutex<usize>,
    pub provision: Answer<ProvisionResponse>,
    pub update: Answer<UpdateResponse>,
    pub deprovision: Answer<DeprovisionResponse>,
    pub fetch_instance: Answer<FetchInstanceResponse>,
    pub last_operation: Answer<LastOperation>,
    pub bind: Answer<BindResponse>,
    pub unbind: Answer<UnbindResponse>,
    pub fetch_binding: Answer<FetchBindingResponse>,
    pub binding_last_operation: Answer<BindingLastOperation>,
    pub catalog_error: Mutex<bool>,
    pub offers_instance_state: bool,
    pub states: Mutex<std::collections::HashMap<String, bool>>,
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::with_catalog(catalog())
    }
}

impl TestBroker {
    pub fn with_catalog(catalog: Catalog) -> Self {
        Self {
            catalog: Mutex::new(Arc::new(catalog)),
            calls: Mutex::default(),
            catalog_calls: Mutex::default(),
            provision: Mutex::default(),
            update: Mutex::default(),
            deprovision: Mutex::default(),
            fetch_instance: Mutex::default(),
            last_operation: Mutex::default(),
            bind: Mutex::default(),
            unbind: Mutex::default(),
            fetch_binding: Mutex::default(),
            binding_last_operation: Mutex::default(),
            catalog_error: Mutex::default(),
            offers_instance_state: true,
            states: Mutex::default(),
        }
    }

    pub fn without_instance_state() -> Self {
        Self {
            offers_instance_state: false,
            ..Self::default()
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn ops(&self) -> Vec<&'static str> {
        self.calls().iter().map(|c| c.op).collect()
    }

    pub fn last_call(&self) -> Call {
        self.calls().pop().expect("the broker was called")
    }

    fn record(
        &self,
        op: &'static str,
        instance_id: &str,
        binding_id: Option<&str>,
        ctx: &RequestContext,
        detail: String,
    ) {
        self.calls.lock().unwrap().push(Call {
            op,
            instance_id: instance_id.to_owned(),
            binding_id: binding_id.map(str::to_owned),
            api_version: ctx.api_version,
            accepts_incomplete: ctx.accepts_incomplete,
            originating_platform: ctx
                .originating_identity
                .as_ref()
                .map(|i| i.platform().to_owned()),
            request_identity: ctx.request_identity.as_ref().map(|i| i.as_str().to_owned()),
            marker: ctx.extensions.get::<Marker>().cloned(),
            detail,
        });
    }
}

fn answer<T>(slot: &Answer<T>, default: impl FnOnce() -> T) -> Result<T, BrokerError> {
    // A scripted panic poisons the slot; later answers still work.
    match &*slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        Some(f) => f(),
        None => Ok(default()),
    }
}

pub fn set<T>(slot: &Answer<T>, f: impl Fn() -> Result<T, BrokerError> + Send + Sync + 'static) {
    *slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Box::new(f));
}

#[async_trait]
impl ServiceBroker for TestBroker {
    async fn catalog(&self, _ctx: &RequestContext) -> Result<Arc<Catalog>, BrokerError> {
        *self.catalog_calls.lock().unwrap() += 1;
        if *self.catalog_error.lock().unwrap() {
            return Err(BrokerError::internal(
                "catalog store password=hunter2 unreachable",
            ));
        }
        Ok(self.catalog.lock().unwrap().clone())
    }

    async fn provision(
        &self,
        id: &str,
        request: ProvisionRequest,
        ctx: &RequestContext,
    ) -> Result<ProvisionResponse, BrokerError> {
        let detail = format!("{} {}", request.service_id, request.plan_id);
        self.record("provision", id, None, ctx, detail);
        answer(&self.provision, || {
            ProvisionResponse::Created(ProvisionedInstance::with_dashboard_url(format!(
                "https://dash.example.com/{id}"
            )))
        })
    }

    async fn update(
        &self,
        id: &str,
        request: UpdateRequest,
        ctx: &RequestContext,
    ) -> Result<UpdateResponse, BrokerError> {
        let detail = format!("{} {:?}", request.service_id, request.plan_id);
        self.record("update", id, None, ctx, detail);
        answer(&self.update, || {
            UpdateResponse::Updated(UpdatedInstance::default())
        })
    }

    async fn deprovision(
        &self,
        id: &str,
        request: DeprovisionRequest,
        ctx: &RequestContext,
    ) -> Result<DeprovisionResponse, BrokerError> {
        let detail = format!("{} {}", request.service_id, request.plan_id);
        self.record("deprovision", id, None, ctx, detail);
        answer(&self.deprovision, || DeprovisionResponse::Deleted)
    }

    async fn fetch_instance(
        &self,
        id: &str,
        request: FetchInstanceRequest,
        ctx: &RequestContext,
    ) -> Result<FetchInstanceResponse, BrokerError> {
        let detail = format!("{:?} {:?}", request.service_id, request.plan_id);
        self.record("fetch_instance", id, None, ctx, detail);
        answer(&self.fetch_instance, || {
            let mut body = FetchInstanceResponse::default();
            body.service_id = Some("svc-db".to_owned());
            body.plan_id = Some("plan-small".to_owned());
            body
        })
    }

    async fn last_operation(
        &self,
        id: &str,
        request: LastOperationRequest,
        ctx: &RequestContext,
    ) -> Result<LastOperation, BrokerError> {
        let detail = format!(
            "{:?} {:?} {:?}",
            request.service_id, request.plan_id, request.operation
        );
        self.record("last_operation", id, None, ctx, detail);
        answer(&self.last_operation, || {
            LastOperation::new(OperationState::Succeeded)
        })
    }

    async fn bind(
        &self,
        id: &str,
        binding_id: &str,
        request: BindRequest,
        ctx: &RequestContext,
    ) -> Result<BindResponse, BrokerError> {
        let detail = format!(
            "{} {} app={:?}",
            request.service_id,
            request.plan_id,
            request.app_guid()
        );
        self.record("bind", id, Some(binding_id), ctx, detail);
        answer(&self.bind, || {
            let credentials = json!({"username": "u", "password": "s3cret"});
            let Value::Object(map) = credentials else {
                unreachable!()
            };
            BindResponse::Created(Binding::with_credentials(map))
        })
    }

    async fn unbind(
        &self,
        id: &str,
        binding_id: &str,
        request: UnbindRequest,
        ctx: &RequestContext,
    ) -> Result<UnbindResponse, BrokerError> {
        let detail = format!("{} {}", request.service_id, request.plan_id);
        self.record("unbind", id, Some(binding_id), ctx, detail);
        answer(&self.unbind, || UnbindResponse::Deleted)
    }

    async fn fetch_binding(
        &self,
        id: &str,
        binding_id: &str,
        request: FetchBindingRequest,
        ctx: &RequestContext,
    ) -> Result<FetchBindingResponse, BrokerError> {
        let detail = format!("{:?} {:?}", request.service_id, request.plan_id);
        self.record("fetch_binding", id, Some(binding_id), ctx, detail);
        answer(&self.fetch_binding, || {
            let Value::Object(map) = json!({"password": "s3cret"}) else {
                unreachable!()
            };
            FetchBindingResponse::new(Binding::with_credentials(map))
        })
    }

    async fn binding_last_operation(
        &self,
        id: &str,
        binding_id: &str,
        request: LastOperationRequest,
        ctx: &RequestContext,
    ) -> Result<BindingLastOperation, BrokerError> {
        let detail = format!("{:?}", request.operation);
        self.record("binding_last_operation", id, Some(binding_id), ctx, detail);
        answer(&self.binding_last_operation, || {
            BindingLastOperation::new(BindingOperationState::Succeeded)
        })
    }

    fn instance_state(&self) -> Option<&dyn InstanceStateBroker> {
        self.offers_instance_state
            .then_some(self as &dyn InstanceStateBroker)
    }
}

#[async_trait]
impl InstanceStateBroker for TestBroker {
    async fn get_state(
        &self,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<InstanceState, BrokerError> {
        self.record("get_state", id, None, ctx, String::new());
        match self.states.lock().unwrap().get(id) {
            Some(&enabled) => Ok(InstanceState::new(enabled)),
            None => Err(BrokerError::not_found()),
        }
    }

    async fn set_state(
        &self,
        id: &str,
        update: InstanceStateUpdate,
        ctx: &RequestContext,
    ) -> Result<InstanceState, BrokerError> {
        self.record(
            "set_state",
            id,
            None,
            ctx,
            format!("{:?}", update.reason_code),
        );
        let mut states = self.states.lock().unwrap();
        match states.get_mut(id) {
            Some(enabled) => {
                *enabled = update.enabled;
                Ok(InstanceState::new(update.enabled))
            }
            None => Err(BrokerError::not_found()),
        }
    }
}

pub type Service = OsbService<Arc<TestBroker>>;

pub fn setup() -> (Arc<TestBroker>, Service) {
    let broker = Arc::new(TestBroker::default());
    let service = OsbService::new(broker.clone());
    (broker, service)
}

/// A request builder with `X-Broker-API-Version: 2.17`.
pub fn req(method: Method, uri: &str) -> http::request::Builder {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("X-Broker-API-Version", "2.17")
}

/// A request builder without any header.
pub fn bare(method: Method, uri: &str) -> http::request::Builder {
    http::Request::builder().method(method).uri(uri)
}

pub fn json_body(
    builder: http::request::Builder,
    body: impl Into<String>,
) -> http::Request<Full<Bytes>> {
    builder
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body.into())))
        .unwrap()
}

pub fn empty(builder: http::request::Builder) -> http::Request<Full<Bytes>> {
    builder.body(Full::new(Bytes::new())).unwrap()
}

/// What came back.
#[derive(Debug)]
pub struct Answered {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub extensions: http::Extensions,
    pub body: Bytes,
}

impl Answered {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body {:?} is not JSON: {e}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn description(&self) -> String {
        self.json()["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn error(&self) -> Option<String> {
        self.json()["error"].as_str().map(str::to_owned)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Every answer but 304/204 is `application/json` with a JSON object body.
    pub fn assert_json_object(&self) {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "status {}",
            self.status
        );
        assert!(self.json().is_object(), "body {:?}", self.body);
    }
}

pub async fn send<S, B>(service: S, request: http::Request<B>) -> Answered
where
    S: tower::Service<
            http::Request<B>,
            Response = http::Response<osb_tower::ResponseBody>,
            Error = std::convert::Infallible,
        >,
{
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let answered = Answered {
        status: parts.status,
        headers: parts.headers,
        extensions: parts.extensions,
        body,
    };
    if answered.status != StatusCode::NOT_MODIFIED && answered.status != StatusCode::NO_CONTENT {
        answered.assert_json_object();
    }
    answered
}

/// Asserts an OSB error answer: status, JSON object, non-empty description.
pub fn assert_error(answered: &Answered, status: u16) {
    assert_eq!(
        answered.status.as_u16(),
        status,
        "body: {}",
        String::from_utf8_lossy(&answered.body)
    );
    let description = answered.description();
    assert!(!description.is_empty(), "an error body has a description");
}

pub const INSTANCE: &str = "/v2/service_instances/inst-1";
pub const BINDING: &str = "/v2/service_instances/inst-1/service_bindings/bind-1";
