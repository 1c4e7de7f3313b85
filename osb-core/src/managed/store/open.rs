//! Choosing one of the built-in stores at run time, from a URL such as a deployment's
//! `DATABASE_URL`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use super::{MemoryStore, StateStore, StoreError};
use crate::managed::outbox::UsageOutbox;

/// A store holding both the [`Managed`](crate::managed::Managed) bookkeeping and the usage
/// [`UsageOutbox`]: every built-in store, and any type implementing both traits.
///
/// It exists so that [`StoreUrl::open`] can hand out one `Arc<dyn AnyStore>` that serves the
/// broker and a metering reporter alike.
pub trait AnyStore: StateStore + UsageOutbox {}

impl<T: StateStore + UsageOutbox + ?Sized> AnyStore for T {}

/// Which built-in store to open, parsed from a URL: `sqlite:<file>` (or `sqlite://<file>`),
/// `postgres://…` (or `postgresql://…`), or `memory:`.
///
/// Its `Display` and `Debug` never show a PostgreSQL URL's user, password or query
/// parameters: only `host:port/database`, so it can be printed in a banner or a log.
///
/// # Example
///
/// ```
/// use osb_core::managed::StoreUrl;
///
/// let url: StoreUrl = "postgres://broker:s3cret@db.internal:5432/osb?sslmode=require".parse()?;
/// assert_eq!(url.to_string(), "PostgreSQL at db.internal:5432/osb");
/// assert!(!format!("{url:?}").contains("s3cret"));
///
/// assert_eq!("sqlite:broker.db".parse::<StoreUrl>()?, StoreUrl::Sqlite("broker.db".into()));
/// assert!("mysql://db/osb".parse::<StoreUrl>().is_err());
/// # Ok::<(), osb_core::managed::InvalidStoreUrl>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// In memory ([`MemoryStore`]): lost when the process stops.
    Memory,
    /// One SQLite file (`SqliteStore`, feature `sqlite`), created owner-readable if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`PostgresStore`, feature `postgres`), for several replicas.
    Postgres(String),
}

/// The text is not a store URL this crate knows.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{scheme}` is not a store URL: expected sqlite:<file>, postgres://… or memory:")]
pub struct InvalidStoreUrl {
    // Only the scheme: the rest may hold a password.
    scheme: String,
}

/// With the `clap` feature, a `StoreUrl` argument is parsed by [`StoreUrlParser`], which never
/// repeats a refused URL (clap's own message would, password included).
#[cfg(feature = "clap")]
#[cfg_attr(docsrs, doc(cfg(feature = "clap")))]
impl clap::builder::ValueParserFactory for StoreUrl {
    type Parser = StoreUrlParser;

    fn value_parser() -> StoreUrlParser {
        StoreUrlParser
    }
}

/// Parses a [`StoreUrl`] argument for `clap` (feature `clap`): a refusal names the argument and
/// the scheme, never the rest of the URL.
///
/// # Example
///
/// ```
/// use clap::Parser;
/// use osb_core::managed::StoreUrl;
///
/// #[derive(Parser)]
/// struct Settings {
///     #[arg(long)]
///     database_url: StoreUrl,
/// }
///
/// let ok = Settings::try_parse_from(["app", "--database-url", "sqlite:broker.db"]);
/// assert_eq!(ok.unwrap().database_url, StoreUrl::Sqlite("broker.db".into()));
/// let err = Settings::try_parse_from(["app", "--database-url", "mysql://u:s3cret@db/x"]);
/// let message = err.err().unwrap().to_string();
/// assert!(message.contains("--database-url") && !message.contains("s3cret"), "{message}");
/// ```
#[cfg(feature = "clap")]
#[cfg_attr(docsrs, doc(cfg(feature = "clap")))]
#[derive(Debug, Clone, Copy)]
pub struct StoreUrlParser;

#[cfg(feature = "clap")]
impl clap::builder::TypedValueParser for StoreUrlParser {
    type Value = StoreUrl;

    fn parse_ref(
        &self,
        _: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<StoreUrl, clap::Error> {
        let refuse = |reason: &dyn std::fmt::Display| {
            let long = arg
                .and_then(clap::Arg::get_long)
                .map(|long| format!("--{long}"));
            let env = arg
                .and_then(clap::Arg::get_env)
                .and_then(|env| env.to_str());
            let name = match (long, env) {
                (Some(long), Some(env)) => format!("{long} ({env})"),
                (Some(long), None) => long,
                (None, Some(env)) => env.to_owned(),
                (None, None) => "the store URL".to_owned(),
            };
            let message = format!("invalid value for {name}: {reason}\n");
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, message)
        };
        let value = value.to_str().ok_or_else(|| refuse(&"not UTF-8"))?;
        value.parse().map_err(|err: InvalidStoreUrl| refuse(&err))
    }
}

impl FromStr for StoreUrl {
    type Err = InvalidStoreUrl;

    fn from_str(url: &str) -> Result<Self, InvalidStoreUrl> {
        // Schemes are case-insensitive (RFC 3986 §3.1).
        let strip = |prefix: &str| {
            let head = url.get(..prefix.len())?;
            head.eq_ignore_ascii_case(prefix)
                .then(|| &url[prefix.len()..])
        };
        if strip("memory:") == Some("") {
            return Ok(Self::Memory);
        }
        if strip("postgres://")
            .or_else(|| strip("postgresql://"))
            .is_some()
        {
            return Ok(Self::Postgres(url.to_owned()));
        }
        match strip("sqlite://").or_else(|| strip("sqlite:")) {
            Some(path) if !path.is_empty() => Ok(Self::Sqlite(path.into())),
            _ => {
                // Named only when it looks like a URL scheme (RFC 3986 §3.1): what precedes the
                // first `:` of other text (`password=… host=::1`) may be a secret.
                let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
                let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
                let scheme = if is_scheme { scheme } else { "" };
                Err(InvalidStoreUrl {
                    scheme: scheme.to_owned(),
                })
            }
        }
    }
}

impl StoreUrl {
    /// Opens the store: creates the SQLite file and applies migrations, or connects to
    /// PostgreSQL and applies migrations, with each store's default settings.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database cannot be opened, written or migrated (an SQLite file
    /// that cannot be written is named in the message), or when this crate was built without
    /// the store's feature (`sqlite`, `postgres`).
    ///
    /// # Example
    ///
    /// ```
    /// use osb_core::managed::{StateStore, StoreUrl};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = "memory:".parse::<StoreUrl>().unwrap().open().await?;
    /// assert!(store.load_instance("db-1").await?.is_none());
    /// # Ok::<(), osb_core::managed::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(&self) -> Result<Arc<dyn AnyStore>, StoreError> {
        match self {
            Self::Memory => Ok(Arc::new(MemoryStore::new())),
            #[cfg(feature = "sqlite")]
            Self::Sqlite(path) => Ok(Arc::new(super::SqliteStore::open(path).await?)),
            #[cfg(not(feature = "sqlite"))]
            Self::Sqlite(_) => Err(StoreError::new(
                "osb-core was built without the `sqlite` feature",
            )),
            #[cfg(feature = "postgres")]
            Self::Postgres(url) => Ok(Arc::new(super::PostgresStore::connect(url).await?)),
            #[cfg(not(feature = "postgres"))]
            Self::Postgres(_) => Err(StoreError::new(
                "osb-core was built without the `postgres` feature",
            )),
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory (state is lost when the process stops)"),
            Self::Sqlite(path) => write!(f, "SQLite file {}", path.display()),
            Self::Postgres(url) => match postgres_location(url) {
                Some(location) => write!(f, "PostgreSQL at {location}"),
                None => f.write_str("PostgreSQL (the URL does not parse; not shown)"),
            },
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&postgres_location(url).unwrap_or("<hidden>"))
                .finish(),
        }
    }
}

/// `host:port/database` of a PostgreSQL URL: no user, password, query or fragment. `None`
/// when the URL is malformed in a way that could put a secret where the host is expected.
fn postgres_location(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    // RFC 3986 §3.2: the authority ends at the first '/', '?' or '#'.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, remainder) = rest.split_at(authority_end);
    // An '@' after the authority means an unencoded '/', '?' or '#' in the userinfo.
    if remainder.contains('@') {
        return None;
    }
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let path_end = remainder.find(['?', '#']).unwrap_or(remainder.len());
    let location = &rest[host_start..authority_end + path_end];
    (!location.is_empty() && !location.starts_with('/')).then_some(location)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn shown(url: &str) -> (String, String) {
        let url: StoreUrl = url.parse().unwrap();
        (url.to_string(), format!("{url:?}"))
    }

    #[test]
    fn postgres_url_shows_host_port_and_database_only() {
        let (display, debug) = shown("postgres://user:s3cret@db:5432/osb?sslmode=require#x");
        assert_eq!(display, "PostgreSQL at db:5432/osb");
        assert_eq!(debug, r#"Postgres("db:5432/osb")"#);
    }

    #[test]
    fn postgres_url_without_userinfo_shows_its_host() {
        assert_eq!(shown("postgresql://db/osb").0, "PostgreSQL at db/osb");
    }

    #[test]
    fn postgres_query_secrets_are_never_shown() {
        let (display, debug) = shown("postgres://db:5432/osb?user=u&password=s3cret");
        assert_eq!(display, "PostgreSQL at db:5432/osb");
        assert!(!debug.contains("s3cret"));
    }

    #[test]
    fn malformed_postgres_userinfo_hides_the_whole_url() {
        for url in [
            "postgres://user:s3/cret@db/osb",
            "postgres://user:s3?cret@db/osb",
            "postgres://user:s3#cret@db/osb",
            "postgres://",
            "postgres://user:s3cret@",
        ] {
            let (display, debug) = shown(url);
            assert!(
                !display.contains("s3") && !display.contains("user"),
                "{display}"
            );
            assert!(!debug.contains("s3") && !debug.contains("user"), "{debug}");
        }
    }

    #[test]
    fn sqlite_and_memory_urls_parse() {
        assert_eq!(
            "sqlite://a.db".parse::<StoreUrl>().unwrap(),
            StoreUrl::Sqlite("a.db".into())
        );
        assert_eq!("memory:".parse::<StoreUrl>().unwrap(), StoreUrl::Memory);
        // Schemes are case-insensitive.
        assert_eq!(
            "SQLite:a.db".parse::<StoreUrl>().unwrap(),
            StoreUrl::Sqlite("a.db".into())
        );
        assert!(matches!(
            "POSTGRES://db/x".parse::<StoreUrl>(),
            Ok(StoreUrl::Postgres(_))
        ));
    }

    #[test]
    fn unknown_or_empty_urls_are_refused_without_echoing_them() {
        for url in [
            "mysql://u:s3cret@db/x",
            "sqlite:",
            "",
            "memory",
            "password=s3cret host=::1",
        ] {
            let err = url.parse::<StoreUrl>().unwrap_err();
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
        let err = "mysql://u:s3cret@db/x".parse::<StoreUrl>().unwrap_err();
        assert!(
            err.to_string().starts_with("`mysql` is not a store URL"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn memory_url_opens_a_store_for_the_bookkeeping_and_the_outbox() {
        let store = StoreUrl::Memory.open().await.unwrap();
        assert!(store.load_instance("x").await.unwrap().is_none());
        assert_eq!(store.outbox_stats().await.unwrap().pending, 0);
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_url_creates_the_file() {
        let dir = std::env::temp_dir().join(format!("osb-open-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url: StoreUrl = format!("sqlite:{}", dir.join("s.db").display())
            .parse()
            .unwrap();
        let store = url.open().await.unwrap();
        assert!(store.load_instance("x").await.unwrap().is_none());
        assert!(dir.join("s.db").exists());
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
