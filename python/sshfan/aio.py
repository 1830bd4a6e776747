"""``sshfan.aio``: sshfan for asyncio programs.

The same engine and settings as ``sshfan.clients.ParallelSSHClient`` (one settings model:
every keyword it takes, this takes), awaited natively: each wait is an
``asyncio.Future`` that sshfan's own threads complete through the loop's
``call_soon_threadsafe``. No Python thread per host, no ``run_in_executor``, and the
event loop is never blocked. Works under uvloop and from anyio on the asyncio backend.

::

    import asyncio
    from sshfan.aio import ParallelClient

    async def main():
        async with ParallelClient(["web1", "web2"], user="deploy") as client:
            run = await client.run("uname -r")
            async for host in run.as_completed():
                print(host.host, host.exit_code, [line async for line in host.stdout])

    asyncio.run(main())

Cancelling a task that awaits ``run.join()``, ``run.as_completed()`` or ``host.wait()``
cancels that work on the hosts (their channels are closed; with a PTY the remote command
gets a hang-up). Sessions persist between calls, as with the blocking client:
``await client.connect()`` opens them, ``await client.disconnect()`` (or leaving the
``async with``) closes them.
"""

import asyncio
import collections

from . import exceptions as exc
from ._core import exception_for
from .clients.native.parallel import ParallelSSHClient as _BlockingClient

__all__ = ["ParallelClient", "Run", "Host", "Lines", "Shell"]


class Lines:
    """A host's stdout or stderr: ``async for line in host.stdout`` (lines without their
    newline; ``str``, or ``bytes`` when the client's ``encoding`` is ``None``)."""

    def __init__(self, native, stream, encoding, read_timeout):
        self._native = native
        self._stream = stream
        self._encoding = encoding
        self._read_timeout = read_timeout
        self._buffer = collections.deque()
        self._ended = native is None

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self._buffer:
            if self._ended:
                raise StopAsyncIteration
            text = self._encoding is not None and self._encoding.lower() in ("utf-8", "utf8")
            # Lines already received are taken at once; only an empty buffer waits.
            batch = self._native.read_lines_now(self._stream, text)
            if batch is not None:
                lines, ended = batch
            elif self._read_timeout is None:
                lines, ended = await self._native.read_lines_async(self._stream, text)
            else:
                waiting = self._native.read_lines_async(self._stream, text)
                try:
                    lines, ended = await asyncio.wait_for(waiting, self._read_timeout)
                except asyncio.TimeoutError:
                    raise exc.Timeout("No output for %s sec(s)", self._read_timeout) from None
            if not text and self._encoding is not None:
                lines = [line.decode(self._encoding, "replace") for line in lines]
            self._buffer.extend(lines)
            self._ended = ended
        return self._buffer.popleft()


class Host:
    """One host of a run: its output streams, and once finished its exit status or
    ``exception`` (the same ``sshfan.exceptions`` types as the blocking client)."""

    def __init__(self, name, alias, native, encoding, read_timeout, port, num_retries):
        #: The host as given.
        self.host = name
        #: Its ``HostConfig`` alias, if any.
        self.alias = alias
        self._native = native
        self._port = port
        self._num_retries = num_retries
        self.stdout = Lines(native, 1, encoding, read_timeout)
        self.stderr = Lines(native, 2, encoding, read_timeout)
        #: The exit code once finished (``None`` while running, after a signal, or when
        #: the host failed).
        self.exit_code = None
        #: The signal's name when the command was killed by one.
        self.exit_signal = None
        #: Why the host failed (could not connect, timed out, lost its connection…).
        self.exception = None
        self.finished = False

    def __repr__(self):
        return "Host(%r, exit_code=%r, exception=%r)" % (self.host, self.exit_code,
                                                        self.exception)

    def _finish(self, outcome):
        if self.finished or outcome is None:
            return
        self.finished = True
        kind = outcome[0]
        if kind == "exit":
            self.exit_code = outcome[1]
        elif kind == "signal":
            self.exit_signal = outcome[1]
        elif kind == "error":
            self.exception = exception_for(outcome[1], outcome[2], self.alias or self.host,
                                           port=self._port, num_retries=self._num_retries)

    def _outcome(self):
        """An awaitable of the native outcome."""
        return self._native.wait_async()

    async def wait(self):
        """Waits until the host finishes; returns its exit code (``None`` if it failed:
        see ``exception``). Cancelling the awaiting task cancels this host."""
        if not self.finished:
            try:
                outcome = await self._outcome()
            except asyncio.CancelledError:
                self.cancel()
                raise
            self._finish(outcome)
        return self.exit_code

    def cancel(self):
        """Stops this host (its channel is closed)."""
        if self._native is not None:
            self._native.cancel()


class Run:
    """A started run: ``hosts`` in the client's host order."""

    def __init__(self, runs, hosts, groups):
        self._runs = runs
        #: Each host's ``Host``, in host order.
        self.hosts = hosts
        # Per native run, its hosts by position in it (for its completion stream).
        self._groups = groups
        self._reported = set()

    def __iter__(self):
        return iter(self.hosts)

    def __len__(self):
        return len(self.hosts)

    def cancel(self):
        """Stops every host not finished (their channels are closed)."""
        self._runs.cancel()

    async def as_completed(self):
        """Yields each host as it finishes, in the order they finish (each host once;
        one native wait per batch of finished hosts, not one per host)."""
        waiting = {native.next_completed_async(): (native, hosts)
                   for native, hosts in self._groups}
        try:
            while waiting:
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    native, hosts = waiting.pop(future)
                    finished = future.result()
                    if finished:
                        waiting[native.next_completed_async()] = (native, hosts)
                    for position in finished:
                        host = hosts[position]
                        if id(host) in self._reported:
                            continue
                        self._reported.add(id(host))
                        host._finish(host._native.outcome())
                        yield host
        except asyncio.CancelledError:
            self.cancel()
            raise
        finally:
            for future in waiting:
                future.cancel()

    async def join(self, timeout=None):
        """Waits until every host has finished. Raises ``sshfan.exceptions.Timeout``
        after ``timeout`` seconds (the hosts keep running; join again or ``cancel``).
        Cancelling the awaiting task cancels the run."""
        waiting = {host._outcome(): host for host in self.hosts if not host.finished}
        if not waiting:
            return
        try:
            done, pending = await asyncio.wait(waiting, timeout=timeout)
        except asyncio.CancelledError:
            for future in waiting:
                future.cancel()
            self.cancel()
            raise
        for future in done:
            waiting[future]._finish(future.result())
        if pending:
            for future in pending:
                future.cancel()
            finished = [host for host in self.hosts if host.finished]
            unfinished = [host for host in self.hosts if not host.finished]
            raise exc.Timeout("Timeout of %s sec(s) reached with commands still running",
                              timeout, finished, unfinished)


class Shell:
    """An interactive shell on one host: ``await shell.write("ls\\n")``, read
    ``shell.stdout``; ``await shell.close()`` ends its input and waits for it to exit."""

    def __init__(self, host):
        self._host = host
        self.host = host.host
        self.stdout = host.stdout
        self.stderr = host.stderr

    @property
    def exit_code(self):
        return self._host.exit_code

    @property
    def exception(self):
        return self._host.exception

    async def write(self, data):
        """Sends ``data`` (``str`` or ``bytes``) to the shell's stdin."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        return await self._host._native.write_stdin_async(data)

    async def close(self):
        """Ends the shell's input and waits until it exits; returns its exit code."""
        await self._host._native.close_stdin_async()
        return await self._host.wait()


class _Shells:
    def __init__(self, client, pty, read_timeout):
        self._client = client
        self._pty = pty
        self._read_timeout = read_timeout
        self._run = None

    async def __aenter__(self):
        client = self._client
        runs = client._fleet.start(
            lambda native, indexes: native.open_shells(pty=self._pty,
                                                       read_timeout=self._read_timeout))
        self._run = await client._started(runs, "utf-8", None)
        return [Shell(host) for host in self._run.hosts]

    async def __aexit__(self, *exc_info):
        for host in self._run.hosts:
            if not host.finished and host._native is not None:
                await host._native.close_stdin_async()
        await self._run.join()


class ParallelClient:
    """An asyncio client over many hosts. Takes every argument
    ``sshfan.clients.ParallelSSHClient`` takes (``user``, ``password``, ``port``,
    ``pkey``, ``pool_size``, ``host_config``, ``timeout``, ``num_retries``,
    ``host_key_policy``, ``known_hosts``, …), with the same meaning."""

    def __init__(self, hosts, **settings):
        self._blocking = _BlockingClient(hosts, **settings)
        self._fleet = self._blocking._fleet

    @property
    def hosts(self):
        return list(self._fleet.names)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        await self.disconnect()

    async def _started(self, runs, encoding, read_timeout):
        """A ``Run`` over native runs, once every host has a session or failed to get
        one."""
        fleet = self._fleet
        hosts = [Host(fleet.names[index], fleet.aliases[index], native, encoding,
                      read_timeout, fleet.ports[index], fleet.num_retries)
                 for index, native in runs.pairs]
        position = {index: at for at, (index, _) in enumerate(runs.pairs)}
        groups = [(native_run, [hosts[position[index]] for index in indexes])
                  for native_run, indexes in runs.runs]
        run = Run(runs, hosts, groups)
        try:
            for native_run, indexes in runs.runs:
                for i, kind, message in await native_run.wait_connected_async():
                    host = hosts[position[indexes[i]]]
                    host.exception = exception_for(kind, message, host.alias or host.host,
                                                   port=host._port,
                                                   num_retries=host._num_retries)
        except asyncio.CancelledError:
            run.cancel()
            raise
        return run

    async def run(self, command, *, sudo=False, user=None, use_pty=False, env=None,
                  stdin=None, timeout=None, read_timeout=None, encoding="utf-8",
                  shell=None):
        """Starts ``command`` on every host; returns a ``Run`` once every host has
        started it or failed to connect (``host.exception``). ``timeout``: seconds the
        command may run (then its channel is closed and ``exception`` is a
        ``Timeout``); ``read_timeout``: seconds a read of ``stdout``/``stderr`` waits for
        a line. ``encoding=None`` reads ``bytes``. ``stdin`` (``bytes`` or ``str``) is
        sent to every host's command, then end-of-file."""
        if not isinstance(command, str):
            raise TypeError("command must be a string")
        if isinstance(stdin, str):
            stdin = stdin.encode("utf-8")
        env_pairs = sorted((str(k), str(v)) for k, v in (env or {}).items())
        data = command.encode(encoding or "utf-8")

        def start(native, indexes):
            return native.run(data, pty=use_pty, sudo=bool(sudo), sudo_user=user,
                              shell=shell, env=env_pairs,
                              stdin=None if stdin is None else bytes(stdin),
                              command_timeout=timeout)

        runs = self._fleet.start(start)
        return await self._started(runs, encoding, read_timeout)

    async def connect(self):
        """Connects to and authenticates with every host (sessions kept for later
        calls); returns each host's exception, or ``None`` for a host now connected."""
        runs = self._fleet.start(lambda native, indexes: native.connect_auth())
        run = await self._started(runs, "utf-8", None)
        await run.join()
        return [host.exception for host in run.hosts]

    async def disconnect(self):
        """Closes every host's session; later calls connect again."""
        for native in self._fleet.all_clients():
            await native.disconnect_async()

    async def _copy(self, start):
        run = await self._started(self._fleet.start(start), "utf-8", None)
        await run.join()
        return run.hosts

    async def upload(self, local, remote, recurse=False, scp=False, preserve=False):
        """Copies ``local`` (a directory with ``recurse``) to ``remote`` on every host;
        returns each ``Host``, whose ``exception`` says why its copy failed."""
        return await self._copy(
            lambda native, indexes: native.upload(local, remote, recursive=recurse,
                                                  scp=scp, preserve=preserve))

    async def download(self, remote, local, recurse=False, scp=False, preserve=False,
                       suffix_separator="_"):
        """Copies ``remote`` from every host to ``<local><suffix_separator><host>``;
        returns each ``Host``, whose ``exception`` says why its copy failed."""
        return await self._copy(
            lambda native, indexes: native.download(remote, local, recursive=recurse,
                                                    scp=scp, preserve=preserve,
                                                    separator=suffix_separator))

    def open_shells(self, use_pty=False, read_timeout=None):
        """``async with client.open_shells() as shells``: an interactive shell per host;
        leaving the block ends their input and waits for them."""
        return _Shells(self, use_pty, read_timeout)
