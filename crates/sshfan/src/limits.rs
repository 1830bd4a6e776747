//! Process limits: raise the open-file soft limit once, before the first run.
//!
//! Every TCP session costs a file descriptor, and the usual soft limit (1024) is far below
//! what a run of thousands of hosts needs. The soft limit is raised to the hard limit;
//! a host that still finds no descriptor fails alone with `TooManyOpenFiles`.

use std::sync::Once;

use tracing::debug;

static RAISE: Once = Once::new();

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit (once per process).
pub fn raise_open_file_limit() {
    RAISE.call_once(|| match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => debug!("open-file limit raised to {limit}"),
        Err(err) => debug!("cannot raise the open-file limit: {err}"),
    });
}

/// Sessions one process can hold open: the open-file limit (raised first) less a reserve
/// for everything else. The default of [`crate::ClientConfig::max_sessions`].
pub fn default_max_sessions() -> usize {
    raise_open_file_limit();
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    usize::try_from(limit.saturating_sub(256))
        .unwrap_or(usize::MAX)
        .max(64)
}
