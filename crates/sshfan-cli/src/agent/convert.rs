//! Between the CLI's and the library's types and their [`wire`](super::wire) forms.

use sshfan::copy::{CopyOptions, CopyReport, DownloadLayout, Protocol, TargetRule};
use sshfan::rollout::{FailBudget, Rollout, WaveGate, WaveReport, WaveSize};
use sshfan::{ExitStatus, Progress, RunOptions, Timing};

use super::wire::{
    JobSpec, WireCopy, WireCopyOptions, WireEnding, WireLayout, WireProgress, WireRollout,
    WireSudo, WireTiming, WireWave, WireWaveReport, WireWork,
};
use crate::ending::Ending;
use crate::runner::Work;

impl JobSpec {
    /// The job as the CLI would run it. `options.stdin` is sent whole.
    pub fn new(work: &Work, options: &RunOptions) -> JobSpec {
        JobSpec {
            work: match work {
                Work::Command(command) => WireWork::Command(command.clone()),
                Work::Upload {
                    local,
                    remote,
                    options,
                } => WireWork::Upload {
                    local: local.clone(),
                    remote: remote.clone(),
                    options: WireCopyOptions::from(options),
                },
                Work::Download {
                    remote,
                    local,
                    options,
                } => WireWork::Download {
                    remote: remote.clone(),
                    local: local.clone(),
                    options: WireCopyOptions::from(options),
                },
            },
            stdin: options.stdin.as_deref().unwrap_or_default().to_vec(),
            fail_fast: options.fail_fast,
            pty: options.pty,
            env: options.env.clone(),
            sudo: options.sudo.as_ref().map(|sudo| WireSudo {
                user: sudo.user.clone(),
                password: sudo.password.as_ref().map(|p| p.expose().to_owned()),
            }),
            shell: options.shell.clone(),
            read_timeout: options.read_timeout,
            command_timeout: options.command_timeout,
            pool_size: options.pool_size,
            rollout: options.rollout.as_ref().map(|rollout| WireRollout {
                waves: rollout.waves.iter().map(|&w| WireWave::from(w)).collect(),
                max_fail: rollout.max_fail.map(|budget| match budget {
                    FailBudget::Count(n) => WireWave::Count(n),
                    FailBudget::Percent(p) => WireWave::Percent(p),
                }),
                abort_running: rollout.abort_running,
                gate: rollout.gate.is_some(),
                pause: rollout.pause,
                spread: rollout.spread.clone(),
            }),
        }
    }

    /// The work and options to run in the agent; `gate` asks the CLI.
    pub fn into_parts(self, gate: Option<WaveGate>) -> (Work, RunOptions) {
        let work = match self.work {
            WireWork::Command(command) => Work::Command(command),
            WireWork::Upload {
                local,
                remote,
                options,
            } => Work::Upload {
                local,
                remote,
                options: options.into(),
            },
            WireWork::Download {
                remote,
                local,
                options,
            } => Work::Download {
                remote,
                local,
                options: options.into(),
            },
        };
        let mut options = RunOptions::default()
            .stdin(self.stdin)
            .fail_fast(self.fail_fast)
            .pty(self.pty);
        options.env = self.env;
        if let Some(sudo) = self.sudo {
            options = options.sudo(sudo.user.as_deref(), sudo.password.as_deref());
        }
        options.shell = self.shell;
        options.read_timeout = self.read_timeout;
        options.command_timeout = self.command_timeout;
        options.pool_size = self.pool_size;
        options.rollout = self.rollout.map(|rollout| Rollout {
            waves: rollout.waves.into_iter().map(WaveSize::from).collect(),
            max_fail: rollout.max_fail.and_then(|budget| match budget {
                WireWave::Count(n) => Some(FailBudget::Count(n)),
                WireWave::Percent(p) => Some(FailBudget::Percent(p)),
                WireWave::Rest => None,
            }),
            abort_running: rollout.abort_running,
            gate: if rollout.gate { gate } else { None },
            pause: rollout.pause,
            spread: rollout.spread,
        });
        (work, options)
    }
}

impl From<WaveSize> for WireWave {
    fn from(size: WaveSize) -> WireWave {
        match size {
            WaveSize::Count(n) => WireWave::Count(n),
            WaveSize::Percent(p) => WireWave::Percent(p),
            WaveSize::Rest => WireWave::Rest,
        }
    }
}

impl From<WireWave> for WaveSize {
    fn from(size: WireWave) -> WaveSize {
        match size {
            WireWave::Count(n) => WaveSize::Count(n),
            WireWave::Percent(p) => WaveSize::Percent(p),
            WireWave::Rest => WaveSize::Rest,
        }
    }
}

impl From<&CopyOptions> for WireCopyOptions {
    fn from(options: &CopyOptions) -> WireCopyOptions {
        WireCopyOptions {
            recursive: options.recursive,
            preserve: options.preserve,
            overwrite: options.overwrite,
            scp: options.protocol == Protocol::Scp,
            layout: match &options.layout {
                DownloadLayout::Suffix(separator) => WireLayout::Suffix(separator.clone()),
                DownloadLayout::PerHostDir => WireLayout::PerHostDir,
                DownloadLayout::Exact => WireLayout::Exact,
            },
            idle_timeout: options.idle_timeout,
            follow_symlinks: options.follow_symlinks,
            scp_rule: options.target_rule == TargetRule::Scp,
            make_parents: options.make_parents,
        }
    }
}

impl From<WireCopyOptions> for CopyOptions {
    fn from(options: WireCopyOptions) -> CopyOptions {
        CopyOptions {
            recursive: options.recursive,
            preserve: options.preserve,
            overwrite: options.overwrite,
            protocol: if options.scp {
                Protocol::Scp
            } else {
                Protocol::Sftp
            },
            layout: match options.layout {
                WireLayout::Suffix(separator) => DownloadLayout::Suffix(separator),
                WireLayout::PerHostDir => DownloadLayout::PerHostDir,
                WireLayout::Exact => DownloadLayout::Exact,
            },
            idle_timeout: options.idle_timeout,
            follow_symlinks: options.follow_symlinks,
            target_rule: if options.scp_rule {
                TargetRule::Scp
            } else {
                TargetRule::ParallelSsh
            },
            make_parents: options.make_parents,
        }
    }
}

impl From<&Ending> for WireEnding {
    fn from(ending: &Ending) -> WireEnding {
        match ending {
            Ending::Remote(ExitStatus::Code(code)) => WireEnding::Exited(*code),
            Ending::Remote(ExitStatus::Signal {
                name,
                core_dumped,
                message,
            }) => WireEnding::Signal {
                name: name.clone(),
                core_dumped: *core_dumped,
                message: message.clone(),
            },
            Ending::Remote(ExitStatus::NoStatus) => WireEnding::NoStatus,
            Ending::Failed { code, message } => WireEnding::Failed {
                code: code.clone(),
                message: message.clone(),
            },
        }
    }
}

impl From<WireEnding> for Ending {
    fn from(ending: WireEnding) -> Ending {
        match ending {
            WireEnding::Exited(code) => Ending::Remote(ExitStatus::Code(code)),
            WireEnding::Signal {
                name,
                core_dumped,
                message,
            } => Ending::Remote(ExitStatus::Signal {
                name,
                core_dumped,
                message,
            }),
            WireEnding::NoStatus => Ending::Remote(ExitStatus::NoStatus),
            WireEnding::Failed { code, message } => Ending::Failed { code, message },
        }
    }
}

impl From<Timing> for WireTiming {
    fn from(timing: Timing) -> WireTiming {
        WireTiming {
            connect: timing.connect,
            total: timing.total,
        }
    }
}

impl From<WireTiming> for Timing {
    fn from(timing: WireTiming) -> Timing {
        Timing {
            connect: timing.connect,
            total: timing.total,
        }
    }
}

impl From<CopyReport> for WireCopy {
    fn from(report: CopyReport) -> WireCopy {
        WireCopy {
            files: report.files,
            bytes: report.bytes,
            elapsed: report.elapsed,
        }
    }
}

impl From<WireCopy> for CopyReport {
    fn from(report: WireCopy) -> CopyReport {
        CopyReport {
            files: report.files,
            bytes: report.bytes,
            elapsed: report.elapsed,
        }
    }
}

impl From<Progress> for WireProgress {
    fn from(progress: Progress) -> WireProgress {
        WireProgress {
            pending: progress.pending,
            running: progress.running,
            succeeded: progress.succeeded,
            failed: progress.failed,
            bytes: progress.bytes,
        }
    }
}

impl From<WireProgress> for Progress {
    fn from(progress: WireProgress) -> Progress {
        Progress {
            pending: progress.pending,
            running: progress.running,
            succeeded: progress.succeeded,
            failed: progress.failed,
            bytes: progress.bytes,
        }
    }
}

impl From<&WaveReport> for WireWaveReport {
    fn from(report: &WaveReport) -> WireWaveReport {
        WireWaveReport {
            wave: report.wave,
            waves: report.waves,
            hosts: report.hosts.clone(),
            succeeded: report.succeeded,
            failed: report.failed,
            failed_so_far: report.failed_so_far,
            total: report.total,
        }
    }
}

impl From<WireWaveReport> for WaveReport {
    fn from(report: WireWaveReport) -> WaveReport {
        WaveReport {
            wave: report.wave,
            waves: report.waves,
            hosts: report.hosts,
            succeeded: report.succeeded,
            failed: report.failed,
            failed_so_far: report.failed_so_far,
            total: report.total,
        }
    }
}

impl JobSpec {
    /// Local paths made absolute (the agent's working directory is not the CLI's).
    pub fn absolute_paths(&mut self) {
        match &mut self.work {
            WireWork::Command(_) => {}
            WireWork::Upload { local, .. } | WireWork::Download { local, .. } => {
                *local = super::remote::absolute(local);
            }
        }
    }
}
