//! sshfan's Python extension module, `sshfan._native`.
//!
//! A thin layer over the Rust library: [`client::Client`] builds a parallel client from
//! keyword arguments, [`run::PyRun`] and [`run::PyHost`] expose a run's hosts. The
//! parallel-ssh-compatible API (`sshfan.clients.ParallelSSHClient`, `HostOutput`,
//! exceptions, …) is written in Python on top of these, in `python/sshfan/`.

mod aio;
mod client;
mod outliers;
mod rollout;
mod run;
mod runtime;

use pyo3::prelude::*;

/// Logs the Rust library's events to stderr at `level` (`debug`, `info`, …), or as the
/// `filter` directive says (`SSHFAN_LOG` syntax). Only the first call takes effect.
#[pyfunction]
#[pyo3(signature = (filter="info"))]
fn enable_tracing(filter: &str) -> bool {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .is_ok()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<run::PyRun>()?;
    m.add_class::<run::PyHost>()?;
    m.add(
        "ReadTimeoutError",
        m.py().get_type::<run::ReadTimeoutError>(),
    )?;
    m.add("NO_IPV6", sshfan::transport::NO_IPV6_ADDRESS)?;
    m.add_function(wrap_pyfunction!(enable_tracing, m)?)?;
    m.add_function(wrap_pyfunction!(outliers::group_outputs, m)?)?;
    m.add_function(wrap_pyfunction!(aio::shutdown, m)?)?;
    Ok(())
}
