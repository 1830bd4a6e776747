//! The testkit's own tests: the fleet's interpreter, real-shell mode, faults that the
//! library tests do not already cover, and the `sshfan-fleet` binary.

/// The `sshfan-fleet` binary.
mod fleet_binary;
/// Built-in commands and `sh -c` mode.
mod interpreter;
