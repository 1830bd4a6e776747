//! The agent gives freed memory back to the system at once.
//!
//! mimalloc (the binary's allocator) returns pages emptied by `free` only after a delay,
//! 1 s by default, and only when the thread that owns them allocates or frees again. A
//! one-shot `sshfan` exits before that matters. The agent does not: after a warm run over
//! 10,000 hosts its worker threads go quiet, and the pages the run used stayed resident
//! (43 KiB per idle session instead of 35; BENCHMARKS.md, "A warm fleet"). With no delay,
//! a page goes back as it empties; the runs cost no measurable CPU more.

/// mimalloc's `mi_option_purge_delay`, the 16th option of `mi_option_e` in its v2 and v3
/// headers (libmimalloc-sys names no constant for it; the test below pins it by its default).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Pages emptied by `free` go back to the system at once, from now on.
#[allow(unsafe_code)]
pub fn return_freed_pages_at_once() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table; every
    // option index below `_mi_option_last` is valid, and 15 is.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn purge_delay() -> std::os::raw::c_long {
        // SAFETY: reads an integer from mimalloc's option table, as above.
        unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
    }

    #[test]
    fn the_option_set_is_the_purge_delay() {
        // The purge delay is the only option whose default is 1,000 (milliseconds).
        assert_eq!(purge_delay(), 1000);
        return_freed_pages_at_once();
        assert_eq!(purge_delay(), 0);
    }
}
