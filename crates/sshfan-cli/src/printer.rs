//! The only place that writes to the terminal.
//!
//! Host tasks send whole lines over a channel to one writer thread, which writes each line
//! with a single `write_all` on the locked stream: lines from different hosts never mix,
//! whatever their length. A closed stdout (`sshfan … | head`) ends writing quietly.

use std::io::{self, Write};
use std::thread::JoinHandle;

use tokio::sync::mpsc;

/// A line (or a final fragment) bound for stdout or stderr; newline included.
pub enum Message {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// Lines in flight between host tasks and the writer thread.
const QUEUE: usize = 4096;

pub struct Printer {
    sender: mpsc::Sender<Message>,
    writer: JoinHandle<io::Result<()>>,
}

impl Printer {
    pub fn start() -> Printer {
        let (sender, mut receiver) = mpsc::channel::<Message>(QUEUE);
        let writer = std::thread::spawn(move || {
            let (stdout, stderr) = (io::stdout(), io::stderr());
            while let Some(message) = receiver.blocking_recv() {
                let written = match &message {
                    Message::Stdout(line) => stdout.lock().write_all(line),
                    Message::Stderr(line) => stderr.lock().write_all(line),
                };
                match written {
                    Err(err) if err.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                    other => other?,
                }
            }
            stdout.lock().flush()
        });
        Printer { sender, writer }
    }

    pub fn sender(&self) -> mpsc::Sender<Message> {
        self.sender.clone()
    }

    /// Waits until everything sent has been written.
    pub fn finish(self) -> io::Result<()> {
        drop(self.sender);
        self.writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("printer thread panicked")))
    }
}

/// `prefix: line\n` as one buffer.
pub fn prefixed(prefix: Option<&str>, line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + prefix.map_or(0, |p| p.len() + 2) + 1);
    if let Some(prefix) = prefix {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(b": ");
    }
    out.extend_from_slice(line);
    out.push(b'\n');
    out
}
