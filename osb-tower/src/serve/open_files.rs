//! How many connections fit in the process's file descriptors.
//!
//! The limit is read with `getrlimit(RLIMIT_NOFILE)` through the `rlimit` crate (a thin safe
//! wrapper on libc, which tokio already brings in): the workspace forbids `unsafe`, and parsing
//! `/proc/self/limits` would work on Linux only, not on the macOS a developer runs the broker on.

/// The soft limit assumed where it cannot be read or is unlimited: Linux's usual default.
const ASSUMED_SOFT_LIMIT: u64 = 1024;

/// Descriptors kept for the rest of the process, at the least.
const MIN_RESERVED: u64 = 64;

/// The process's open-files soft limit (`ulimit -n`), or [`ASSUMED_SOFT_LIMIT`].
pub(super) fn soft_limit() -> u64 {
    #[cfg(unix)]
    match rlimit::Resource::NOFILE.get_soft() {
        Ok(soft) if soft != rlimit::INFINITY => return soft,
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "cannot read the open-files limit"),
    }
    ASSUMED_SOFT_LIMIT
}

/// `soft − max(soft / 4, 64)`, at least 1; see `Server::default_max_connections`.
pub(super) fn connections_within(soft_limit: u64) -> usize {
    let reserved = (soft_limit / 4).max(MIN_RESERVED);
    let connections = soft_limit.saturating_sub(reserved).max(1);
    usize::try_from(connections).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_of_the_descriptors_stays_free() {
        assert_eq!(connections_within(1024), 768);
        assert_eq!(connections_within(20_000), 15_000);
        assert_eq!(connections_within(1_048_576), 786_432);
    }

    #[test]
    fn at_least_64_descriptors_stay_free_and_one_connection_is_served() {
        assert_eq!(connections_within(256), 192);
        assert_eq!(connections_within(200), 136);
        assert_eq!(connections_within(64), 1);
        assert_eq!(connections_within(0), 1);
    }

    #[test]
    fn the_soft_limit_of_this_process_is_read() {
        let soft = soft_limit();
        assert!(soft > 0);
        #[cfg(target_os = "linux")]
        {
            let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
            let line = limits
                .lines()
                .find(|line| line.starts_with("Max open files"));
            let proc_soft = line.and_then(|line| line.split_whitespace().nth(3));
            assert_eq!(proc_soft.and_then(|soft| soft.parse().ok()), Some(soft));
        }
    }
}
