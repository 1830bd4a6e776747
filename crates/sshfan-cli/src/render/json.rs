//! `--json`: one JSON object per line on stdout. The format is stable; see the README.
//!
//! - `{"event":"line","host":H,"index":I,"stream":"stdout"|"stderr","text":T,"eol":B}`; a
//!   line that is not valid UTF-8 has `"base64":B64` instead of `"text"`.
//! - `{"event":"exit","host":H,"index":I,"status":"exited","code":N,…timing}`, or
//!   `"status":"signal","signal":"TERM","core_dumped":B`, or `"status":"no_status"`.
//! - `{"event":"error","host":H,"index":I,"kind":K,"message":M,…timing}`.
//! - `{"event":"summary","hosts":N,"ok":N,"failed":N,"elapsed_ms":F,"interrupted":B,
//!   "outcomes":{"ok":["web1",…],"exit 3":[…]}}` last.
//!
//! Timing fields: `connect_ms` (absent when the host never connected) and `total_ms`.

use std::time::Duration;

use base64::Engine;
use serde_json::{Map, Value, json};
use sshfan::{ExitStatus, Outcome, Timing};

use super::Stream;
use crate::summary::Summary;

fn millis(duration: Duration) -> Value {
    json!((duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
}

fn encode(object: Value) -> String {
    let mut text = object.to_string();
    text.push('\n');
    text
}

pub fn line(index: usize, host: &str, stream: Stream, line: &[u8], eol: bool) -> String {
    let stream = match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    };
    let mut object = json!({"event": "line", "host": host, "index": index, "stream": stream});
    if let Value::Object(map) = &mut object {
        match std::str::from_utf8(line) {
            Ok(text) => map.insert("text".into(), json!(text)),
            Err(_) => map.insert(
                "base64".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(line)),
            ),
        };
        map.insert("eol".into(), json!(eol));
    }
    encode(object)
}

pub fn done(index: usize, host: &str, outcome: &Outcome, timing: Option<Timing>) -> String {
    let mut map = Map::new();
    let event = if outcome.is_ok() { "exit" } else { "error" };
    map.insert("event".into(), json!(event));
    map.insert("host".into(), json!(host));
    map.insert("index".into(), json!(index));
    match outcome {
        Ok(status) => match status {
            ExitStatus::Code(code) => {
                map.insert("status".into(), json!("exited"));
                map.insert("code".into(), json!(code));
            }
            ExitStatus::Signal {
                name, core_dumped, ..
            } => {
                map.insert("status".into(), json!("signal"));
                map.insert("signal".into(), json!(name));
                map.insert("core_dumped".into(), json!(core_dumped));
            }
            ExitStatus::NoStatus => {
                map.insert("status".into(), json!("no_status"));
            }
        },
        Err(err) => {
            map.insert("kind".into(), json!(err.kind().code()));
            map.insert("message".into(), json!(err.kind().to_string()));
        }
    }
    if let Some(timing) = timing {
        if let Some(connect) = timing.connect {
            map.insert("connect_ms".into(), millis(connect));
        }
        map.insert("total_ms".into(), millis(timing.total));
    }
    encode(Value::Object(map))
}

pub fn summary(summary: &Summary, elapsed: Duration, interrupted: bool) -> String {
    let mut outcomes = Map::new();
    for (category, hosts) in summary.groups() {
        outcomes.insert(category.clone(), json!(hosts));
    }
    encode(json!({
        "event": "summary",
        "hosts": summary.hosts,
        "ok": summary.ok,
        "failed": summary.hosts - summary.ok,
        "elapsed_ms": millis(elapsed),
        "interrupted": interrupted,
        "outcomes": outcomes,
    }))
}

#[cfg(test)]
mod tests {
    use sshfan::{Error, ErrorKind};

    use super::*;

    #[test]
    fn lines_are_text_or_base64() {
        assert_eq!(
            line(0, "web1", Stream::Stdout, b"hi \"x\"", true),
            "{\"event\":\"line\",\"host\":\"web1\",\"index\":0,\"stream\":\"stdout\",\"text\":\"hi \\\"x\\\"\",\"eol\":true}\n"
        );
        let raw = line(1, "web2", Stream::Stderr, b"\xff\x00", false);
        let value: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(value["base64"], "/wA=");
        assert_eq!(value["eol"], false);
        assert!(value.get("text").is_none());
    }

    proptest::proptest! {
        /// Any bytes survive a JSON line: as text when UTF-8, as base64 otherwise.
        #[test]
        fn lines_round_trip(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200), eol: bool) {
            let encoded = line(3, "host", Stream::Stdout, &bytes, eol);
            proptest::prop_assert!(encoded.ends_with('\n') && !encoded.trim_end().contains('\n'));
            let value: Value = serde_json::from_str(&encoded).unwrap();
            let decoded = match (value.get("text"), value.get("base64")) {
                (Some(text), None) => text.as_str().unwrap().as_bytes().to_vec(),
                (None, Some(b64)) => base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap(),
                other => panic!("{other:?}"),
            };
            proptest::prop_assert_eq!(decoded, bytes);
            proptest::prop_assert_eq!(value["eol"].as_bool(), Some(eol));
        }
    }

    #[test]
    fn exits_and_errors() {
        let timing = Some(Timing {
            connect: Some(Duration::from_micros(1500)),
            total: Duration::from_millis(20),
        });
        let exited: Value =
            serde_json::from_str(&done(0, "a", &Ok(ExitStatus::Code(3)), timing)).unwrap();
        assert_eq!(exited["event"], "exit");
        assert_eq!(exited["code"], 3);
        assert_eq!(exited["connect_ms"], 1.5);
        assert_eq!(exited["total_ms"], 20.0);
        let failed: Value = serde_json::from_str(&done(
            1,
            "b",
            &Err(Error::new("b", ErrorKind::Refused)),
            None,
        ))
        .unwrap();
        assert_eq!(failed["event"], "error");
        assert_eq!(failed["kind"], "refused");
        assert_eq!(failed["message"], "connection refused");
        assert!(failed.get("total_ms").is_none());
    }
}
