//! The `--json` event encoder and decoder: any line of output bytes survives encoding
//! (as text or base64) on one line, and decoding arbitrary text never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sshfan_cli::render::Stream;
use sshfan_cli::render::json::{Decoded, decode, line};

fuzz_target!(|input: &[u8]| {
    let Some((&flags, bytes)) = input.split_first() else {
        return;
    };
    let stream = if flags & 1 == 0 {
        Stream::Stdout
    } else {
        Stream::Stderr
    };
    let eol = flags & 2 != 0;
    let host = "web[01-02]\"\\\u{7f}";
    let encoded = line(7, host, stream, bytes, eol);
    assert!(encoded.ends_with('\n'));
    assert!(!encoded[..encoded.len() - 1].contains('\n'), "one line");
    assert_eq!(
        decode(&encoded),
        Ok(Decoded::Line {
            index: 7,
            host: host.to_owned(),
            stream,
            line: bytes.to_vec(),
            eol,
        })
    );
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = decode(text);
    }
});
