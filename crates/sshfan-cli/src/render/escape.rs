//! Terminal safety: what a host prints must not drive the terminal that shows it.
//!
//! Remote output is hostile: an escape sequence can set the clipboard (OSC 52), plant a
//! link (OSC 8), clear the screen, ask the terminal to type an answer into the user's
//! shell (`ESC[6n`), or with `\r` overwrite the `host:` prefix so that one host forges
//! another host's line. When a stream is a terminal, every control character of a line
//! (all but `\t`) is shown in caret notation (`^[`, `^M`, `^?`), C1 controls and bytes
//! that are not UTF-8 as `\u{9b}` / `\xff`. Pipes, files and `--raw` get the bytes as sent.

use std::borrow::Cow;

/// Whether a byte needs a look: controls, DEL, and everything not ASCII (C1 controls
/// hide there, as do bytes that are not UTF-8).
fn suspicious(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t') || byte >= 0x7f
}

/// `line` with control characters made visible; borrowed when there was nothing to do.
pub fn escape_controls(line: &[u8]) -> Cow<'_, [u8]> {
    if !line.iter().copied().any(suspicious) {
        return Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            match u32::from(c) {
                0x09 => out.push(b'\t'),
                code @ 0x00..=0x1f => out.extend_from_slice(&[b'^', (code as u8) + 0x40]),
                0x7f => out.extend_from_slice(b"^?"),
                code @ 0x80..=0x9f => out.extend_from_slice(format!("\\u{{{code:x}}}").as_bytes()),
                _ => {
                    let mut utf8 = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
        for byte in chunk.invalid() {
            out.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
        }
    }
    Cow::Owned(out)
}

/// [`escape_controls`] for text (messages built from what a server sent).
pub fn escape_text(text: &str) -> Cow<'_, str> {
    match escape_controls(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_passes_untouched() {
        for line in [&b"hello\tworld"[..], b"", "é 名前 ✓".as_bytes()] {
            assert!(matches!(escape_controls(line), Cow::Borrowed(_)) || !line.is_ascii());
            assert_eq!(&*escape_controls(line), line);
        }
    }

    #[test]
    fn sequences_that_drive_a_terminal_are_shown_not_sent() {
        let cases: [(&[u8], &[u8]); 7] = [
            (b"\x1b]52;c;cHduZWQ=\x07", b"^[]52;c;cHduZWQ=^G"),
            (b"\x1b[2J\x1b[6n", b"^[[2J^[[6n"),
            (b"web9: forged\rweb1: ok", b"web9: forged^Mweb1: ok"),
            (b"\x1b]8;;http://x\x1b\\link", b"^[]8;;http://x^[\\link"),
            (b"del\x7f", b"del^?"),
            ("c1 \u{9b}31m".as_bytes(), b"c1 \\u{9b}31m"),
            (b"bad \xff\xfe", b"bad \\xff\\xfe"),
        ];
        for (raw, shown) in cases {
            let escaped = escape_controls(raw);
            assert_eq!(&*escaped, shown, "{}", String::from_utf8_lossy(raw));
            assert!(!escaped.iter().any(|&b| b < 0x20 && b != b'\t'));
        }
        assert_eq!(escape_text("a\x1b[0m"), "a^[[0m");
    }
}
