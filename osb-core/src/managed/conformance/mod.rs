//! A conformance suite for [`StateStore`] implementations: the contract of the
//! [store docs](super::StateStore) as executable checks.
//!
//! Run it against your store with [`state_store_conformance!`](crate::state_store_conformance),
//! which writes one `#[test]` per check, each on a fresh store from your factory:
//!
//! ```
//! mod memory_store {
//!     osb_core::state_store_conformance!(async { osb_core::managed::MemoryStore::new() });
//! }
//! # fn main() {}
//! ```
//!
//! For a store that is not always available (a database in CI only), give a factory that yields
//! an `Option` and use the `optional:` form: `None` skips the check with a message.
//!
//! ```
//! mod maybe_store {
//!     osb_core::state_store_conformance!(optional: async {
//!         std::env::var_os("MY_STORE_URL").map(|_| osb_core::managed::MemoryStore::new())
//!     });
//! }
//! # fn main() {}
//! ```
//!
//! Every check is also a public `async fn` taking the store, for test harnesses of your own.
//! Checks use random ids, but [`purge_expired`](StateStore::purge_expired) is store-wide: give
//! each check a store of its own (a fresh file, schema or key prefix).
//!
//! # What is checked
//!
//! - records: absent records, create-if-absent, update and remove at a version, versions
//!   never reused, ids compared byte for byte, bindings scoped to their instance, listing in
//!   byte order with paging (tombstones included until purged), and a full round trip of every lifecycle transition of an
//!   instance and a binding (credentials, context, leases and flags included);
//! - races, with many tasks on a multi-threaded runtime: concurrent creates, concurrent
//!   updates at one version, remove against update, and read-modify-write loops that must lose
//!   no increment;
//! - tombstones: purge removes exactly the expired ones, and keeps a record rewritten since;
//! - leases: the owner renews, another replica takes an expired lease over exactly once, and
//!   the former owner's stale write then fails.
//!
//! # Panics
//!
//! Every check panics, naming the broken rule, when the store does not conform.

mod bindings;
mod fixtures;
mod instances;
mod leases;
mod listing;
mod purge;
mod races;
mod records;

use std::future::Future;

use super::store::StateStore;
use fixtures::ok;

pub use bindings::{bindings_belong_to_their_instance, every_binding_transition_round_trips};
pub use instances::every_instance_transition_round_trips;
pub use leases::{expired_lease_is_taken_over_once, lease_owner_renews};
pub use listing::{instances_list_in_byte_order_with_paging, tombstones_are_listed_until_purged};
pub use purge::{purge_keeps_a_record_rewritten_since, purge_removes_only_expired_tombstones};
pub use races::{
    concurrent_creates_have_one_winner, concurrent_remove_and_update_have_one_winner,
    concurrent_updates_at_one_version_have_one_winner, read_modify_write_loops_lose_no_update,
};
pub use records::{
    absent_records_read_as_none, create_if_absent_succeeds_once, ids_are_compared_byte_for_byte,
    remove_requires_the_current_version, update_requires_the_current_version,
    versions_are_never_reused,
};

/// Runs one check on a store made by `factory`, on a fresh multi-threaded runtime. Used by
/// [`state_store_conformance!`](crate::state_store_conformance).
///
/// # Panics
///
/// When the runtime cannot start, or the check fails.
pub fn run<S, F, C, Fut>(factory: F, check: C)
where
    S: StateStore,
    F: Future<Output = S>,
    C: FnOnce(S) -> Fut,
    Fut: Future<Output = ()>,
{
    run_optional(async { Some(factory.await) }, check);
}

/// As [`run`], for a factory that yields `None` when its store is not available: the check is
/// then skipped with a message on stderr.
///
/// # Panics
///
/// When the runtime cannot start, or the check fails.
pub fn run_optional<S, F, C, Fut>(factory: F, check: C)
where
    S: StateStore,
    F: Future<Output = Option<S>>,
    C: FnOnce(S) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = ok(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build(),
        "start a tokio runtime",
    );
    runtime.block_on(async {
        match factory.await {
            Some(store) => check(store).await,
            None => eprintln!("skipped: the store under test is not available"),
        }
    });
}

/// Writes one `#[test]` per conformance check of [`managed::conformance`](crate::managed::conformance),
/// each on a fresh store from the factory expression (re-evaluated per test).
///
/// `state_store_conformance!(async { store })` for a store that is always available;
/// `state_store_conformance!(optional: async { Some(store) })` to skip when the factory yields
/// `None`. See the [module docs](crate::managed::conformance) for examples.
#[macro_export]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
macro_rules! state_store_conformance {
    (optional: $factory:expr) => {
        $crate::__state_store_conformance!(run_optional, $factory;
            absent_records_read_as_none,
            create_if_absent_succeeds_once,
            update_requires_the_current_version,
            remove_requires_the_current_version,
            versions_are_never_reused,
            ids_are_compared_byte_for_byte,
            bindings_belong_to_their_instance,
            instances_list_in_byte_order_with_paging,
            tombstones_are_listed_until_purged,
            every_instance_transition_round_trips,
            every_binding_transition_round_trips,
            concurrent_creates_have_one_winner,
            concurrent_updates_at_one_version_have_one_winner,
            concurrent_remove_and_update_have_one_winner,
            read_modify_write_loops_lose_no_update,
            purge_removes_only_expired_tombstones,
            purge_keeps_a_record_rewritten_since,
            lease_owner_renews,
            expired_lease_is_taken_over_once,
        );
    };
    ($factory:expr) => {
        $crate::state_store_conformance!(optional: async { Some($factory.await) });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __state_store_conformance {
    ($runner:ident, $factory:expr; $($check:ident,)*) => {$(
        #[test]
        fn $check() {
            $crate::managed::conformance::$runner(
                async { $factory.await },
                $crate::managed::conformance::$check,
            );
        }
    )*};
}
