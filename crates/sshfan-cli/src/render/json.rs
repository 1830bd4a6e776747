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
use sshfan::{ExitStatus, Timing};

use super::Stream;
use crate::ending::Ending;
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

pub fn done(index: usize, host: &str, ending: &Ending, timing: Option<Timing>) -> String {
    let mut map = Map::new();
    let event = match ending {
        Ending::Remote(_) => "exit",
        Ending::Failed { .. } => "error",
    };
    map.insert("event".into(), json!(event));
    map.insert("host".into(), json!(host));
    map.insert("index".into(), json!(index));
    match ending {
        Ending::Remote(status) => match status {
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
        Ending::Failed { code, message } => {
            map.insert("kind".into(), json!(code));
            map.insert("message".into(), json!(message));
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

/// One event read back from `--json` output (what `sshfan merge` reads).
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Line {
        index: usize,
        host: String,
        stream: Stream,
        line: Vec<u8>,
        eol: bool,
    },
    Done {
        index: usize,
        host: String,
        ending: Ending,
        timing: Option<Timing>,
    },
    /// A run's closing summary (a merge recomputes the rest).
    Summary {
        elapsed: Duration,
        interrupted: bool,
    },
}

/// A duration written by [`millis`].
fn millis_field(value: &Value, name: &str) -> Option<Duration> {
    let ms = value.get(name)?.as_f64()?;
    Duration::try_from_secs_f64(ms / 1000.0).ok()
}

/// A line that is not a `--json` event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an sshfan --json event: {0}")]
pub struct DecodeError(String);

/// Decodes one line of `--json` output (with or without its newline).
pub fn decode(text: &str) -> Result<Decoded, DecodeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DecodeError(e.to_string()))?;
    let field = |name: &str| {
        value
            .get(name)
            .ok_or_else(|| DecodeError(format!("no `{name}` field")))
    };
    let string = |name: &str| {
        field(name)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| DecodeError(format!("`{name}` is not a string")))
    };
    let number = |name: &str| {
        field(name)?
            .as_u64()
            .ok_or_else(|| DecodeError(format!("`{name}` is not a whole number")))
    };
    let boolean = |name: &str| {
        field(name)?
            .as_bool()
            .ok_or_else(|| DecodeError(format!("`{name}` is not true or false")))
    };
    let index =
        || usize::try_from(number("index")?).map_err(|_| DecodeError("index out of range".into()));
    match string("event")?.as_str() {
        "line" => {
            let stream = match string("stream")?.as_str() {
                "stdout" => Stream::Stdout,
                "stderr" => Stream::Stderr,
                other => return Err(DecodeError(format!("unknown stream `{other}`"))),
            };
            let line = match value.get("base64") {
                Some(_) => base64::engine::general_purpose::STANDARD
                    .decode(string("base64")?)
                    .map_err(|e| DecodeError(format!("bad base64: {e}")))?,
                None => string("text")?.into_bytes(),
            };
            Ok(Decoded::Line {
                index: index()?,
                host: string("host")?,
                stream,
                line,
                eol: boolean("eol")?,
            })
        }
        event @ ("exit" | "error") => {
            let ending = if event == "error" {
                Ending::Failed {
                    code: string("kind")?,
                    message: string("message")?,
                }
            } else {
                Ending::Remote(match string("status")?.as_str() {
                    "exited" => ExitStatus::Code(
                        u32::try_from(number("code")?)
                            .map_err(|_| DecodeError("exit code out of range".into()))?,
                    ),
                    "signal" => ExitStatus::Signal {
                        name: string("signal")?,
                        core_dumped: boolean("core_dumped")?,
                        message: String::new(),
                    },
                    "no_status" => ExitStatus::NoStatus,
                    other => return Err(DecodeError(format!("unknown status `{other}`"))),
                })
            };
            let timing = millis_field(&value, "total_ms").map(|total| Timing {
                connect: millis_field(&value, "connect_ms"),
                total,
            });
            Ok(Decoded::Done {
                index: index()?,
                host: string("host")?,
                ending,
                timing,
            })
        }
        "summary" => Ok(Decoded::Summary {
            elapsed: millis_field(&value, "elapsed_ms").unwrap_or_default(),
            interrupted: boolean("interrupted")?,
        }),
        other => Err(DecodeError(format!("unknown event `{other}`"))),
    }
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
            proptest::prop_assert_eq!(value.get("text").is_some(), std::str::from_utf8(&bytes).is_ok());
            proptest::prop_assert_eq!(
                decode(&encoded),
                Ok(Decoded::Line { index: 3, host: "host".into(), stream: Stream::Stdout, line: bytes, eol })
            );
        }
    }

    #[test]
    fn exits_and_errors() {
        let timing = Some(Timing {
            connect: Some(Duration::from_micros(1500)),
            total: Duration::from_millis(20),
        });
        let exit_3 = Ending::Remote(ExitStatus::Code(3));
        let text = done(0, "a", &exit_3, timing);
        let exited: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(exited["event"], "exit");
        assert_eq!(exited["code"], 3);
        assert_eq!(exited["connect_ms"], 1.5);
        assert_eq!(exited["total_ms"], 20.0);
        assert_eq!(
            decode(&text),
            Ok(Decoded::Done {
                index: 0,
                host: "a".into(),
                ending: exit_3,
                timing
            })
        );
        let refused = Ending::from(&Err(Error::new("b", ErrorKind::Refused)));
        let text = done(1, "b", &refused, None);
        let failed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(failed["event"], "error");
        assert_eq!(failed["kind"], "refused");
        assert_eq!(failed["message"], "connection refused");
        assert!(failed.get("total_ms").is_none());
        assert_eq!(
            decode(&text),
            Ok(Decoded::Done {
                index: 1,
                host: "b".into(),
                ending: refused,
                timing: None
            })
        );
        let signal = Ending::Remote(ExitStatus::Signal {
            name: "KILL".into(),
            core_dumped: true,
            message: String::new(),
        });
        let text = done(2, "c", &signal, None);
        assert!(matches!(decode(&text), Ok(Decoded::Done { ending, .. }) if ending == signal));
    }

    #[test]
    fn malformed_events_are_errors() {
        for text in [
            "",
            "[]",
            "{}",
            r#"{"event":"line","host":"a","index":0,"stream":"x","text":"","eol":true}"#,
            r#"{"event":"exit","host":"a","index":-1,"status":"exited","code":0}"#,
            r#"{"event":"line","host":"a","index":0,"stream":"stdout","base64":"!","eol":true}"#,
        ] {
            assert!(decode(text).is_err(), "{text}");
        }
    }
}
