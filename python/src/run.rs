//! `Run` and `Host`: a started run and each host's streams, stdin and outcome.
//!
//! Every blocking call releases the GIL and waits on the shared runtime, so iterating one
//! host's output never stops other Python threads; reads take as many complete lines as
//! are already buffered (up to a batch size) per call, so a Python loop over lines costs
//! one native call per batch, not per line.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use sshfan::{ExitStatus, HostOutput, HostStdin, Joiner, OutputReader, Run};
use tokio::sync::Mutex;

use crate::runtime::wait;

pyo3::create_exception!(
    _native,
    ReadTimeoutError,
    pyo3::exceptions::PyException,
    "No output arrived within the read timeout; what came before was returned."
);

/// One host's handle, shared by the Python objects that refer to it.
struct HostCell {
    /// Keeps the run going while any of its hosts is referenced: the library cancels a
    /// run's hosts when its last `Joiner` goes.
    run: Arc<Joiner>,
    output: HostOutput,
    stdout: Mutex<OutputReader>,
    stderr: Mutex<OutputReader>,
    stdin: HostStdin,
}

impl HostCell {
    /// Stream 2 is stderr; anything else, stdout.
    fn reader(&self, stream: u8) -> &Mutex<OutputReader> {
        match stream {
            2 => &self.stderr,
            _ => &self.stdout,
        }
    }
}

/// A started run.
#[pyclass(module = "sshfan._native", name = "Run", frozen)]
pub struct PyRun {
    joiner: Joiner,
    hosts: Vec<Arc<HostCell>>,
    /// Host indexes as hosts finish (for asyncio's `as_completed`).
    completions: Arc<Mutex<Option<sshfan::Completions>>>,
}

impl PyRun {
    pub fn new(mut run: Run) -> Self {
        let completions = Arc::new(Mutex::new(run.completions()));
        let (outputs, joiner) = run.into_parts();
        let shared = Arc::new(joiner.clone());
        let hosts = outputs
            .into_iter()
            .map(|mut output| {
                let stdout = std::mem::replace(&mut output.stdout, OutputReader::from_chunks([]));
                let stderr = std::mem::replace(&mut output.stderr, OutputReader::from_chunks([]));
                Arc::new(HostCell {
                    run: shared.clone(),
                    stdin: output.stdin.clone(),
                    output,
                    stdout: Mutex::new(stdout),
                    stderr: Mutex::new(stderr),
                })
            })
            .collect();
        PyRun {
            joiner,
            hosts,
            completions,
        }
    }
}

/// The lines of a batch, as `str` (UTF-8, invalid bytes replaced) or `bytes`.
fn lines_to_python(py: Python<'_>, lines: &[bytes::Bytes], text: bool) -> Vec<Py<PyAny>> {
    lines
        .iter()
        .map(|line| match text {
            true => PyString::new(py, &String::from_utf8_lossy(line))
                .into_any()
                .unbind(),
            false => PyBytes::new(py, line).into_any().unbind(),
        })
        .collect()
}

/// Most host indexes one `next_completed_async` returns.
const COMPLETIONS_BATCH: usize = 4096;

#[pymethods]
impl PyRun {
    /// The hosts' handles, in host order.
    fn hosts(&self) -> Vec<PyHost> {
        self.hosts
            .iter()
            .map(|cell| PyHost { cell: cell.clone() })
            .collect()
    }

    /// Waits for every host (at most `timeout` seconds); returns the indexes of hosts still
    /// running (empty when all finished). Output is kept in full once joined.
    #[pyo3(signature = (timeout=None))]
    fn join(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Vec<usize>> {
        let limit = timeout.map(|t| Duration::from_secs_f64(t.max(0.0)));
        let joiner = self.joiner.clone();
        match wait(py, async move { joiner.join(limit).await })? {
            Ok(()) => Ok(Vec::new()),
            Err(timeout) => Ok(timeout.unfinished.into_iter().map(|(i, _)| i).collect()),
        }
    }

    /// Waits until every host has a session or failed to get one, in one call rather
    /// than one per host; returns `(index, kind, message)` per failed host, in host order.
    /// With `stop_at_first_error`, returns at the first failure in host order.
    fn wait_connected(
        &self,
        py: Python<'_>,
        stop_at_first_error: bool,
    ) -> PyResult<Vec<(usize, String, String)>> {
        let hosts = self.hosts.clone();
        wait(py, async move {
            let mut failed = Vec::new();
            for (index, cell) in hosts.iter().enumerate() {
                if let Err(err) = cell.output.wait_connected().await {
                    failed.push((index, err.kind().code().to_owned(), err.to_string()));
                    if stop_at_first_error {
                        break;
                    }
                }
            }
            failed
        })
    }

    /// [`wait_connected`](Self::wait_connected) for asyncio: an awaitable of the same list.
    fn wait_connected_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let hosts = self.hosts.clone();
        let work = async move {
            let mut failed = Vec::new();
            for (index, cell) in hosts.iter().enumerate() {
                if let Err(err) = cell.output.wait_connected().await {
                    failed.push((index, err.kind().code().to_owned(), err.to_string()));
                }
            }
            failed
        };
        crate::aio::future(py, work, |py, failed| {
            Ok(failed.into_pyobject(py)?.into_any().unbind())
        })
    }

    /// An awaitable of the indexes of hosts that finished since the last call (waiting
    /// for at least one; empty once every host has been reported), in completion order.
    fn next_completed_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        use futures::FutureExt;
        let completions = self.completions.clone();
        let work = async move {
            let mut held = completions.lock().await;
            let Some(completions) = held.as_mut() else {
                return Vec::new();
            };
            let Some(first) = completions.next().await else {
                return Vec::new();
            };
            let mut done = vec![first];
            while done.len() < COMPLETIONS_BATCH {
                match completions.next().now_or_never() {
                    Some(Some(index)) => done.push(index),
                    _ => break,
                }
            }
            done
        };
        crate::aio::future(py, work, |py, done| {
            Ok(done.into_pyobject(py)?.into_any().unbind())
        })
    }

    /// Whether every host has finished.
    fn finished(&self) -> bool {
        let progress = self.joiner.progress();
        progress.pending == 0 && progress.running == 0
    }

    /// `(pending, running, succeeded, failed, bytes)`.
    fn progress(&self) -> (usize, usize, usize, usize, u64) {
        let p = self.joiner.progress();
        (p.pending, p.running, p.succeeded, p.failed, p.bytes)
    }

    /// Stops the run: hosts not finished end as cancelled; output so far stays readable.
    fn cancel(&self) {
        self.joiner.cancel();
    }
}

/// One host of a run.
#[pyclass(module = "sshfan._native", name = "Host", frozen)]
pub struct PyHost {
    cell: Arc<HostCell>,
}

/// Lines taken per native call at most, when more are already buffered.
const BATCH: usize = 256;

#[pymethods]
impl PyHost {
    /// Position in the run.
    #[getter]
    fn index(&self) -> usize {
        self.cell.output.index()
    }

    /// Alias, or host name.
    #[getter]
    fn label(&self) -> &str {
        self.cell.output.label()
    }

    /// Host name as given.
    #[getter]
    fn name(&self) -> &str {
        &self.cell.output.host().name
    }

    /// The next lines of stdout (`stream` 1) or stderr (2), without terminators: at least
    /// one, waiting for it, then any more already buffered, and whether the stream has
    /// ended (so the caller need not call again to learn it). As `str` (UTF-8, invalid
    /// bytes replaced) when `text`, else `bytes`. Raises `ReadTimeoutError` when `timeout`
    /// seconds pass without a line (the output so far stays readable).
    #[pyo3(signature = (stream, text, timeout=None))]
    fn read_lines(
        &self,
        py: Python<'_>,
        stream: u8,
        text: bool,
        timeout: Option<f64>,
    ) -> PyResult<(Vec<Py<PyAny>>, bool)> {
        let cell = self.cell.clone();
        let limit = timeout.map(|t| Duration::from_secs_f64(t.max(0.0)));
        let batch = wait(py, async move {
            let mut reader = cell.reader(stream).lock().await;
            // `next_lines` is cancel-safe: a partial line waits in the reader.
            let batch = match limit {
                None => reader.next_lines(BATCH, usize::MAX).await,
                Some(limit) => tokio::time::timeout(limit, reader.next_lines(BATCH, usize::MAX))
                    .await
                    .map_err(|_| limit)?,
            };
            Ok(match batch {
                None => (Vec::new(), true),
                Some(batch) => {
                    let ended = batch.ended;
                    (batch.lines().map(|(line, _)| line).collect(), ended)
                }
            })
        })?;
        let (lines, ended) = batch.map_err(|limit: Duration| {
            ReadTimeoutError::new_err(format!("no output for {:.3} s", limit.as_secs_f64()))
        })?;
        Ok((lines_to_python(py, &lines, text), ended))
    }

    /// [`read_lines`](Self::read_lines) for asyncio, without a timeout (the caller's
    /// `asyncio.timeout` is one): an awaitable of `(lines, ended)`.
    fn read_lines_async<'py>(
        &self,
        py: Python<'py>,
        stream: u8,
        text: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cell = self.cell.clone();
        let work = async move {
            let mut reader = cell.reader(stream).lock().await;
            match reader.next_lines(BATCH, usize::MAX).await {
                None => (Vec::new(), true),
                Some(batch) => {
                    let ended = batch.ended;
                    (batch.lines().map(|(line, _)| line).collect(), ended)
                }
            }
        };
        crate::aio::future(
            py,
            work,
            move |py, (lines, ended): (Vec<bytes::Bytes>, bool)| {
                let lines = lines_to_python(py, &lines, text);
                Ok((lines, ended).into_pyobject(py)?.into_any().unbind())
            },
        )
    }

    /// The lines already received, without waiting: `(lines, ended)` as
    /// [`read_lines`](Self::read_lines) gives them, or `None` when a wait would be needed
    /// (nothing buffered yet, or another reader holds the stream).
    fn read_lines_now(
        &self,
        py: Python<'_>,
        stream: u8,
        text: bool,
    ) -> Option<(Vec<Py<PyAny>>, bool)> {
        use futures::FutureExt;
        let mut reader = self.cell.reader(stream).try_lock().ok()?;
        // Polled once on this thread: cancel-safe, so "not yet" loses nothing.
        let batch = reader.next_lines(BATCH, usize::MAX).now_or_never()?;
        Some(match batch {
            None => (Vec::new(), true),
            Some(batch) => {
                let ended = batch.ended;
                let lines: Vec<bytes::Bytes> = batch.lines().map(|(line, _)| line).collect();
                (lines_to_python(py, &lines, text), ended)
            }
        })
    }

    /// An awaitable of the host's outcome (as [`outcome`](Self::outcome) gives it) once
    /// it has finished.
    fn wait_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let cell = self.cell.clone();
        let work = async move { cell.output.wait().await };
        crate::aio::future(py, work, |py, outcome| Ok(outcome_tuple(py, outcome)))
    }

    /// The next chunk of raw bytes of stdout (1) or stderr (2), `None` at the end.
    fn read_chunk(&self, py: Python<'_>, stream: u8) -> PyResult<Option<Py<PyBytes>>> {
        let cell = self.cell.clone();
        let chunk = wait(py, async move {
            let mut reader = cell.reader(stream).lock().await;
            reader.next_chunk().await
        })?;
        Ok(chunk.map(|chunk| PyBytes::new(py, &chunk).unbind()))
    }

    /// The outcome so far: `None` while running, else `("exit", code)`,
    /// `("signal", name)`, `("nostatus",)` or `("error", kind, message)`.
    fn outcome(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.cell
            .output
            .outcome()
            .map(|outcome| outcome_tuple(py, outcome))
    }

    /// Waits until the host finishes (at most `timeout` seconds); whether it did.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let cell = self.cell.clone();
        let limit = timeout.map(|t| Duration::from_secs_f64(t.max(0.0)));
        wait(py, async move {
            match limit {
                None => {
                    let _ = cell.output.wait().await;
                    true
                }
                Some(limit) => tokio::time::timeout(limit, cell.output.wait())
                    .await
                    .is_ok(),
            }
        })
    }

    /// Identifies the host's run (hosts of one run share it).
    #[getter]
    fn run_id(&self) -> usize {
        Arc::as_ptr(&self.cell.run) as usize
    }

    /// Joins the host's whole run (at most `timeout` seconds): from then on its output is
    /// kept in full rather than slowing hosts down (see `Joiner::join`). Whether all of
    /// the run's hosts finished.
    #[pyo3(signature = (timeout=None))]
    fn join_run(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let cell = self.cell.clone();
        let limit = timeout.map(|t| Duration::from_secs_f64(t.max(0.0)));
        Ok(wait(py, async move { cell.run.join(limit).await })?.is_ok())
    }

    /// Queues bytes for the host's stdin; `False` when stdin is already closed.
    fn write_stdin(&self, py: Python<'_>, data: Vec<u8>) -> PyResult<bool> {
        let stdin = self.cell.stdin.clone();
        Ok(wait(py, async move { stdin.write(data).await })?.is_ok())
    }

    /// The command line as sent (after sudo and shell wrapping; `bytes`), or `None`.
    #[getter]
    fn command_line(&self, py: Python<'_>) -> Option<Py<PyBytes>> {
        let line = self.cell.output.command_line()?;
        Some(PyBytes::new(py, line.as_bytes()).unbind())
    }

    /// Stops this host alone (its channel is closed); a finished host keeps its outcome.
    fn cancel(&self) {
        self.cell.output.cancel();
    }

    /// [`write_stdin`](Self::write_stdin) for asyncio: an awaitable of whether it was
    /// written (false once the channel is gone).
    fn write_stdin_async<'py>(
        &self,
        py: Python<'py>,
        data: Vec<u8>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let stdin = self.cell.stdin.clone();
        let work = async move { stdin.write(data).await.is_ok() };
        crate::aio::future(py, work, |py, written| {
            Ok(pyo3::types::PyBool::new(py, written)
                .to_owned()
                .into_any()
                .unbind())
        })
    }

    /// [`close_stdin`](Self::close_stdin) for asyncio.
    fn close_stdin_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stdin = self.cell.stdin.clone();
        let work = async move { stdin.close().await };
        crate::aio::future(py, work, |py, ()| Ok(py.None()))
    }

    /// Closes the host's stdin (EOF) after what was written.
    fn close_stdin(&self, py: Python<'_>) -> PyResult<()> {
        let stdin = self.cell.stdin.clone();
        wait(py, async move { stdin.close().await })
    }

    /// What a finished transfer moved: `(files, bytes, seconds)`.
    fn copy_report(&self) -> Option<(u64, u64, f64)> {
        self.cell
            .output
            .copy_report()
            .map(|report| (report.files, report.bytes, report.elapsed.as_secs_f64()))
    }

    /// `(connect seconds or None, total seconds)` once started.
    fn timing(&self) -> Option<(Option<f64>, f64)> {
        self.cell.output.timing().map(|timing| {
            (
                timing.connect.map(|d| d.as_secs_f64()),
                timing.total.as_secs_f64(),
            )
        })
    }
}

fn outcome_tuple(py: Python<'_>, outcome: sshfan::Outcome) -> Py<PyAny> {
    let tuple = match outcome {
        Ok(ExitStatus::Code(code)) => ("exit", code).into_pyobject(py).map(|t| t.into_any()),
        Ok(ExitStatus::Signal { name, .. }) => {
            ("signal", name).into_pyobject(py).map(|t| t.into_any())
        }
        Ok(ExitStatus::NoStatus) => ("nostatus",).into_pyobject(py).map(|t| t.into_any()),
        Err(err) => ("error", err.kind().code(), err.to_string())
            .into_pyobject(py)
            .map(|t| t.into_any()),
    };
    match tuple {
        Ok(tuple) => tuple.unbind(),
        Err(_) => py.None(),
    }
}
