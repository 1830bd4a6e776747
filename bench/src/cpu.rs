//! This process's CPU time, for the benchmark binaries that time only part of their run
//! (the rounds after connecting), which a harness outside the process cannot separate.
//!
//! `unsafe` for one bare `getrusage`, which keeps any library out of the measured path.
#![allow(unsafe_code)]

/// This process's user and system CPU seconds so far.
pub fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct it is given and keeps no pointer.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime), seconds(usage.ru_stime))
}
