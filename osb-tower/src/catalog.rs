//! The catalog as the HTTP layer uses it: serialised once, with its `ETag` and an id index.
//!
//! Spec: spec.md "Catalog Management" (2.16: `ETag` / `If-None-Match` MAY be used, RFC 7232).
//! The broker returns an `Arc<Catalog>`; while it returns the same `Arc` (or an equal catalog),
//! the bytes, the `ETag` and the index are reused, so a request never re-serialises the catalog.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::HeaderValue;
use osb_core::Catalog;
use osb_core::catalog::{Plan, Service};

/// One catalog, prepared for serving and for look-ups.
#[derive(Debug)]
pub(crate) struct Prepared {
    catalog: Arc<Catalog>,
    body: Bytes,
    etag: HeaderValue,
    services: HashMap<Box<str>, usize>,
    /// plan id → (service index, plan index). Plan ids are globally unique (spec); on a
    /// duplicate the first wins, as `Catalog::plan` would find it within its service anyway.
    plans: HashMap<Box<str>, (usize, usize)>,
    any_instances_retrievable: bool,
    any_bindings_retrievable: bool,
}

/// Why a `service_id`/`plan_id` pair does not name a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlanLookup {
    UnknownService,
    UnknownPlan,
    PlanOfAnotherService,
}

impl Prepared {
    fn new(catalog: Arc<Catalog>) -> Result<Self, serde_json::Error> {
        let body = Bytes::from(serde_json::to_vec(&*catalog)?);
        let etag = etag_of(&body);
        let mut services = HashMap::with_capacity(catalog.services.len());
        let mut plans = HashMap::new();
        for (si, service) in catalog.services.iter().enumerate() {
            services.entry(service.id.as_str().into()).or_insert(si);
            for (pi, plan) in service.plans.iter().enumerate() {
                plans.entry(plan.id.as_str().into()).or_insert((si, pi));
            }
        }
        let any_instances_retrievable = catalog.services.iter().any(Service::instances_retrievable);
        let any_bindings_retrievable = catalog.services.iter().any(Service::bindings_retrievable);
        Ok(Self {
            catalog,
            body,
            etag,
            services,
            plans,
            any_instances_retrievable,
            any_bindings_retrievable,
        })
    }

    /// Reuses the serialisation and index of `self` for an equal catalog in a new `Arc`.
    fn with_arc(&self, catalog: Arc<Catalog>) -> Self {
        Self {
            catalog,
            body: self.body.clone(),
            etag: self.etag.clone(),
            services: self.services.clone(),
            plans: self.plans.clone(),
            any_instances_retrievable: self.any_instances_retrievable,
            any_bindings_retrievable: self.any_bindings_retrievable,
        }
    }

    /// The serialised `{"services": [...]}`.
    pub(crate) fn body(&self) -> Bytes {
        self.body.clone()
    }

    /// The strong `ETag`.
    pub(crate) fn etag(&self) -> &HeaderValue {
        &self.etag
    }

    /// The offering with this id.
    pub(crate) fn service(&self, service_id: &str) -> Option<&Service> {
        let index = *self.services.get(service_id)?;
        self.catalog.services.get(index)
    }

    /// The plan `plan_id` of offering `service_id`.
    pub(crate) fn plan(
        &self,
        service_id: &str,
        plan_id: &str,
    ) -> Result<(&Service, &Plan), PlanLookup> {
        let service_index = *self
            .services
            .get(service_id)
            .ok_or(PlanLookup::UnknownService)?;
        let service = self
            .catalog
            .services
            .get(service_index)
            .ok_or(PlanLookup::UnknownService)?;
        match self.plans.get(plan_id) {
            Some(&(si, pi)) if si == service_index => service
                .plans
                .get(pi)
                .map(|plan| (service, plan))
                .ok_or(PlanLookup::UnknownPlan),
            // A duplicate plan id in this service (invalid catalog): fall back to a scan.
            Some(_) => service
                .plan(plan_id)
                .map(|plan| (service, plan))
                .ok_or(PlanLookup::PlanOfAnotherService),
            None => Err(PlanLookup::UnknownPlan),
        }
    }

    /// Whether any offering declares `instances_retrievable`.
    pub(crate) fn any_instances_retrievable(&self) -> bool {
        self.any_instances_retrievable
    }

    /// Whether any offering declares `bindings_retrievable`.
    pub(crate) fn any_bindings_retrievable(&self) -> bool {
        self.any_bindings_retrievable
    }
}

/// The latest prepared catalog, keyed by the broker's `Arc`.
#[derive(Debug, Default)]
pub(crate) struct CatalogCache {
    current: Mutex<Option<Arc<Prepared>>>,
}

impl CatalogCache {
    /// The prepared form of `catalog`, from the cache when the broker returned the same `Arc`
    /// or an equal catalog.
    ///
    /// # Errors
    ///
    /// When the catalog cannot be serialised (a broker bug).
    pub(crate) fn prepare(
        &self,
        catalog: Arc<Catalog>,
    ) -> Result<Arc<Prepared>, serde_json::Error> {
        let cached = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(cached) = cached
            .as_ref()
            .filter(|c| Arc::ptr_eq(&c.catalog, &catalog))
        {
            return Ok(cached.clone());
        }
        // Built outside the lock: serialising a large catalog must not block other requests.
        let prepared = match &cached {
            Some(cached) if *cached.catalog == *catalog => Arc::new(cached.with_arc(catalog)),
            _ => Arc::new(Prepared::new(catalog)?),
        };
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(prepared.clone());
        Ok(prepared)
    }
}

/// A strong `ETag` from a 64-bit FNV-1a hash of the serialised catalog and its length.
///
/// FNV-1a is stable across Rust releases and processes (unlike `DefaultHasher`), so replicas of
/// one broker agree on the tag.
fn etag_of(body: &[u8]) -> HeaderValue {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in body {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let tag = format!("\"{hash:016x}-{:x}\"", body.len());
    // OK because the tag is `"`, hex digits, `-` and `"`: always a valid header value.
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"catalog\""))
}

/// Whether an `If-None-Match` value matches `etag` (RFC 7232 §3.2: weak comparison, `*`
/// matches any).
pub(crate) fn if_none_match(value: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let ours = etag.as_bytes();
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate).as_bytes() == ours
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use osb_core::catalog::{Plan, Service};

    fn catalog() -> Catalog {
        Catalog::new(vec![
            Service::new("s1", "one", "One", true)
                .with_plan(Plan::new("p1", "small", "Small"))
                .with_plan(Plan::new("p2", "large", "Large")),
            Service::new("s2", "two", "Two", false).with_plan(Plan::new("p3", "x", "X")),
        ])
    }

    #[test]
    fn same_arc_is_prepared_once() {
        let cache = CatalogCache::default();
        let arc = Arc::new(catalog());
        let a = cache.prepare(arc.clone()).unwrap();
        let b = cache.prepare(arc).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache.prepare(Arc::new(catalog())).unwrap();
        assert_eq!(a.etag(), c.etag());
        assert_eq!(
            a.body().as_ptr(),
            c.body().as_ptr(),
            "equal catalog reuses the bytes"
        );
    }

    #[test]
    fn changed_catalog_changes_the_etag() {
        let cache = CatalogCache::default();
        let a = cache.prepare(Arc::new(catalog())).unwrap();
        let mut other = catalog();
        other.services.pop();
        let b = cache.prepare(Arc::new(other)).unwrap();
        assert_ne!(a.etag(), b.etag());
    }

    #[test]
    fn plan_lookup_distinguishes_the_failures() {
        let prepared = Prepared::new(Arc::new(catalog())).unwrap();
        assert!(prepared.plan("s1", "p2").is_ok());
        assert_eq!(
            prepared.plan("nope", "p1").unwrap_err(),
            PlanLookup::UnknownService
        );
        assert_eq!(
            prepared.plan("s1", "nope").unwrap_err(),
            PlanLookup::UnknownPlan
        );
        assert_eq!(
            prepared.plan("s1", "p3").unwrap_err(),
            PlanLookup::PlanOfAnotherService
        );
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let etag = HeaderValue::from_static("\"abc\"");
        assert!(if_none_match(&HeaderValue::from_static("\"abc\""), &etag));
        assert!(if_none_match(&HeaderValue::from_static("W/\"abc\""), &etag));
        assert!(if_none_match(
            &HeaderValue::from_static("\"x\", \"abc\""),
            &etag
        ));
        assert!(if_none_match(&HeaderValue::from_static("*"), &etag));
        assert!(!if_none_match(&HeaderValue::from_static("\"abd\""), &etag));
    }
}
