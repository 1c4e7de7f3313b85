//! Decisions: per operation, a pure function from what is stored and what is asked to what the
//! adapter does next: answer now, or start an operation with the record to save.
//!
//! A decision reads no store and runs no logic: the [executor](super::run) loads the records,
//! asks the logic what it must (synchronous or not, the dashboard URL), calls the decision, and
//! carries it out: it saves the record by compare-and-set (a conflict loads and decides again),
//! then runs the operation inline or in the background under its lease. So every rule of
//! rules.md §4 (the order of checks) is testable with plain values.

mod bind;
mod delete;
mod provision;
mod update;

pub(super) use bind::{BindFacts, bind, bind_instance};
pub(super) use delete::{deprovision, unbind};
pub(super) use provision::provision;
pub(super) use update::update;

use std::time::Duration;

use crate::catalog::Catalog;
use crate::managed::clock::Timestamp;
use crate::managed::record::{Lease, OperationKind, OperationRecord};
use crate::operation::OperationToken;

use super::Settings;

/// What a request decided.
#[derive(Debug)]
#[must_use]
pub(super) enum Decision<A, R> {
    /// Answer now, writing nothing.
    Answer(A),
    /// Start an operation: save its record, then run it.
    Start(Start<R>),
}

/// An operation a decision starts: the record to save, the new operation running in it.
#[derive(Debug)]
pub(super) struct Start<R> {
    /// The resource's record with [`Start::operation`] as its running operation.
    pub(super) record: R,
    /// The new operation (a copy of the one in `record`).
    pub(super) operation: OperationRecord,
    /// The running create this operation halts once it is recorded (a delete during create).
    pub(super) halts: Option<OperationToken>,
}

impl<R> Start<R> {
    /// Starts `operation`, saving `record`, which holds it.
    pub(super) fn new(operation: OperationRecord, record: R) -> Self {
        Self {
            record,
            operation,
            halts: None,
        }
    }
}

/// What every decision reads besides the stored record and the request: the time, the
/// catalog, the settings, which replica decides, and what the platform accepts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Moment<'a> {
    /// Now.
    pub(super) now: Timestamp,
    /// The broker's catalog (plans' `maximum_polling_duration`).
    pub(super) catalog: &'a Catalog,
    /// The adapter's settings.
    pub(super) settings: &'a Settings,
    /// This replica's id, the owner of the leases it takes.
    pub(super) owner: &'a str,
    /// The request's `accepts_incomplete=true` (rules.md §6.1).
    pub(super) accepts_incomplete: bool,
}

impl Moment<'_> {
    /// A lease held by this replica from now on.
    pub(super) fn lease(&self) -> Lease {
        Lease::new(
            self.owner,
            self.now.saturating_add(self.settings.lease_duration),
        )
    }

    /// A new operation of `kind` on a resource of plan `plan_id`, its lease held by this
    /// replica. Only an asynchronous one has a deadline: start plus the plan's
    /// `maximum_polling_duration` (spec.md "Polling Last Operation": platforms give up then).
    pub(super) fn operation(
        &self,
        kind: OperationKind,
        asynchronous: bool,
        service_id: &str,
        plan_id: &str,
    ) -> OperationRecord {
        let deadline = asynchronous
            .then(|| self.catalog.plan(service_id, plan_id))
            .flatten()
            .and_then(|(_, plan)| plan.maximum_polling_duration)
            .map(|secs| self.now.saturating_add(Duration::from_secs(secs)));
        OperationRecord::start(kind, asynchronous, self.now, deadline, self.lease())
    }
}

#[cfg(test)]
pub(super) mod fixtures {
    //! Values the decision tests share.

    use super::*;
    use crate::catalog::{Plan, Service};

    /// A catalog with service `s`, plan `p` (updateable) and plan `slow` (polled at most 60 s).
    pub(crate) fn catalog() -> Catalog {
        let mut p = Plan::new("p", "p", "P");
        p.plan_updateable = Some(true);
        let mut slow = Plan::new("slow", "slow", "Slow");
        slow.maximum_polling_duration = Some(60);
        Catalog::new(vec![
            Service::new("s", "svc", "A service", true)
                .with_plan(p)
                .with_plan(slow),
        ])
    }

    /// The moment at 1000 ms on replica `me`.
    pub(crate) fn moment<'a>(
        catalog: &'a Catalog,
        settings: &'a Settings,
        accepts_incomplete: bool,
    ) -> Moment<'a> {
        Moment {
            now: Timestamp::from_unix_millis(1000),
            catalog,
            settings,
            owner: "me",
            accepts_incomplete,
        }
    }
}
