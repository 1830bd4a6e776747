//! A rollout from Python: `run_command(..., waves=…, max_fail=…, gate=…)` becomes the
//! library's [`Rollout`] (waves, failure budget, gate, pause, spread).

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sshfan::rollout::{Rollout, WaveReport, parse_waves};

/// The rollout's settings as `sshfan._native.Client.run(rollout=…)` takes them.
#[derive(FromPyObject)]
pub struct RolloutArg {
    /// `1,10%,rest`.
    #[pyo3(item)]
    waves: Option<String>,
    /// `3` or `5%`.
    #[pyo3(item)]
    max_fail: Option<String>,
    #[pyo3(item)]
    abort_running: bool,
    /// Called with the wave's report (a dict) after each wave but the last; a false
    /// result halts the rollout.
    #[pyo3(item)]
    gate: Option<Py<PyAny>>,
    #[pyo3(item)]
    wave_pause: Option<f64>,
    /// Each host's group number, by position.
    #[pyo3(item)]
    spread: Option<Vec<usize>>,
}

impl RolloutArg {
    pub fn into_rollout(self) -> PyResult<Rollout> {
        let invalid = |err: sshfan::rollout::RolloutError| PyValueError::new_err(err.to_string());
        let waves = match &self.waves {
            Some(waves) => parse_waves(waves).map_err(invalid)?,
            None => Vec::new(),
        };
        let max_fail = match &self.max_fail {
            Some(budget) => Some(budget.parse().map_err(invalid)?),
            None => None,
        };
        let pause = match self.wave_pause {
            Some(seconds) => Some(
                Duration::try_from_secs_f64(seconds)
                    .map_err(|_| PyValueError::new_err("wave_pause takes seconds"))?,
            ),
            None => None,
        };
        let gate = self.gate.map(|gate| -> sshfan::rollout::WaveGate {
            Arc::new(move |report: &WaveReport| {
                crate::aio::attach_unless_exiting(|py| {
                    let call = || -> PyResult<bool> {
                        let dict = PyDict::new(py);
                        dict.set_item("wave", report.wave)?;
                        dict.set_item("waves", report.waves)?;
                        dict.set_item("hosts", report.hosts.clone())?;
                        dict.set_item("succeeded", report.succeeded)?;
                        dict.set_item("failed", report.failed)?;
                        dict.set_item("failed_so_far", report.failed_so_far)?;
                        gate.call1(py, (dict,))?.is_truthy(py)
                    };
                    // A gate that raises halts the rollout (and says why on stderr).
                    call().unwrap_or_else(|err| {
                        err.print(py);
                        false
                    })
                })
                // The interpreter is exiting: no further wave.
                .unwrap_or(false)
            })
        });
        Ok(Rollout {
            waves,
            max_fail,
            abort_running: self.abort_running,
            gate,
            pause,
            spread: self.spread,
        })
    }
}
