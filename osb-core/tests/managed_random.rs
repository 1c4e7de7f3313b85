//! Randomized sequences of requests with repeats: the adapter never gives an answer the spec
//! forbids, and never creates a resource twice without deleting it in between.
#![allow(clippy::unwrap_used, missing_docs)]

mod managed_support;

use std::collections::HashMap;
use std::sync::Arc;

use managed_support::*;
use osb_core::managed::{Managed, MemoryStore};
use osb_core::{
    BindRequest, BindResponse, Binding, BrokerError, DeprovisionRequest, DeprovisionResponse,
    ErrorKind, FetchBindingRequest, FetchInstanceRequest, LastOperationRequest, ProvisionRequest,
    ProvisionResponse, ServiceBroker, UnbindRequest, UnbindResponse, UpdateRequest, UpdateResponse,
};
use serde_json::json;

/// A tiny xorshift generator: deterministic for a seed, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the platform has been told exists.
#[derive(Default)]
struct Model {
    /// The provision request the broker recorded, per instance.
    instances: HashMap<String, ProvisionRequest>,
    /// The bind request the broker recorded, per (instance, binding).
    bindings: HashMap<(String, String), BindRequest>,
    /// Credentials handed out, per (instance, binding).
    credentials: HashMap<(String, String), Binding>,
    /// The operation of a 202 deprovision, per instance, until the id is provisioned again.
    deleting: HashMap<String, String>,
    /// Bindings of an instance whose asynchronous deprovision was accepted: they exist until it
    /// finishes.
    doomed: std::collections::HashSet<(String, String)>,
    /// The operation of a 202 unbind, per (instance, binding).
    unbinding: HashMap<(String, String), String>,
}

fn status(err: &BrokerError) -> u16 {
    err.status().as_u16()
}

fn provision_request(rng: &mut XorShift) -> ProvisionRequest {
    let plan = if rng.chance(50) { SYNC } else { ASYNC };
    let mut request = provision(plan);
    request.parameters = match rng.below(10) {
        0 => params(json!({"fail": "The region is full."})),
        1..=3 => params(json!({"size": 2})),
        _ => None,
    };
    request
}

fn bind_request(rng: &mut XorShift) -> BindRequest {
    let plan = if rng.chance(50) { SYNC } else { ASYNC };
    let mut request = bind(plan);
    if rng.chance(20) {
        request.app_guid = Some("app-2".into());
    }
    if rng.chance(8) {
        request.parameters = params(json!({"fail": "No more users."}));
    }
    request
}

async fn run(seed: u64, steps: usize, seen: &mut std::collections::BTreeSet<(&'static str, u16)>) {
    let mut rng = XorShift(seed);
    let broker = Managed::builder(CountingLogic::new())
        .store(Arc::new(MemoryStore::new()))
        .clock(ManualClock::new())
        .build();
    let mut model = Model::default();
    let instances = ["i0", "i1"];
    let bindings = ["b0", "b1"];
    for step in 0..steps {
        let iid = instances[rng.below(2) as usize].to_owned();
        let bid = bindings[rng.below(2) as usize].to_owned();
        let accepts = rng.chance(70);
        let context = ctx(accepts);
        let at = format!("seed {seed} step {step}");
        match rng.below(12) {
            0 => {
                if rng.chance(50) {
                    broker.logic().close_async();
                } else {
                    broker.logic().open_async();
                }
            }
            1 | 2 => {
                // Provision, sometimes the very same request as before (a retry).
                let request = match model.instances.get(&iid) {
                    Some(previous) if rng.chance(60) => previous.clone(),
                    _ => provision_request(&mut rng),
                };
                let known = model.instances.get(&iid).cloned();
                let answer = broker.provision(&iid, request.clone(), &context).await;
                seen.insert((
                    "provision",
                    match &answer {
                        Ok(ProvisionResponse::Created(_)) => 201,
                        Ok(ProvisionResponse::AlreadyExists(_)) => 200,
                        Ok(ProvisionResponse::Accepted(_)) => 202,
                        Err(err) => status(err),
                    },
                ));
                match answer {
                    Ok(ProvisionResponse::Created(_)) => {
                        assert!(known.is_none(), "{at}: 201 for an existing instance");
                        model.deleting.remove(&iid);
                        model.doomed.retain(|(i, _)| i != &iid);
                        model.instances.insert(iid.clone(), request);
                    }
                    Ok(ProvisionResponse::Accepted(accepted)) => {
                        assert!(accepts, "{at}: 202 without accepts_incomplete");
                        assert!(accepted.operation.is_some(), "{at}: 202 without operation");
                        if let Some(known) = &known {
                            assert_eq!(known, &request, "{at}: 202 for a different request");
                        }
                        model.deleting.remove(&iid);
                        model.doomed.retain(|(i, _)| i != &iid);
                        model.instances.insert(iid.clone(), request);
                    }
                    Ok(ProvisionResponse::AlreadyExists(_)) => {
                        assert_eq!(
                            known.as_ref(),
                            Some(&request),
                            "{at}: 200 for a non-identical request"
                        );
                    }
                    Err(err) => match status(&err) {
                        409 => {
                            let known = known.expect("409 for an unknown instance");
                            assert_ne!(known, request, "{at}: 409 for an identical request");
                        }
                        422 => {}
                        // A synchronous create that failed: the record stays (orphan mitigation).
                        500 if known.is_none() => {
                            assert!(err.description().contains("region is full"), "{at}");
                            model.instances.insert(iid.clone(), request);
                        }
                        other => panic!("{at}: provision answered {other}: {err:?}"),
                    },
                }
            }
            3 => {
                let mut request = UpdateRequest::new(SERVICE);
                if rng.chance(50) {
                    request.parameters = params(json!({"size": rng.below(3)}));
                }
                match broker.update(&iid, request, &context).await {
                    Ok(UpdateResponse::Updated(_)) => {
                        assert!(
                            model.instances.contains_key(&iid),
                            "{at}: 200 update of unknown instance"
                        );
                    }
                    Ok(UpdateResponse::Accepted(accepted)) => {
                        assert!(accepts, "{at}: 202 without accepts_incomplete");
                        assert!(accepted.operation.is_some());
                        assert!(
                            model.instances.contains_key(&iid),
                            "{at}: 202 update of unknown instance"
                        );
                    }
                    Err(err) => match status(&err) {
                        404 | 422 => {}
                        other => panic!("{at}: update answered {other}: {err:?}"),
                    },
                }
            }
            4 => {
                let request = DeprovisionRequest::new(SERVICE, SYNC);
                let known = model.instances.contains_key(&iid);
                let answer = broker.deprovision(&iid, request, &context).await;
                seen.insert((
                    "deprovision",
                    match &answer {
                        Ok(DeprovisionResponse::Deleted) => 200,
                        Ok(DeprovisionResponse::Accepted { .. }) => 202,
                        Err(err) => status(err),
                    },
                ));
                match answer {
                    Ok(answer) => {
                        if let DeprovisionResponse::Accepted { operation } = answer {
                            assert!(accepts, "{at}: 202 without accepts_incomplete");
                            let operation = operation.expect("202 without operation").to_string();
                            // A re-sent DELETE while the delete runs: 202 with the same operation.
                            let previous = model.deleting.insert(iid.clone(), operation.clone());
                            if !known {
                                assert_eq!(
                                    previous.as_ref(),
                                    Some(&operation),
                                    "{at}: 202 for an unknown instance"
                                );
                            }
                        } else {
                            assert!(known, "{at}: deprovision of an unknown instance succeeded");
                        }
                        model.instances.remove(&iid);
                        let doomed: Vec<_> = model
                            .bindings
                            .keys()
                            .filter(|(i, _)| i == &iid)
                            .cloned()
                            .collect();
                        model.doomed.extend(doomed);
                        model.bindings.retain(|(i, _), _| i != &iid);
                        model.credentials.retain(|(i, _), _| i != &iid);
                    }
                    Err(err) => match status(&err) {
                        410 => assert!(!known, "{at}: 410 for a known instance"),
                        422 => {}
                        other => panic!("{at}: deprovision answered {other}: {err:?}"),
                    },
                }
            }
            5 | 6 => {
                let key = (iid.clone(), bid.clone());
                let request = match model.bindings.get(&key) {
                    Some(previous) if rng.chance(60) => previous.clone(),
                    _ => bind_request(&mut rng),
                };
                let known = model.bindings.get(&key).cloned();
                let answer = broker.bind(&iid, &bid, request.clone(), &context).await;
                seen.insert((
                    "bind",
                    match &answer {
                        Ok(BindResponse::Created(_)) => 201,
                        Ok(BindResponse::AlreadyExists(_)) => 200,
                        Ok(BindResponse::Accepted(_)) => 202,
                        Err(err) => status(err),
                    },
                ));
                match answer {
                    Ok(BindResponse::Created(binding)) => {
                        assert!(known.is_none(), "{at}: 201 for an existing binding");
                        model.unbinding.remove(&key);
                        assert!(binding.credentials.is_some());
                        model.bindings.insert(key.clone(), request);
                        model.credentials.insert(key, binding);
                    }
                    Ok(BindResponse::Accepted(accepted)) => {
                        assert!(accepts, "{at}: 202 without accepts_incomplete");
                        assert!(accepted.operation.is_some());
                        if let Some(known) = &known {
                            assert_eq!(known, &request, "{at}: 202 for a different bind");
                        }
                        model.unbinding.remove(&key);
                        model.bindings.insert(key, request);
                    }
                    Ok(BindResponse::AlreadyExists(binding)) => {
                        assert_eq!(
                            known.as_ref(),
                            Some(&request),
                            "{at}: 200 for a non-identical bind"
                        );
                        // A re-bind's 200 carries the same credentials.
                        if let Some(issued) = model.credentials.get(&key) {
                            assert_eq!(issued, &binding, "{at}: re-bind changed the credentials");
                        }
                        assert!(
                            binding.credentials.is_some(),
                            "{at}: 200 without credentials"
                        );
                        model.credentials.insert(key, binding);
                    }
                    Err(err) => match status(&err) {
                        404 => assert!(
                            !model.instances.contains_key(&iid) || known.is_none(),
                            "{at}"
                        ),
                        409 => {
                            let known = known.expect("409 for an unknown binding");
                            assert_ne!(known, request, "{at}: 409 for an identical bind");
                        }
                        422 => {}
                        500 if known.is_none() => {
                            model.bindings.insert(key, request);
                        }
                        other => panic!("{at}: bind answered {other}: {err:?}"),
                    },
                }
            }
            7 => {
                let key = (iid.clone(), bid.clone());
                let known = model.bindings.contains_key(&key);
                let request = UnbindRequest::new(SERVICE, SYNC);
                let answer = broker.unbind(&iid, &bid, request, &context).await;
                seen.insert((
                    "unbind",
                    match &answer {
                        Ok(UnbindResponse::Deleted) => 200,
                        Ok(UnbindResponse::Accepted { .. }) => 202,
                        Err(err) => status(err),
                    },
                ));
                match answer {
                    Ok(answer) => {
                        if let UnbindResponse::Accepted { operation } = answer {
                            assert!(accepts, "{at}: 202 without accepts_incomplete");
                            let operation = operation.expect("202 without operation").to_string();
                            let previous = model.unbinding.insert(key.clone(), operation.clone());
                            if !known {
                                assert_eq!(
                                    previous.as_ref(),
                                    Some(&operation),
                                    "{at}: 202 for an unknown binding"
                                );
                            }
                        } else {
                            assert!(known, "{at}: unbind of an unknown binding succeeded");
                        }
                        model.bindings.remove(&key);
                        model.credentials.remove(&key);
                    }
                    Err(err) => match status(&err) {
                        410 => assert!(!known, "{at}: 410 for a known binding"),
                        422 => {}
                        other => panic!("{at}: unbind answered {other}: {err:?}"),
                    },
                }
            }
            8 | 9 => {
                let answer = broker
                    .last_operation(&iid, LastOperationRequest::default(), &context)
                    .await;
                match answer {
                    Ok(_) => {}
                    // Never 404 while the platform knows the instance (tombstones live 24 h).
                    Err(err) if status(&err) == 404 => {
                        assert!(
                            !model.instances.contains_key(&iid),
                            "{at}: 404 for a known instance"
                        );
                    }
                    Err(err) => panic!("{at}: last_operation answered {err:?}"),
                }
                let answer = broker
                    .binding_last_operation(&iid, &bid, LastOperationRequest::default(), &context)
                    .await;
                if let Err(err) = answer {
                    assert_eq!(
                        status(&err),
                        404,
                        "{at}: binding last_operation answered {err:?}"
                    );
                    assert!(
                        !model.bindings.contains_key(&(iid.clone(), bid.clone())),
                        "{at}: binding poll 404 for a known binding"
                    );
                }
            }
            10 => {
                let answer = broker
                    .fetch_instance(&iid, FetchInstanceRequest::default(), &context)
                    .await;
                match answer {
                    Ok(fetched) => {
                        let known = model
                            .instances
                            .get(&iid)
                            .expect("200 fetch of an unknown instance");
                        assert_eq!(
                            fetched.service_id.as_deref(),
                            Some(known.service_id.as_str())
                        );
                    }
                    Err(err) => assert!(
                        matches!(status(&err), 404 | 422),
                        "{at}: fetch answered {err:?}"
                    ),
                }
            }
            _ => {
                let answer = broker
                    .fetch_binding(&iid, &bid, FetchBindingRequest::default(), &context)
                    .await;
                match answer {
                    Ok(fetched) => {
                        let key = (iid.clone(), bid.clone());
                        assert!(
                            model.bindings.contains_key(&key) || model.doomed.contains(&key),
                            "{at}: 200 fetch of an unknown binding"
                        );
                        if let Some(issued) = model.credentials.get(&key) {
                            assert_eq!(
                                issued, &fetched.binding,
                                "{at}: fetch changed the credentials"
                            );
                        }
                        model.credentials.insert(key, fetched.binding);
                    }
                    // The spec gives fetch binding no 422.
                    Err(err) => assert_eq!(
                        err.kind(),
                        ErrorKind::NotFound,
                        "{at}: fetch binding answered {err:?}"
                    ),
                }
            }
        }
        // Let background work make progress between requests.
        tokio::task::yield_now().await;
        let calls = broker.logic().calls();
        assert!(
            calls.created_twice.is_empty(),
            "{at}: created twice: {:?}",
            calls.created_twice
        );
    }
    broker.logic().open_async();
    broker.shutdown().await;
}

/// The answers every run must have produced at least once, so the test cannot pass by
/// exercising nothing.
const EXPECTED: &[(&str, u16)] = &[
    ("provision", 200),
    ("provision", 201),
    ("provision", 202),
    ("provision", 409),
    ("provision", 422),
    ("bind", 200),
    ("bind", 201),
    ("bind", 202),
    ("bind", 404),
    ("bind", 409),
    ("bind", 422),
    ("deprovision", 200),
    ("deprovision", 202),
    ("deprovision", 410),
    ("deprovision", 422),
    ("unbind", 200),
    ("unbind", 202),
    ("unbind", 410),
    ("unbind", 422),
];

#[tokio::test]
async fn random_request_sequences_never_break_the_spec_or_create_twice() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 1..=40u64 {
        run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 400, &mut seen).await;
    }
    for expected in EXPECTED {
        assert!(
            seen.contains(expected),
            "never saw {expected:?}; saw {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_request_sequences_on_a_multi_threaded_runtime() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 100..=110u64 {
        run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 400, &mut seen).await;
    }
    assert!(seen.contains(&("provision", 202)) && seen.contains(&("bind", 200)));
}
