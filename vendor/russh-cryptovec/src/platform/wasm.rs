use std::convert::Infallible;

// No memory locking: WASM has none, and sshfan turns it off on Unix (see mod.rs).
pub fn munlock(_ptr: *const u8, _len: usize) -> Result<(), Infallible> {
    // No-op
    Ok(())
}

pub fn mlock(_ptr: *const u8, _len: usize) -> Result<(), Infallible> {
    Ok(())
}
