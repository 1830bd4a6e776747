//! The `sshfan` binary; the code is in the library (`src/lib.rs`).

/// mimalloc gives memory back as sessions and runs come and go: an agent holding 10,000
/// sessions for weeks stays near what the sessions themselves need (glibc's allocator
/// kept a third more, see BENCHMARKS.md). The agent also has it give pages back as they
/// empty (`agent/memory.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // mimalloc would otherwise have whole 2 MiB pages cleared for memory a run barely uses.
    sshfan_cli::huge_pages::disable();
    sshfan_cli::main()
}
