//! asyncio from Rust: `sshfan.aio` awaits the library's futures without a thread per
//! host and without blocking the event loop.
//!
//! [`future`] spawns the work on the shared runtime and returns an `asyncio.Future` of
//! the running loop. When the work ends, the runtime's thread takes the GIL once and
//! hands the result to the loop with `call_soon_threadsafe` (the loop's own wake-up
//! pipe); the loop thread then sets it, unless the future was cancelled meanwhile.
//! Cancelling the asyncio future (its awaiting task was cancelled) aborts the work.
//!
//! A runtime thread must never take the GIL once the interpreter is finalizing: Python
//! ends such a thread with `pthread_exit`, which aborts a Rust process. So every call
//! into Python from the runtime goes through [`attach_unless_exiting`], and an `atexit`
//! hook ([`shutdown`], registered by `sshfan._aio_support`) stops new calls and waits for
//! those in flight before finalization begins.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// Set by [`shutdown`]: the interpreter is exiting.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Runtime threads inside Python now.
static IN_PYTHON: AtomicUsize = AtomicUsize::new(0);
/// Longest wait at exit for calls in flight.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// Runs `f` with the GIL from a runtime thread, unless the interpreter is exiting (then
/// `None`: the result is dropped, as no one is left to receive it).
pub fn attach_unless_exiting<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    IN_PYTHON.fetch_add(1, Ordering::SeqCst);
    let result = match EXITING.load(Ordering::SeqCst) {
        true => None,
        false => Some(Python::attach(f)),
    };
    IN_PYTHON.fetch_sub(1, Ordering::SeqCst);
    result
}

/// The `atexit` hook: no more calls into Python from the runtime; waits (without the
/// GIL) for those in flight.
#[pyfunction]
pub fn shutdown(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let started = Instant::now();
        while IN_PYTHON.load(Ordering::SeqCst) > 0 && started.elapsed() < EXIT_WAIT {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

use crate::runtime::runtime;

/// An `asyncio.Future` of the running loop that `work` completes, its output turned into
/// a Python value by `convert` (an `Err` becomes the future's exception).
pub fn future<'py, F, C>(py: Python<'py>, work: F, convert: C) -> PyResult<Bound<'py, PyAny>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    C: FnOnce(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let awaited = event_loop.call_method0("create_future")?;
    let complete: Py<PyAny> = py
        .import("sshfan._aio_support")?
        .getattr("complete")?
        .unbind();
    let target = awaited.clone().unbind();
    let event_loop = event_loop.unbind();
    let task = runtime().spawn(async move {
        let output = work.await;
        attach_unless_exiting(|py| {
            let (ok, value) = match convert(py, output) {
                Ok(value) => (true, value),
                Err(err) => (false, err.into_value(py).into_any()),
            };
            // A closed loop (the program ended its loop first) has no one to tell.
            let _ =
                event_loop.call_method1(py, "call_soon_threadsafe", (complete, target, ok, value));
        });
    });
    let abort = Abort {
        task: task.abort_handle(),
    };
    awaited.call_method1("add_done_callback", (Py::new(py, abort)?,))?;
    Ok(awaited)
}

/// A done callback that aborts the work behind a cancelled future (a no-op once the
/// work has ended).
#[pyclass(module = "sshfan._native", frozen)]
struct Abort {
    task: tokio::task::AbortHandle,
}

#[pymethods]
impl Abort {
    fn __call__(&self, awaited: &Bound<'_, PyAny>) -> PyResult<()> {
        if awaited.call_method0("cancelled")?.is_truthy()? {
            self.task.abort();
        }
        Ok(())
    }
}
