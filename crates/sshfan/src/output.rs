//! Per-host output: bounded stdout/stderr buffers, their readers, and exit statuses.
//!
//! Each host's stdout and stderr go into their own `StreamBuffer`, filled by the task
//! that drives the host's channel and drained by the caller's [`OutputReader`]. Output is
//! kept as raw bytes: lines are split on `\n` only, so non-UTF-8 output is never replaced.
//!
//! Memory is bounded: when a buffer holds [`DEFAULT_BUFFER_LIMIT`] bytes (or the client's
//! `output_buffer_limit`), the driving task stops reading the channel. russh then stops
//! reading the socket once its own per-channel queue is full, the SSH window is not
//! refreshed, and the server stops sending: the host slows down instead of client memory
//! growing. Per host and stream the worst case is the limit plus russh's queue
//! (`channel_buffer_size` messages of at most one packet, 32 KiB, each).
//!
//! A caller that reads only after everything finished ([`crate::Run::join`] first, the
//! parallel-ssh pattern) lifts the limit: join asks to keep everything, so it gets
//! everything. A dropped reader discards its stream so it can never stall the host.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

/// Default per-stream buffer limit before flow control slows the host down: 1 MiB.
pub const DEFAULT_BUFFER_LIMIT: usize = 1 << 20;

/// Default longest line: a line without a newline past this many bytes is returned in
/// pieces of this size (without terminator), so no host can grow one line without bound.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// The command exited with this code.
    Code(u32),
    /// The command was killed by a signal.
    Signal {
        /// Signal name without the `SIG` prefix, e.g. `TERM`.
        name: String,
        /// Whether the process dumped core.
        core_dumped: bool,
        /// The server's message, often empty.
        message: String,
    },
    /// The channel closed without an exit status or signal.
    NoStatus,
}

impl ExitStatus {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        matches!(self, ExitStatus::Code(0))
    }

    /// The exit code, if the command exited normally.
    pub fn code(&self) -> Option<u32> {
        match self {
            ExitStatus::Code(code) => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(f, "exit code {code}"),
            ExitStatus::Signal {
                name, core_dumped, ..
            } => {
                write!(f, "killed by signal {name}")?;
                if *core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
            ExitStatus::NoStatus => f.write_str("no exit status"),
        }
    }
}

struct BufferState {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    limit: usize,
    /// No more data will be pushed.
    finished: bool,
    /// The reader is gone: data is dropped instead of kept.
    discard: bool,
}

/// A bounded queue of output chunks between one writer (the host task) and one reader.
pub(crate) struct StreamBuffer {
    state: Mutex<BufferState>,
    readable: Notify,
    writable: Notify,
}

impl StreamBuffer {
    pub(crate) fn new(limit: usize) -> Self {
        StreamBuffer {
            state: Mutex::new(BufferState {
                chunks: VecDeque::new(),
                buffered: 0,
                limit: limit.max(1),
                finished: false,
                discard: false,
            }),
            readable: Notify::new(),
            writable: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BufferState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a chunk, waiting while the buffer is over its limit.
    pub(crate) async fn push(&self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        loop {
            {
                let mut state = self.lock();
                if state.discard {
                    return;
                }
                if state.buffered < state.limit {
                    state.buffered += data.len();
                    state.chunks.push_back(data);
                    drop(state);
                    self.readable.notify_one();
                    return;
                }
            }
            self.writable.notified().await;
        }
    }

    /// Marks the end of the stream.
    pub(crate) fn finish(&self) {
        self.lock().finished = true;
        self.readable.notify_one();
    }

    /// Removes the limit (the caller asked to keep all output).
    pub(crate) fn unlimit(&self) {
        self.lock().limit = usize::MAX;
        self.writable.notify_one();
    }

    fn discard(&self) {
        let mut state = self.lock();
        state.discard = true;
        state.chunks.clear();
        state.buffered = 0;
        drop(state);
        self.writable.notify_one();
    }

    fn try_pop(&self) -> Result<Bytes, bool> {
        let mut state = self.lock();
        match state.chunks.pop_front() {
            Some(chunk) => {
                state.buffered -= chunk.len();
                drop(state);
                self.writable.notify_one();
                Ok(chunk)
            }
            None => Err(state.finished),
        }
    }

    async fn pop(&self) -> Option<Bytes> {
        loop {
            match self.try_pop() {
                Ok(chunk) => return Some(chunk),
                Err(true) => return None,
                Err(false) => self.readable.notified().await,
            }
        }
    }
}

/// Reads one output stream (stdout or stderr) of one host, as chunks or as lines.
///
/// Chunks and lines may be mixed: a partial line kept by [`next_line`](Self::next_line)
/// is returned first by the next [`next_chunk`](Self::next_chunk).
pub struct OutputReader {
    buffer: std::sync::Arc<StreamBuffer>,
    /// The rest of the chunk last taken from the buffer: whole lines are sliced out of it
    /// without a copy.
    current: Bytes,
    /// The start of a line that continues past the end of a chunk (holds no newline).
    pending: BytesMut,
    read_timeout: Option<Duration>,
    /// Longest line returned whole; longer ones come in pieces of this size.
    max_line: usize,
}

/// No output arrived within the read timeout; what came before is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no output for {0:?}")]
pub struct ReadTimeout(pub Duration);

impl OutputReader {
    pub(crate) fn new(
        buffer: std::sync::Arc<StreamBuffer>,
        read_timeout: Option<Duration>,
    ) -> Self {
        OutputReader {
            buffer,
            current: Bytes::new(),
            pending: BytesMut::new(),
            read_timeout,
            max_line: DEFAULT_MAX_LINE,
        }
    }

    /// Sets the longest line returned whole (at least 1 byte); a longer line comes in
    /// pieces of `bytes` bytes, each without terminator but the last.
    pub fn set_max_line(&mut self, bytes: usize) {
        self.max_line = bytes.max(1);
    }

    /// A reader over output already received, in the chunks it came in: for replaying
    /// recorded output, tests and fuzzing.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut reader = sshfan::OutputReader::from_chunks(["one\ntw".into(), "o\r\n".into()]);
    /// assert_eq!(reader.next_line().await.as_deref(), Some(&b"one"[..]));
    /// assert_eq!(reader.next_line().await.as_deref(), Some(&b"two"[..]));
    /// assert_eq!(reader.next_line().await, None);
    /// # });
    /// ```
    pub fn from_chunks(chunks: impl IntoIterator<Item = Bytes>) -> OutputReader {
        let buffer = StreamBuffer::new(usize::MAX);
        {
            let mut state = buffer.lock();
            for chunk in chunks.into_iter().filter(|chunk| !chunk.is_empty()) {
                state.buffered += chunk.len();
                state.chunks.push_back(chunk);
            }
            state.finished = true;
        }
        OutputReader::new(std::sync::Arc::new(buffer), None)
    }

    /// [`next_line`](Self::next_line) under the run's read timeout: a timeout is an error,
    /// and the reader stays usable (a partial line is kept for the next call).
    pub async fn read_line(&mut self) -> Result<Option<Bytes>, ReadTimeout> {
        match self.read_timeout {
            None => Ok(self.next_line().await),
            // `next_line` is cancel-safe: bytes taken from the buffer wait in `pending`.
            Some(limit) => tokio::time::timeout(limit, self.next_line())
                .await
                .map_err(|_| ReadTimeout(limit)),
        }
    }

    /// Bytes received from the host and not yet read (including a partial line).
    pub fn buffered(&self) -> usize {
        self.buffer.lock().buffered + self.pending.len() + self.current.len()
    }

    /// The next chunk of raw bytes as received, or `None` at the end of the stream.
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.pending.is_empty() {
            return Some(self.pending.split().freeze());
        }
        if !self.current.is_empty() {
            return Some(std::mem::take(&mut self.current));
        }
        self.buffer.pop().await
    }

    /// The next line without its `\n` (or `\r\n`), or `None` at the end of the stream.
    ///
    /// A last line without a newline is returned as a line. Bytes are returned as they
    /// came: use [`String::from_utf8_lossy`] to display them.
    pub async fn next_line(&mut self) -> Option<Bytes> {
        let mut line = self.next_line_raw().await?;
        if line.last() == Some(&b'\n') {
            line.truncate(line.len() - 1);
            if line.last() == Some(&b'\r') {
                line.truncate(line.len() - 1);
            }
        }
        Some(line)
    }

    /// The next line with its terminator as received (`\n`, `\r\n`, or none for a last
    /// line without newline), or `None` at the end of the stream.
    pub async fn next_line_raw(&mut self) -> Option<Bytes> {
        loop {
            // `pending` holds less than `max_line` bytes: look for the newline only as far
            // as a line may go, so that a host without newlines cannot grow it.
            let room = self.max_line.saturating_sub(self.pending.len());
            let window = self.current.len().min(room.saturating_add(1));
            let end = match memchr::memchr(b'\n', self.current.get(..window).unwrap_or_default()) {
                Some(at) => Some(at + 1),
                None if self.current.len() > room => Some(room),
                None => None,
            };
            match end {
                Some(end) => {
                    let line = self.current.split_to(end);
                    if self.pending.is_empty() {
                        return Some(line);
                    }
                    self.pending.extend_from_slice(&line);
                    return Some(self.pending.split().freeze());
                }
                None => {
                    self.pending.extend_from_slice(&self.current);
                    self.current.clear();
                }
            }
            // The only await: what was taken before it waits in `pending` (cancel-safe).
            match self.buffer.pop().await {
                Some(chunk) => self.current = chunk,
                None if self.pending.is_empty() => return None,
                None => return Some(self.pending.split().freeze()),
            }
        }
    }

    /// The next line, waiting for it, then more lines already received (up to
    /// `max_lines` and about `max_bytes` in all): one call per batch rather than per line,
    /// for consumers that move lines on (a terminal writer, Python). The lines are copied
    /// into one buffer of their own, so batches waiting in a queue never keep whole
    /// received packets alive. `None` at the end of the stream.
    ///
    /// Cancel-safe: the only wait is for the first line, which stays in the reader.
    pub async fn next_lines(&mut self, max_lines: usize, max_bytes: usize) -> Option<LineBatch> {
        use futures::FutureExt;
        let first = self.next_line_raw().await?;
        let mut data = BytesMut::from(&first[..]);
        let mut ends = vec![data.len()];
        let mut ended = false;
        while ends.len() < max_lines.max(1) && data.len() < max_bytes {
            match self.next_line_raw().now_or_never() {
                Some(Some(line)) => {
                    data.extend_from_slice(&line);
                    ends.push(data.len());
                }
                Some(None) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        Some(LineBatch {
            data: data.freeze(),
            ends,
            ended,
        })
    }

    /// Every remaining line, decoded lossily as UTF-8 (for display and tests).
    pub async fn lines_lossy(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.next_line().await {
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
        lines
    }

    /// Everything remaining, as raw bytes.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(chunk) = self.next_chunk().await {
            all.extend_from_slice(&chunk);
        }
        all
    }
}

/// Lines taken at once by [`OutputReader::next_lines`], in one buffer.
#[derive(Debug, Clone)]
pub struct LineBatch {
    data: Bytes,
    /// Where each line (with its terminator) ends in `data`.
    ends: Vec<usize>,
    /// The stream ended right after these lines.
    pub ended: bool,
}

impl LineBatch {
    /// Lines in the batch.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Bytes of the lines, terminators included.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Whether the batch holds no line (never, for a batch `next_lines` returned).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each line as received, with its terminator (`\n`, `\r\n`, or none for a last
    /// line without newline or a piece of an over-long line).
    pub fn raw(&self) -> impl Iterator<Item = Bytes> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| self.data.slice(start..end))
    }

    /// Each line without its terminator, and whether it had a newline.
    pub fn lines(&self) -> impl Iterator<Item = (Bytes, bool)> + '_ {
        self.raw().map(split_line_end)
    }
}

/// A line as received (see [`LineBatch::raw`]) without its terminator (`\n` or `\r\n`),
/// and whether it had one.
pub fn split_line_end(mut line: Bytes) -> (Bytes, bool) {
    let eol = line.last() == Some(&b'\n');
    if eol {
        line.truncate(line.len() - 1);
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
    }
    (line, eol)
}

impl Drop for OutputReader {
    fn drop(&mut self) {
        self.buffer.discard();
    }
}

impl fmt::Debug for OutputReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputReader")
            .field("pending", &(self.pending.len() + self.current.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn reader_with(chunks: &[&[u8]]) -> OutputReader {
        let buffer = Arc::new(StreamBuffer::new(DEFAULT_BUFFER_LIMIT));
        for chunk in chunks {
            let state = &mut buffer.lock();
            state.buffered += chunk.len();
            state.chunks.push_back(Bytes::copy_from_slice(chunk));
        }
        buffer.finish();
        OutputReader::new(buffer, None)
    }

    #[tokio::test]
    async fn lines_split_across_chunks_and_keep_raw_bytes() {
        let mut reader = reader_with(&[b"hel", b"lo\nwor", b"ld\r\n\xff\xfe\n", b"tail"]);
        assert_eq!(reader.next_line().await.unwrap(), &b"hello"[..]);
        assert_eq!(reader.next_line().await.unwrap(), &b"world"[..]);
        assert_eq!(reader.next_line().await.unwrap(), &b"\xff\xfe"[..]);
        assert_eq!(reader.next_line().await.unwrap(), &b"tail"[..]);
        assert_eq!(reader.next_line().await, None);
    }

    #[tokio::test]
    async fn a_line_over_three_chunks_then_lines_sliced_from_one() {
        let mut reader = reader_with(&[b"ab", b"cd", b"e\nf\ng\n", b"h"]);
        assert_eq!(reader.buffered(), 11);
        assert_eq!(reader.next_line_raw().await.unwrap(), &b"abcde\n"[..]);
        assert_eq!(reader.buffered(), 5, "f, g and h wait");
        assert_eq!(reader.next_line_raw().await.unwrap(), &b"f\n"[..]);
        assert_eq!(reader.next_line_raw().await.unwrap(), &b"g\n"[..]);
        assert_eq!(reader.next_line_raw().await.unwrap(), &b"h"[..]);
        assert_eq!(reader.next_line_raw().await, None);
    }

    #[tokio::test]
    async fn a_line_without_newline_comes_in_pieces_of_the_longest_line() {
        let mut reader = reader_with(&[b"abc", b"defgh", b"ij\nk", b"lmn\n"]);
        reader.set_max_line(4);
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line_raw().await {
            assert!(line.len() <= 5, "{line:?}");
            lines.push(line);
        }
        assert_eq!(lines, [&b"abcd"[..], b"efgh", b"ij\n", b"klmn\n"]);
        // Exactly the longest line, with its newline, is one line.
        let mut reader = reader_with(&[b"abcd\nef"]);
        reader.set_max_line(4);
        assert_eq!(reader.next_line_raw().await.unwrap(), &b"abcd\n"[..]);
        assert_eq!(reader.next_line_raw().await.unwrap(), &b"ef"[..]);
    }

    #[tokio::test]
    async fn lines_come_in_batches_of_what_is_already_there() {
        let mut reader = reader_with(&[b"a\nb\r\n", b"c\nd"]);
        let batch = reader.next_lines(2, usize::MAX).await.unwrap();
        assert_eq!(batch.raw().collect::<Vec<_>>(), [&b"a\n"[..], b"b\r\n"]);
        assert!(!batch.ended);
        let batch = reader.next_lines(10, usize::MAX).await.unwrap();
        let lines: Vec<_> = batch.lines().collect();
        assert_eq!(lines, [(Bytes::from("c"), true), (Bytes::from("d"), false)]);
        assert!(batch.ended, "the end is seen with the last lines");
        assert!(reader.next_lines(10, usize::MAX).await.is_none());
        // The byte bound: a batch stops once it holds max_bytes.
        let mut reader = reader_with(&[b"aaaa\nbbbb\ncccc\n"]);
        assert_eq!(reader.next_lines(10, 5).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn empty_lines_are_lines() {
        let mut reader = reader_with(&[b"\n\na\n"]);
        assert_eq!(reader.lines_lossy().await, vec!["", "", "a"]);
    }

    #[tokio::test]
    async fn chunks_after_a_partial_line_come_in_order() {
        let mut reader = reader_with(&[b"a\nb", b"c"]);
        assert_eq!(reader.next_line().await.unwrap(), &b"a"[..]);
        assert_eq!(reader.read_to_end().await, b"bc");
    }

    #[tokio::test(start_paused = true)]
    async fn writer_waits_at_the_limit_until_read() {
        let buffer = Arc::new(StreamBuffer::new(4));
        let writer = {
            let buffer = buffer.clone();
            tokio::spawn(async move {
                buffer.push(Bytes::from_static(b"1234")).await;
                buffer.push(Bytes::from_static(b"5678")).await;
                buffer.finish();
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!writer.is_finished(), "second push must wait for room");
        assert_eq!(buffer.lock().buffered, 4);
        let mut reader = OutputReader::new(buffer, None);
        assert_eq!(reader.read_to_end().await, b"12345678");
        writer.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_reader_never_stalls_the_writer() {
        let buffer = Arc::new(StreamBuffer::new(4));
        drop(OutputReader::new(buffer.clone(), None));
        for _ in 0..10 {
            buffer.push(Bytes::from_static(b"12345")).await;
        }
        assert_eq!(buffer.lock().buffered, 0);
    }

    #[test]
    fn exit_status_display() {
        assert_eq!(ExitStatus::Code(3).to_string(), "exit code 3");
        let signal = ExitStatus::Signal {
            name: "TERM".into(),
            core_dumped: false,
            message: String::new(),
        };
        assert_eq!(signal.to_string(), "killed by signal TERM");
        assert!(ExitStatus::Code(0).success());
        assert!(!signal.success());
    }
}
