//! Transparent huge pages off for the whole `sshfan` process.
//!
//! mimalloc (the binary's allocator) asks the kernel for transparent huge pages
//! (`madvise(MADV_HUGEPAGE)`) on the regions it maps for each thread. Where THP is in
//! `madvise` mode (Debian's and Ubuntu's default), the first touch of such a region
//! makes the kernel clear a whole 2 MiB page, most of which a run never uses: a
//! one-shot run over 200 OpenSSH hosts spent 56% of its CPU in the kernel's
//! `clear_page_erms`, 0.30 s instead of 0.14 s (BENCHMARKS.md, "Huge pages"). With THP
//! off, memory is faulted in 4 KiB at a time as it is used.
//!
//! The flag is the process's (`PR_SET_THP_DISABLE`, what mimalloc itself sets when its
//! `allow_thp` option is off); programs the binary starts (a `ProxyCommand`) inherit it.

/// Turns transparent huge pages off for this process, from now on. Where the kernel
/// cannot (not Linux, or a kernel without the flag), nothing changes.
pub fn disable() {
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_process_runs_without_transparent_huge_pages() {
        super::disable();
        assert_eq!(nix::sys::prctl::get_thp_disable(), Ok(true));
        // What the kernel reports of the process (Linux 5.0 and later).
        let status = std::fs::read_to_string("/proc/self/status").expect("read status");
        if let Some(line) = status.lines().find(|line| line.starts_with("THP_enabled:")) {
            assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
        }
    }
}
