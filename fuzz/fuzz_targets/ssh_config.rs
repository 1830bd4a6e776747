//! ssh_config parsing and resolution: any text gives an error or a config, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sshfan::ssh_config::SshConfig;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = SshConfig::parse(&text) {
        let _ = config.resolve("web1.example.com", Some("deploy"));
        let _ = config.resolve("10.0.0.1", None);
    }
});
