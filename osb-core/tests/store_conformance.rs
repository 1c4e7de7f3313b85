//! The `StateStore` conformance suite against every store of this crate: memory, SQLite (a
//! fresh temporary file per check) and PostgreSQL (a fresh schema per check; skipped outside CI
//! when `OSB_TEST_POSTGRES_URL` is unset).

#![cfg(feature = "conformance")]

mod store_support;

mod memory {
    osb_core::state_store_conformance!(async { osb_core::managed::MemoryStore::new() });
}

#[cfg(feature = "sqlite")]
mod sqlite {
    osb_core::state_store_conformance!(async {
        osb_core::managed::SqliteStore::open(crate::store_support::sqlite_path().keep())
            .await
            .expect("open a fresh SQLite file")
    });
}

#[cfg(feature = "postgres")]
mod postgres {
    osb_core::state_store_conformance!(optional: crate::store_support::postgres_store());
}
