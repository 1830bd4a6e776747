//! The `sshfan` binary; the code is in the library (`src/lib.rs`).

fn main() -> std::process::ExitCode {
    sshfan_cli::main()
}
