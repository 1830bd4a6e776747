//! The one Tokio runtime every client in the process shares, and how Python waits on it.
//!
//! Python threads never run Tokio tasks: they hand futures to this runtime's worker
//! threads and wait without holding the GIL, so other Python threads (and asyncio loops)
//! keep running while hosts are being read.
//!
//! gevent programs (parallel-ssh's are) run many greenlets on one thread: blocking that
//! thread would stop them all. So when gevent has been imported, a wait instead polls the
//! future on the calling thread with a waker that writes to a socket pair, and between
//! polls hands the socket's descriptor to gevent's hub (`sshfan._gevent.wait_readable`),
//! which runs the other greenlets until the runtime wakes the future. A `gevent.Timeout`
//! raised in the hub ends the wait (the future is dropped). Without gevent, nothing here
//! imports it.

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use pyo3::prelude::*;
use pyo3::types::PyDict;

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

/// Runs `future` to completion on the runtime, with the GIL released meanwhile; under
/// gevent, yielding to the hub instead of blocking the thread (see the module docs).
///
/// A blocking wait wakes every 100 ms to run Python's signal handlers, so Ctrl-C raises
/// `KeyboardInterrupt` in the waiting thread (the future is then dropped).
pub fn wait<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    match gevent_hook(py)? {
        Some(wait_readable) => wait_in_hub(py, future, &wait_readable),
        None => wait_blocking(py, future),
    }
}

fn wait_blocking<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
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

/// `sshfan._gevent.wait_readable` when the program has imported gevent.
fn gevent_hook<'py>(py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let modules = py.import("sys")?.getattr("modules")?;
    let modules = modules.cast::<PyDict>()?;
    // `None` there means "importing gevent is blocked".
    if modules
        .get_item("gevent")?
        .is_none_or(|module| module.is_none())
    {
        return Ok(None);
    }
    Ok(Some(py.import("sshfan._gevent")?.getattr("wait_readable")?))
}

/// Wakes a future polled outside the runtime by making a socket readable. The socket
/// pair lives as long as any clone of the waker, so a late wake never writes to a closed
/// (or reused) descriptor.
struct SocketWaker {
    signal: UnixStream,
}

impl Wake for SocketWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Non-blocking: a full buffer already means "readable".
        let _ = (&self.signal).write(&[1]);
    }
}

fn wait_in_hub<F>(
    py: Python<'_>,
    future: F,
    wait_readable: &Bound<'_, PyAny>,
) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let (readable, signal) = UnixStream::pair()?;
    readable.set_nonblocking(true)?;
    signal.set_nonblocking(true)?;
    let waker = Waker::from(Arc::new(SocketWaker { signal }));
    let mut future: Pin<Box<F>> = Box::pin(future);
    loop {
        let polled = py.detach(|| {
            // Entered only for the poll: greenlets switch between polls, and tokio wants
            // its context guards dropped in the order they were made.
            let _context = runtime().enter();
            future.as_mut().poll(&mut Context::from_waker(&waker))
        });
        if let Poll::Ready(output) = polled {
            return Ok(output);
        }
        wait_readable.call1((readable.as_raw_fd(),))?;
        let mut drained = [0u8; 64];
        while matches!((&readable).read(&mut drained), Ok(n) if n > 0) {}
    }
}
