//! `--json`: one JSON object per line on stdout. The format is stable; see the README.
//!
//! - `{"event":"line","host":H,"index":I,"stream":"stdout"|"stderr","text":T,"eol":B}`; a
//!   line that is not valid UTF-8 has `"base64":B64` instead of `"text"`.
//! - `{"event":"exit","host":H,"index":I,"status":"exited","code":N,…timing}`, or
//!   `"status":"signal","signal":"TERM","core_dumped":B`, or `"status":"no_status"`.
//! - `{"event":"error","host":H,"index":I,"kind":K,"message":M,…timing}`.
//! - `{"event":"summary","hosts":N,"ok":N,"failed":N,"cancelled":N,"elapsed_ms":F,
//!   "interrupted":B,"outcomes":{"ok":["web1",…],"exit_3":[…],"refused":[…]}}` last:
//!   `outcomes` keys are stable (`ok`, `exit_N`, `signal_NAME`, `no_exit_status`, or an
//!   error kind), each host list in natural order.
//!
//! Timing fields: `connect_ms` (absent when the host never connected) and `total_ms`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sshfan::{ExitStatus, Timing};

use super::Stream;
use crate::ending::Ending;
use crate::summary::Summary;

/// One `--json` line. Field order is the wire order (serde writes fields as declared, the
/// `event` tag first).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event<'a> {
    /// A run journal's first line (see `journal`): never in `--json` output.
    Plan(Cow<'a, Plan>),
    Line {
        host: Cow<'a, str>,
        index: usize,
        stream: StreamName,
        #[serde(flatten)]
        body: LineBody<'a>,
        eol: bool,
    },
    Exit {
        host: Cow<'a, str>,
        index: usize,
        #[serde(flatten)]
        status: StatusFields<'a>,
        #[serde(flatten)]
        timing: TimingFields,
    },
    Error {
        host: Cow<'a, str>,
        index: usize,
        kind: Cow<'a, str>,
        message: Cow<'a, str>,
        #[serde(flatten)]
        timing: TimingFields,
    },
    /// A message for whoever reads the events again (a journal that kept only part of the
    /// output): never in `--json` output.
    Note { text: Cow<'a, str> },
    /// An outlier gather's groups (`-B --json`), the majority first, before the summary.
    Groups { groups: Vec<GroupFields<'a>> },
    Summary {
        #[serde(default)]
        hosts: usize,
        #[serde(default)]
        ok: usize,
        #[serde(default)]
        failed: usize,
        #[serde(default)]
        cancelled: usize,
        #[serde(default, skip_serializing_if = "is_zero")]
        not_run: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        halted: Option<Cow<'a, str>>,
        #[serde(default)]
        elapsed_ms: f64,
        interrupted: bool,
        #[serde(default)]
        outcomes: Cow<'a, BTreeMap<String, Vec<String>>>,
    },
}

/// One group of a `groups` event.
#[derive(Debug, Serialize, Deserialize)]
struct GroupFields<'a> {
    /// The hosts' labels, in natural order.
    hosts: Vec<Cow<'a, str>>,
    count: usize,
    /// `ok`, `exit_3`, … as in the summary's `outcomes`.
    category: Cow<'a, str>,
    /// The normalised output.
    output: Cow<'a, str>,
    /// The unified diff from the majority's output (none for the majority).
    diff: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StreamName {
    Stdout,
    Stderr,
}

/// A line's bytes: `"text"` when they are UTF-8, `"base64"` otherwise.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LineBody<'a> {
    Text(Cow<'a, str>),
    Base64(String),
}

/// An exit event's `"status"` and the fields that go with it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum StatusFields<'a> {
    Exited {
        code: u32,
    },
    Signal {
        signal: Cow<'a, str>,
        core_dumped: bool,
    },
    NoStatus,
}

/// `connect_ms` (absent when the host never connected) and `total_ms`, in milliseconds
/// rounded to the microsecond.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TimingFields {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    connect_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    total_ms: Option<f64>,
}

impl From<Option<Timing>> for TimingFields {
    fn from(timing: Option<Timing>) -> TimingFields {
        let Some(timing) = timing else {
            return TimingFields::default();
        };
        TimingFields {
            connect_ms: timing.connect.map(millis),
            total_ms: Some(millis(timing.total)),
        }
    }
}

impl TimingFields {
    fn timing(&self) -> Option<Timing> {
        Some(Timing {
            connect: self.connect_ms.and_then(duration),
            total: duration(self.total_ms?)?,
        })
    }
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// A duration written by [`millis`].
fn duration(ms: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(ms / 1000.0).ok()
}

fn encode(event: &Event<'_>) -> String {
    let mut text = serde_json::to_string(event).expect("an event always serializes");
    text.push('\n');
    text
}

pub fn line(index: usize, host: &str, stream: Stream, line: &[u8], eol: bool) -> String {
    let stream = match stream {
        Stream::Stdout => StreamName::Stdout,
        Stream::Stderr => StreamName::Stderr,
    };
    let body = match std::str::from_utf8(line) {
        Ok(text) => LineBody::Text(text.into()),
        Err(_) => LineBody::Base64(base64::engine::general_purpose::STANDARD.encode(line)),
    };
    encode(&Event::Line {
        host: host.into(),
        index,
        stream,
        body,
        eol,
    })
}

pub fn done(index: usize, host: &str, ending: &Ending, timing: Option<Timing>) -> String {
    let host = host.into();
    let timing = TimingFields::from(timing);
    encode(&match ending {
        Ending::Remote(status) => Event::Exit {
            host,
            index,
            status: match status {
                ExitStatus::Code(code) => StatusFields::Exited { code: *code },
                ExitStatus::Signal {
                    name, core_dumped, ..
                } => StatusFields::Signal {
                    signal: name.into(),
                    core_dumped: *core_dumped,
                },
                ExitStatus::NoStatus => StatusFields::NoStatus,
            },
            timing,
        },
        Ending::Failed { code, message } => Event::Error {
            host,
            index,
            kind: code.into(),
            message: message.into(),
            timing,
        },
    })
}

/// The `groups` event of an outlier gather.
pub fn groups(groups: &[sshfan::outliers::OutputGroup], labels: &[String]) -> String {
    let groups = groups
        .iter()
        .map(|group| {
            let mut hosts: Vec<Cow<'_, str>> = group
                .hosts
                .iter()
                .map(|host| Cow::Borrowed(labels.get(*host).map_or("?", String::as_str)))
                .collect();
            hosts.sort_by(|a, b| crate::summary::natural_order(a, b));
            GroupFields {
                count: hosts.len(),
                hosts,
                category: Cow::Owned(group.class.replace(' ', "_")),
                output: Cow::Borrowed(&group.output),
                diff: group.diff.as_deref().map(Cow::Borrowed),
            }
        })
        .collect();
    encode(&Event::Groups { groups })
}

pub fn summary(summary: &Summary, elapsed: Duration, interrupted: bool) -> String {
    encode(&Event::Summary {
        hosts: summary.hosts,
        ok: summary.ok,
        failed: summary.failed(),
        cancelled: summary.cancelled,
        not_run: summary.not_run,
        halted: summary.halted.as_deref().map(Cow::Borrowed),
        elapsed_ms: millis(elapsed),
        interrupted,
        outcomes: Cow::Owned(summary.outcomes()),
    })
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// What a run set out to do: the first line of its journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The run's id (its journal directory's name).
    pub id: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// The arguments it was given (after the program name), to run it again.
    pub argv: Vec<String>,
    /// The remote command, for a run (not a copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Every host's label, by index.
    pub hosts: Vec<String>,
}

pub fn note(text: &str) -> String {
    encode(&Event::Note { text: text.into() })
}

pub fn plan(plan: &Plan) -> String {
    encode(&Event::Plan(Cow::Borrowed(plan)))
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
    /// A journal's plan.
    Plan(Plan),
    /// An outlier gather's groups (recomputed by a merge, so not read back).
    Groups,
    /// A journal's note, shown again on stderr.
    Note(String),
    /// A run's closing summary (a merge recomputes the rest; `sshfan runs` lists its
    /// counts).
    Summary {
        elapsed: Duration,
        interrupted: bool,
        counts: SummaryCounts,
    },
}

/// A summary's counts of hosts, as `sshfan runs` lists them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SummaryCounts {
    pub hosts: usize,
    pub ok: usize,
    pub failed: usize,
    /// Cancelled or never started.
    pub not_run: usize,
    pub halted: bool,
}

/// A line that is not a `--json` event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an sshfan --json event: {0}")]
pub struct DecodeError(String);

/// Decodes one line of `--json` output (with or without its newline).
pub fn decode(text: &str) -> Result<Decoded, DecodeError> {
    let event: Event<'_> = serde_json::from_str(text).map_err(|e| DecodeError(e.to_string()))?;
    Ok(match event {
        Event::Plan(plan) => Decoded::Plan(plan.into_owned()),
        Event::Groups { .. } => Decoded::Groups,
        Event::Note { text } => Decoded::Note(text.into_owned()),
        Event::Line {
            host,
            index,
            stream,
            body,
            eol,
        } => Decoded::Line {
            index,
            host: host.into_owned(),
            stream: match stream {
                StreamName::Stdout => Stream::Stdout,
                StreamName::Stderr => Stream::Stderr,
            },
            line: match body {
                LineBody::Text(text) => text.into_owned().into_bytes(),
                LineBody::Base64(encoded) => base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| DecodeError(format!("bad base64: {e}")))?,
            },
            eol,
        },
        Event::Exit {
            host,
            index,
            status,
            timing,
        } => Decoded::Done {
            index,
            host: host.into_owned(),
            ending: Ending::Remote(match status {
                StatusFields::Exited { code } => ExitStatus::Code(code),
                StatusFields::Signal {
                    signal,
                    core_dumped,
                } => ExitStatus::Signal {
                    name: signal.into_owned(),
                    core_dumped,
                    message: String::new(),
                },
                StatusFields::NoStatus => ExitStatus::NoStatus,
            }),
            timing: timing.timing(),
        },
        Event::Error {
            host,
            index,
            kind,
            message,
            timing,
        } => Decoded::Done {
            index,
            host: host.into_owned(),
            ending: Ending::Failed {
                code: kind.into_owned(),
                message: message.into_owned(),
            },
            timing: timing.timing(),
        },
        Event::Summary {
            elapsed_ms,
            interrupted,
            hosts,
            ok,
            failed,
            cancelled,
            not_run,
            halted,
            ..
        } => Decoded::Summary {
            elapsed: duration(elapsed_ms).unwrap_or_default(),
            interrupted,
            counts: SummaryCounts {
                hosts,
                ok,
                failed,
                not_run: cancelled.saturating_add(not_run),
                halted: halted.is_some(),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use sshfan::{Error, ErrorKind};

    use super::*;

    /// The wire format, byte for byte, as scripts and `merge` have read it since it began.
    #[test]
    fn events_keep_their_byte_layout() {
        let timing = Some(Timing {
            connect: Some(Duration::from_micros(1500)),
            total: Duration::from_millis(20),
        });
        assert_eq!(
            done(0, "a", &Ending::Remote(ExitStatus::Code(3)), timing),
            "{\"event\":\"exit\",\"host\":\"a\",\"index\":0,\"status\":\"exited\",\"code\":3,\"connect_ms\":1.5,\"total_ms\":20.0}\n"
        );
        let signal = Ending::Remote(ExitStatus::Signal {
            name: "TERM".into(),
            core_dumped: false,
            message: "ignored".into(),
        });
        assert_eq!(
            done(1, "b", &signal, None),
            "{\"event\":\"exit\",\"host\":\"b\",\"index\":1,\"status\":\"signal\",\"signal\":\"TERM\",\"core_dumped\":false}\n"
        );
        assert_eq!(
            done(2, "c", &Ending::Remote(ExitStatus::NoStatus), None),
            "{\"event\":\"exit\",\"host\":\"c\",\"index\":2,\"status\":\"no_status\"}\n"
        );
        let refused = Ending::from(&Err(Error::new("d", ErrorKind::Refused)));
        let no_connect = Some(Timing {
            connect: None,
            total: Duration::from_micros(2_000_250),
        });
        assert_eq!(
            done(3, "d", &refused, no_connect),
            "{\"event\":\"error\",\"host\":\"d\",\"index\":3,\"kind\":\"refused\",\"message\":\"connection refused\",\"total_ms\":2000.25}\n"
        );
        let mut summary = Summary::default();
        summary.record("web2", &Ending::Remote(ExitStatus::Code(0)));
        summary.record("web1", &Ending::Remote(ExitStatus::Code(0)));
        summary.record("db1", &refused);
        assert_eq!(
            super::summary(&summary, Duration::from_millis(1234), false),
            "{\"event\":\"summary\",\"hosts\":3,\"ok\":2,\"failed\":1,\"cancelled\":0,\"elapsed_ms\":1234.0,\"interrupted\":false,\"outcomes\":{\"ok\":[\"web1\",\"web2\"],\"refused\":[\"db1\"]}}\n"
        );
    }

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
