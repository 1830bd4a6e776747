//! The one Tokio runtime every client in the process shares.
//!
//! Python threads never run Tokio tasks: they hand futures to this runtime's worker
//! threads and wait without holding the GIL, so other Python threads (and asyncio loops)
//! keep running while hosts are being read.

use std::future::Future;
use std::sync::OnceLock;

use pyo3::prelude::*;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The process-wide runtime, started on first use.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        sshfan::raise_open_file_limit();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        #[allow(clippy::expect_used)]
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("sshfan")
            .enable_all()
            .build()
            .expect("starting the sshfan runtime")
    })
}

/// How often a wait wakes up to let Python handle signals (Ctrl-C).
const SIGNAL_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs `future` to completion on the runtime, with the GIL released meanwhile.
///
/// The wait wakes every 100 ms to run Python's signal handlers, so Ctrl-C raises
/// `KeyboardInterrupt` in the waiting thread (the future is then dropped).
pub fn wait<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let mut future = Box::pin(future);
    loop {
        let slice = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut future).await })
        });
        match slice {
            Ok(output) => return Ok(output),
            Err(_) => py.check_signals()?,
        }
    }
}
