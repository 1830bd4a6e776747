//! The tokio runtime of a benchmark binary, as its `--worker-threads` asks: one worker per
//! core by default, `0` for a current-thread runtime (no hand-offs between threads).

/// Builds the runtime: `None` one worker per core, `Some(0)` current-thread, `Some(n)` n
/// workers.
pub fn build(worker_threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut runtime = match worker_threads {
        Some(0) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    if let Some(threads @ 1..) = worker_threads {
        runtime.worker_threads(threads);
    }
    runtime.enable_all().build()
}
