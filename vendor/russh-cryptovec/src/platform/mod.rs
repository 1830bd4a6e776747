#[cfg(windows)]
mod windows;

// sshfan patch: no mlock/munlock on Unix (the no-op module WASM uses). Locking each
// buffer splits the heap's mappings: a root process (exempt from RLIMIT_MEMLOCK) holding
// about 50,000 sessions reached vm.max_map_count (65,530 mappings) and its allocations
// failed. It also cost 9 mlock/munlock pairs per connection. Buffers are still zeroed
// when cleared, reallocated or dropped. See vendor/README.md.
#[cfg(not(windows))]
mod wasm;

// Re-export functions based on the platform
#[cfg(not(windows))]
pub use wasm::{mlock, munlock};
#[cfg(windows)]
pub use windows::{mlock, munlock};

#[cfg(windows)]
mod error {
    use std::error::Error;
    use std::fmt::Display;
    use std::sync::atomic::{AtomicBool, Ordering};

    use log::warn;

    #[derive(Debug)]
    pub struct MemoryLockError {
        message: String,
    }

    impl MemoryLockError {
        pub fn new(message: String) -> Self {
            let warning_previously_shown = MLOCK_WARNING_SHOWN.swap(true, Ordering::Relaxed);
            if !warning_previously_shown {
                warn!(
                    "Security warning: OS has failed to lock/unlock memory for a cryptographic buffer: {message}"
                );
                #[cfg(unix)]
                warn!("You might need to increase the RLIMIT_MEMLOCK limit.");
                warn!("This warning will only be shown once.");
            }
            Self { message }
        }
    }

    static MLOCK_WARNING_SHOWN: AtomicBool = AtomicBool::new(false);

    impl Display for MemoryLockError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "failed to lock/unlock memory: {}", self.message)
        }
    }

    impl Error for MemoryLockError {}
}

#[cfg(windows)]
pub use error::MemoryLockError;
