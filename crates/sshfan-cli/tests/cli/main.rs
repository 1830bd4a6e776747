//! The `sshfan` binary end to end, against the testkit fleet over loopback TCP.

/// `sshfan demo`.
mod demo;
/// `sshfan -w … -- command`: streamed output, stderr, exit codes.
mod run;
