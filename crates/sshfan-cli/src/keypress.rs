//! While a run is in progress on a terminal, any key prints which hosts are still
//! running, as in clush (Ctrl-\, SIGQUIT, does the same anywhere).
//!
//! The terminal is put in non-canonical mode without echo for the run (signals stay on,
//! so Ctrl-C still interrupts) and restored when the run ends, or before a second
//! Ctrl-C exits the process.

use std::io::Read;
use std::sync::Mutex;

use nix::sys::termios::{LocalFlags, SetArg, Termios, tcgetattr, tcsetattr};
use tokio::sync::mpsc;

/// The terminal settings to restore, while keys are watched.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Keys watched on stdin for one run; restores the terminal when dropped.
pub struct KeyWatch;

impl KeyWatch {
    /// Starts watching when stdin is a terminal (nothing else reads it during a run:
    /// stdin is broadcast only when it is not a terminal). Each key sends a `()`.
    pub fn start(keys: mpsc::UnboundedSender<()>) -> Option<KeyWatch> {
        use std::io::IsTerminal;
        let stdin = std::io::stdin();
        // Only in the foreground: a background job changing the terminal would be
        // stopped (SIGTTOU).
        let foreground = nix::unistd::tcgetpgrp(&stdin).ok() == Some(nix::unistd::getpgrp());
        if !stdin.is_terminal() || !foreground {
            return None;
        }
        let original = tcgetattr(&stdin).ok()?;
        let mut quiet = original.clone();
        quiet
            .local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(original);
        // The thread blocks on the terminal until a key comes; it ends when the key
        // channel is closed (after the run) and a key comes, or with the process.
        std::thread::spawn(move || {
            let mut byte = [0u8; 1];
            while let Ok(1) = std::io::stdin().lock().read(&mut byte) {
                if keys.send(()).is_err() {
                    break;
                }
            }
        });
        Some(KeyWatch)
    }
}

impl Drop for KeyWatch {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Puts the terminal back as it was before keys were watched (idempotent).
pub fn restore_terminal() {
    if let Some(original) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &original);
    }
}
