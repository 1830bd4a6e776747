//! known_hosts parsing: any text is indexed without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sshfan::known_hosts::KnownHosts;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let known = KnownHosts::from_text(&text);
    let _ = known.has_cert_authorities();
});
