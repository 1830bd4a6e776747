//! Test data: deterministic pseudo-random bytes (incompressible, reproducible).

/// `len` pseudo-random bytes from a fixed seed (xorshift64).
pub fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
