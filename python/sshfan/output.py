"""What a run gives back per host: parallel-ssh's ``HostOutput``.

Output is buffered by the Rust library as it arrives (bounded per host until the run is
joined, see ``ParallelSSHClient.join``); ``stdout`` and ``stderr`` are generators over the
lines not yet read, so iterating again continues where the last loop stopped. A
``HostOutput`` keeps its host's run alive: output stays readable after the client that
made it is gone.
"""

import collections
import time
import logging

from . import _native
from . import exceptions as exc
from ._core import exception_for

host_logger = logging.getLogger("sshfan.host_logger")

_UTF8 = ("utf-8", "utf8", "UTF-8", "UTF8")


class Stdin:
    """A host's standard input: ``write`` then ``flush``, ``close`` for end of file."""

    __slots__ = ("_native", "encoding")

    def __init__(self, native, encoding="utf-8"):
        self._native = native
        self.encoding = encoding

    def write(self, data):
        """Queues ``data`` (``str`` is encoded) for the host's stdin."""
        if self._native is None:
            raise exc.SessionError("no session: the host failed before its command started")
        if isinstance(data, str):
            data = data.encode(self.encoding or "utf-8")
        if not self._native.write_stdin(bytes(data)):
            raise exc.SessionError("%s: stdin is closed" % self._native.label)

    def flush(self):
        """Written data is already on its way; kept for parallel-ssh compatibility."""

    def close(self):
        """Sends end-of-file once everything written has gone."""
        if self._native is not None:
            self._native.close_stdin()


class BufferData:
    """One output stream's buffer, as parallel-ssh's ``BufferData``: ``rw_buffer`` is what
    ``SSHClient.read_output`` reads; ``reader`` (a greenlet in parallel-ssh) is ``None``,
    since sshfan's native side reads the channel."""

    __slots__ = ("reader", "rw_buffer")

    def __init__(self, reader, rw_buffer):
        self.reader = reader
        self.rw_buffer = rw_buffer


class HostOutputBuffers:
    """``HostOutput.buffers``: a ``BufferData`` for stdout and one for stderr."""

    __slots__ = ("stdout", "stderr")

    def __init__(self, stdout, stderr):
        self.stdout = stdout
        self.stderr = stderr

    @classmethod
    def _of(cls, native):
        return cls(BufferData(None, _Stream(native, 1)), BufferData(None, _Stream(native, 2)))


class _Stream:
    """One output stream of a host. Lines come from the native reader in batches; those
    not yet handed out wait in ``pending``, so a loop that stops early loses nothing."""

    __slots__ = ("native", "number", "ended", "pending")

    def __init__(self, native, number):
        self.native = native
        self.number = number
        self.ended = native is None
        self.pending = collections.deque()

    def lines(self, text, timeout):
        """Lines as they come. ``timeout`` is one timer for the whole iteration, as
        parallel-ssh's ``read_timeout`` is: ``Timeout`` once it runs out; lines read so
        far are kept, and a new iteration goes on from there."""
        pending = self.pending
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            while pending:
                yield pending.popleft()
            if self.ended:
                return
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                batch = self.native.read_lines(self.number, text, left)
            except _native.ReadTimeoutError as error:
                timeout_error = exc.Timeout(
                    "%s: %s (read_timeout)" % (self.native.label, error))
                timeout_error.host = self.native.label
                timeout_error.kind = "read_timeout"
                raise timeout_error from None
            lines, ended = batch
            pending.extend(lines)
            if ended:
                self.ended = True


class Channel:
    """A command's channel (parallel-ssh hands out its SSH library's channel object):
    what ``SSHClient.finished``, ``close_channel`` and ``get_exit_status`` take.

    ``eof()`` is true once the command's output has ended; sshfan learns that when the
    channel closes, with the exit status."""

    __slots__ = ("_native", "_stdin")

    def __init__(self, native, stdin):
        self._native = native
        self._stdin = stdin

    def eof(self):
        """Whether the command's output has ended."""
        return self._native.outcome() is not None

    def wait_eof(self, timeout=None):
        """Waits for the end of output (at most ``timeout`` s); whether it came."""
        return self._native.wait(timeout)

    wait_closed = wait_eof

    def get_exit_status(self):
        """The exit code, once exited normally; otherwise ``None``."""
        outcome = self._native.outcome()
        return outcome[1] if outcome is not None and outcome[0] == "exit" else None

    def get_exit_signal(self):
        """The signal name (``"TERM"``) when the command was killed by one."""
        outcome = self._native.outcome()
        return outcome[1] if outcome is not None and outcome[0] == "signal" else None

    def write(self, data):
        """Writes to the command's stdin; ``(0, bytes written)`` as ssh2's channels do."""
        self._stdin.write(data)
        return 0, len(data)

    def send_eof(self):
        """Closes the command's stdin."""
        self._stdin.close()

    def close(self):
        """Closes the channel: a command still running is stopped (its host's outcome is
        then "cancelled"); a finished one keeps its exit status."""
        self._native.cancel()

    def __repr__(self):
        return "Channel(%s, %s)" % (self._native.label, "eof" if self.eof() else "open")


class HostOutput:
    """One host's output, stdin and exit code.

    Attributes mirror parallel-ssh: ``host``, ``alias``, ``stdin``, ``exception`` (set
    instead of raising with ``stop_on_errors=False``), ``encoding`` and ``read_timeout``
    (both read at each iteration, so they can be changed between reads), ``buffers``.
    ``encoding=None`` yields ``bytes`` lines (sshfan only).
    """

    __slots__ = ("host", "alias", "channel", "stdin", "client", "exception", "encoding",
                 "read_timeout", "buffers", "fully_qualified_command", "_native",
                 "_transfer", "_port", "_num_retries")

    def __init__(self, host, channel=None, stdin=None, client=None, alias=None,
                 exception=None, encoding="utf-8", read_timeout=None, buffers=None,
                 fully_qualified_command=None, native=None):
        self.host = host
        self.stdin = stdin if stdin is not None else Stdin(native, encoding or "utf-8")
        if channel is None and native is not None:
            channel = Channel(native, self.stdin)
        self.channel = channel
        self.client = client
        self.alias = alias
        self.exception = exception
        self.encoding = encoding
        self.read_timeout = read_timeout
        self.buffers = buffers if buffers is not None else HostOutputBuffers._of(native)
        if fully_qualified_command is None and native is not None:
            fully_qualified_command = native.command_line
        #: The command as sent, after sudo/shell wrapping and ``host_args`` (``bytes``,
        #: as parallel-ssh's); ``None`` for shells.
        self.fully_qualified_command = fully_qualified_command
        self._native = native
        self._transfer = None

    def _lines(self, stream, prefix=""):
        encoding = self.encoding
        text = encoding in _UTF8
        log = host_logger.isEnabledFor(logging.INFO)
        for line in stream.lines(text, self.read_timeout):
            if encoding is not None and not text:
                line = line.decode(encoding, "replace")
            if log:
                # parallel-ssh's layout: "[host]\tline", "[host]\t[err]\tline".
                host_logger.info("[%s]%s\t%s", self.host, prefix, line)
            yield line

    @property
    def stdout(self):
        """A generator over the remaining lines of standard output."""
        return self._lines(self.buffers.stdout.rw_buffer)

    @property
    def stderr(self):
        """A generator over the remaining lines of standard error."""
        return self._lines(self.buffers.stderr.rw_buffer, "\t[err]")

    def _outcome(self):
        native = self._native
        if native is None:
            return None
        outcome = native.outcome()
        stdout, stderr = self.buffers.stdout.rw_buffer, self.buffers.stderr.rw_buffer
        if outcome is None and stdout.ended and stderr.ended:
            # Both streams have ended, so the channel is closing: its status is moments away.
            native.wait(5.0)
            outcome = native.outcome()
        elif outcome is None and stdout.ended:
            native.wait(1.0)
            outcome = native.outcome()
        return outcome

    @property
    def exit_code(self):
        """The exit code; ``None`` while running, or when killed by a signal or failed."""
        outcome = self._outcome()
        if outcome is not None and outcome[0] == "exit":
            return outcome[1]
        return None

    @property
    def exit_signal(self):
        """sshfan only: the signal name (``"TERM"``) when the command was killed by one."""
        outcome = self._outcome()
        if outcome is not None and outcome[0] == "signal":
            return outcome[1]
        return None

    @property
    def finished(self):
        """sshfan only: whether the host has finished (command ended or failed)."""
        return self._native is None or self._native.outcome() is not None

    def _end_streams(self):
        """Nothing more will be read (the host failed, or output was discarded)."""
        self.buffers.stdout.rw_buffer.ended = self.buffers.stderr.rw_buffer.ended = True

    def _error(self):
        """The host's failure as a parallel-ssh exception, or ``None``."""
        if self.exception is not None:
            return self.exception
        outcome = self._native.outcome() if self._native is not None else None
        if outcome is not None and outcome[0] == "error":
            return exception_for(outcome[1], outcome[2], self.alias or self.host,
                                 self._transfer, getattr(self, "_port", None),
                                 getattr(self, "_num_retries", 1))
        return None

    def __repr__(self):
        return ("HostOutput(host=%r, alias=%r, exit_code=%r, exception=%r)"
                % (self.host, self.alias, self.exit_code, self.exception))


class InteractiveShell:
    """An interactive shell on one host (parallel-ssh's ``InteractiveShell``).

    ``run`` writes a command line; ``close`` (or leaving a ``with`` block) ends the input,
    after which ``stdout``, ``stderr`` and ``exit_code`` hold the whole session. Writing
    to a closed shell raises ``ShellError``.
    """

    __slots__ = ("output", "_encoding", "_closed")

    def __init__(self, output, encoding="utf-8"):
        self.output = output
        self._encoding = encoding
        self._closed = False

    def run(self, cmd):
        """Writes ``cmd`` and a newline to the shell."""
        if self._closed:
            raise exc.ShellError("%s: the shell is closed (after close or join_shells)"
                                 % (self.output.alias or self.output.host))
        try:
            self.output.stdin.write(cmd.encode(self._encoding or "utf-8") + b"\n")
        except exc.SessionError as error:
            raise exc.ShellError(str(error)) from None

    def _end_input(self):
        self._closed = True
        self.output.stdin.close()

    def close(self):
        """Ends the shell's input and waits for it to exit."""
        self._end_input()
        if self.output._native is not None:
            self.output._native.wait(None)
        return self

    @property
    def stdin(self):
        """``self.output.stdin``"""
        return self.output.stdin

    @property
    def stdout(self):
        return self.output.stdout

    @property
    def stderr(self):
        return self.output.stderr

    @property
    def exit_code(self):
        return self.output.exit_code

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class OutputGroup(collections.namedtuple("OutputGroup", "hosts output diff category")):
    """One group of ``ParallelSSHClient.gather``: hosts whose stdout, normalised, is the
    same.

    ``hosts``: their names, in run order. ``output``: the (normalised) stdout.
    ``diff``: the unified diff from the first (largest) group's output to this one's,
    ``None`` for the first. ``category``: ``"ok"``, ``"exit N"`` or the exception's class
    name, so hosts with the same output but different outcomes stay apart.
    """

    __slots__ = ()

