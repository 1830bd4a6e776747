//! The output line splitter: any bytes, cut into any chunks, come back as lines that
//! concatenate to the input, each ending at its first `\n` (the last may have none), and
//! mixing chunk reads with line reads loses nothing.
#![no_main]

use bytes::Bytes;
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use sshfan::OutputReader;

fuzz_target!(|input: &[u8]| {
    // First byte: chunk size (1..=256); second: read a chunk after every Nth line.
    let [size, mix, data @ ..] = input else {
        return;
    };
    let chunk = usize::from(*size) + 1;
    let chunks: Vec<Bytes> = data.chunks(chunk).map(Bytes::copy_from_slice).collect();
    let mut reader = OutputReader::from_chunks(chunks);
    let mut rebuilt = Vec::new();
    let mut lines = 0usize;
    block_on(async {
        loop {
            if *mix > 0 && lines % usize::from(*mix) == usize::from(*mix) - 1 {
                lines += 1;
                match reader.next_chunk().await {
                    Some(raw) => rebuilt.extend_from_slice(&raw),
                    None => break,
                }
                continue;
            }
            let Some(line) = reader.next_line_raw().await else {
                break;
            };
            let newline = line.iter().position(|&b| b == b'\n');
            assert!(
                newline.is_none() || newline == Some(line.len() - 1),
                "a line ends at its first newline"
            );
            assert!(!line.is_empty(), "no empty lines");
            rebuilt.extend_from_slice(&line);
            lines += 1;
        }
    });
    assert_eq!(rebuilt, data, "nothing lost, nothing added");
});
