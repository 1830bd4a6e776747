"""``ParallelSSHClient``: parallel-ssh's parallel client, on sshfan's Rust engine."""

import logging
import os
import sys

from ... import _native
from ... import exceptions as exc
from ..._core import Fleet, Settings, exception_for
from ...output import HostOutput, InteractiveShell
from ...tasks import Task, for_caller, finished_values
from ...utils import host_logger

_CLIENT_DEFAULTS = dict(
    user=None, password=None, port=22, pkey=None, num_retries=3, retry_delay=5,
    timeout=None, pool_size=100, allow_agent=True, identity_auth=True, proxy_host=None,
    proxy_port=None, proxy_user=None, proxy_password=None, proxy_pkey=None,
    forward_ssh_agent=False, keepalive_seconds=60, ipv6_only=False, compress=False,
    keyboard_interactive=False, cert_file=None, gssapi_auth=False,
    gssapi_server_identity=None, gssapi_client_identity=None,
    gssapi_delegate_credentials=False,
    # sshfan's own settings.
    host_key_policy="strict", known_hosts=None, ssh_config=None, command_timeout=None,
    proxy_command=None, post_quantum_kex=False,
)

# Settings a ParallelSSHClient (and an SSHClient) shows as attributes, as parallel-ssh's do.
_ATTRIBUTES = (
    "user", "password", "port", "pkey", "num_retries", "retry_delay", "timeout",
    "pool_size", "allow_agent", "identity_auth", "proxy_host", "proxy_port", "proxy_user",
    "proxy_password", "proxy_pkey", "forward_ssh_agent", "keepalive_seconds", "ipv6_only",
    "compress", "keyboard_interactive", "cert_file", "gssapi_auth",
    "gssapi_server_identity", "gssapi_client_identity", "gssapi_delegate_credentials",
)


class ParallelSSHClient:
    """Runs commands and copies files on many hosts at once.

    Takes parallel-ssh 2.x's arguments, plus sshfan's own (keyword only):

    - ``host_key_policy``: ``"strict"`` (default: unknown or changed host keys fail the
      host), ``"accept-new"`` (unknown keys are recorded), or ``"off"``, parallel-ssh's
      behaviour of never checking host keys (open to man-in-the-middle attacks).
    - ``known_hosts``: file or list of files (default ``~/.ssh/known_hosts`` and
      ``/etc/ssh/ssh_known_hosts``).
    - ``ssh_config``: a file to read; ``False`` for none; default ``~/.ssh/config``.
    - ``command_timeout``: seconds a command may run before its channel is closed.
    - ``proxy_command``: an OpenSSH ``ProxyCommand`` (``%h``, ``%p``).
    - ``post_quantum_kex``: prefer the ``mlkem768x25519-sha256`` key exchange over
      ``curve25519-sha256`` (both are offered; ML-KEM costs more client CPU).

    ``timeout`` limits connecting (TCP, handshake, authentication). ``pool_size`` limits
    how many hosts connect at once; started commands all stay open, as in parallel-ssh.
    ``num_retries`` counts connection attempts (authentication failures are not retried).
    """

    def __init__(self, hosts, user=None, password=None, port=22, pkey=None, num_retries=3,
                 retry_delay=5, timeout=None, pool_size=100, allow_agent=True,
                 host_config=None, proxy_host=None, proxy_port=None, proxy_user=None,
                 proxy_password=None, proxy_pkey=None, forward_ssh_agent=False,
                 keepalive_seconds=60, identity_auth=True, ipv6_only=False, compress=False,
                 keyboard_interactive=False, cert_file=None, gssapi_auth=False, **extras):
        unknown = set(extras) - set(_CLIENT_DEFAULTS)
        if unknown:
            raise TypeError("unexpected keyword argument(s): %s" % ", ".join(sorted(unknown)))
        if isinstance(hosts, (str, bytes)):
            raise TypeError("hosts must be a list of host names, not a string")
        if keyboard_interactive and not password:
            raise exc.InvalidAPIUseError(
                "keyboard_interactive=True needs a password to answer with")
        values = dict(_CLIENT_DEFAULTS)
        values.update(
            user=user, password=password, port=port, pkey=pkey, num_retries=num_retries,
            retry_delay=retry_delay, timeout=timeout, pool_size=pool_size,
            allow_agent=allow_agent, proxy_host=proxy_host, proxy_port=proxy_port,
            proxy_user=proxy_user, proxy_password=proxy_password, proxy_pkey=proxy_pkey,
            forward_ssh_agent=forward_ssh_agent, keepalive_seconds=keepalive_seconds,
            identity_auth=identity_auth, ipv6_only=ipv6_only, compress=compress,
            keyboard_interactive=keyboard_interactive, cert_file=cert_file,
            gssapi_auth=gssapi_auth)
        values.update(extras)
        if isinstance(pkey, str) and not os.path.exists(os.path.expanduser(pkey)):
            raise exc.PKeyFileError("no such private key file: %s" % pkey)
        self._settings = Settings(**values)
        # parallel-ssh's attributes: the settings as given.
        for name in _ATTRIBUTES:
            setattr(self, name, values.get(name))
        self.host_config = host_config
        self._last_output = None
        self._cmds = None
        self._pool = None
        self._hosts = list(hosts)
        self._fleet = Fleet(self._hosts, self._settings, host_config)
        #: Each host's ``SSHClient`` (``HostOutput.client``), made when first needed.
        self._host_clients = {}

    # parallel-ssh's `hosts` property: setting it takes effect for the next command.
    @property
    def hosts(self):
        return self._hosts

    @hosts.setter
    def hosts(self, hosts):
        if isinstance(hosts, (str, bytes)):
            raise TypeError("hosts must be a list of host names, not a string")
        self._hosts = list(hosts)
        self._fleet = Fleet(self._hosts, self._settings, self.host_config)
        self._host_clients = {}

    @property
    def cmds(self):
        """What the last ``run_command`` started, one per host, as parallel-ssh's greenlets:
        ``get()`` returns the host's ``HostOutput`` (real greenlets under gevent)."""
        if self._cmds is None and self._last_output is not None:
            self._cmds = finished_values(self._last_output)
        return self._cmds

    @property
    def pool(self):
        """parallel-ssh's greenlet pool (``gevent.pool.Pool(pool_size)``), for the
        program's own greenlets; ``None`` without gevent installed. sshfan's work does not
        run in it: hosts run on the native runtime."""
        if self._pool is None:
            try:
                import gevent.pool
            except ImportError:
                return None
            self._pool = gevent.pool.Pool(self.pool_size)
        return self._pool

    def _host_client(self, index):
        """Host ``index``'s ``SSHClient``: shares this client's connection to it."""
        client = self._host_clients.get(index)
        if client is None:
            client = self._single_class()._bound(self, index)
            self._host_clients[index] = client
        return client

    @staticmethod
    def _single_class():
        from .single import SSHClient
        return SSHClient

    def _outputs(self, runs, encoding, read_timeout, transfer=None):
        outputs = []
        for index, native in runs.pairs:
            output = HostOutput(self._fleet.names[index], client=self._host_client(index),
                                alias=self._fleet.aliases[index], encoding=encoding,
                                read_timeout=read_timeout, native=native)
            output._transfer = transfer
            outputs.append(self._fleet.place(output, index))
        return outputs

    def _wait_started(self, runs, outputs, stop_on_errors):
        """Waits until every host has a session or failed to get one, like parallel-ssh's
        run_command; raises the first failure, or records each in `exception`."""
        for position, kind, message in runs.wait_connected(stop_on_errors):
            output = outputs[position]
            error = exception_for(kind, message, output.alias or output.host,
                                  port=self._fleet.ports[position],
                                  num_retries=self._fleet.num_retries)
            if stop_on_errors:
                raise error
            output.exception = error
            output._end_streams()

    def run_command(self, command, sudo=False, user=None, stop_on_errors=True,
                    use_pty=False, host_args=None, shell=None, encoding="utf-8",
                    read_timeout=None, timeout=None, env=None, sudo_password=None,
                    command_timeout=None, waves=None, max_fail=None, abort_running=False,
                    gate=None, wave_pause=None, spread=None):
        """Runs ``command`` on every host; returns a ``HostOutput`` per host, in host order.

        Returns once every host has started the command or failed to connect. With
        ``stop_on_errors`` (the default) the first connection failure is raised; without,
        it is set as that host's ``HostOutput.exception``. ``host_args`` gives one argument
        tuple (or dict) per host for ``command % args``. ``user`` runs the command as
        that user through sudo; ``sudo=True`` runs it as root. The command is quoted
        correctly whatever it contains. ``timeout`` is parallel-ssh's deprecated name of
        ``read_timeout``. sshfan only: ``env`` (a dict sent with the request),
        ``sudo_password`` (written when sudo asks for it, never logged),
        ``command_timeout`` (seconds a host's command may run: then its channel is
        closed and its ``exception`` is a ``Timeout``).

        sshfan only, a rollout: ``waves`` (``"1,10%,rest"`` or a list such as
        ``[1, "10%", "rest"]``: hosts start wave by wave, each when the previous one has
        finished), ``max_fail`` (a failure budget, ``3`` or ``"5%"``: once exceeded, no
        further host starts, and hosts never started get a ``SessionError`` whose
        ``kind`` is ``"not_run"``), ``abort_running`` (then also cancel running hosts),
        ``gate`` (called after each wave but the last with a dict: ``wave``, ``waves``,
        ``hosts``, ``succeeded``, ``failed``, ``failed_so_far``; a false result halts the
        rollout), ``wave_pause`` (seconds between waves) and ``spread`` (a function from
        host to group, e.g. its rack: each wave takes one host of every group in turn).
        With waves, this returns once the last wave has started (or the rollout halted);
        use ``stop_on_errors=False`` to see every host's outcome.
        """
        if read_timeout is None and timeout is not None:
            read_timeout = timeout
        outputs = self._run_command(
            None, command, sudo=sudo, user=user, stop_on_errors=stop_on_errors,
            use_pty=use_pty, host_args=host_args, shell=shell, encoding=encoding,
            read_timeout=read_timeout, env=env, sudo_password=sudo_password,
            command_timeout=command_timeout,
            rollout=self._rollout(waves, max_fail, abort_running, gate, wave_pause, spread))
        self._last_output = outputs
        self._cmds = None
        return outputs

    def _run_command(self, subset, command, sudo=False, user=None, stop_on_errors=True,
                     use_pty=False, host_args=None, shell=None, encoding="utf-8",
                     read_timeout=None, env=None, sudo_password=None,
                     command_timeout=None, rollout=None):
        """``run_command`` on the hosts of ``subset`` (indexes; ``None``: all)."""
        count = len(self._hosts)
        commands = command
        if host_args is not None:
            host_args = list(host_args)
            if len(host_args) != count:
                raise exc.HostArgumentError(
                    "Number of host arguments provided (%d) does not match number of hosts "
                    "(%d)" % (len(host_args), count))
            # As parallel-ssh: a tuple or dict that does not fit raises `cmd % args`'s own
            # TypeError or KeyError.
            commands = [command % args for args in host_args]
        elif not isinstance(command, str):
            raise TypeError("command must be a string")
        # As parallel-ssh: the command is sent encoded with `encoding` (the sudo/shell
        # wrapping around it, ASCII in practice, as UTF-8).
        codec = encoding or "utf-8"
        commands = (commands.encode(codec) if isinstance(commands, str)
                    else [one.encode(codec) for one in commands])
        env_pairs = sorted((str(k), str(v)) for k, v in (env or {}).items())

        def start(client, indexes):
            per_host = commands if isinstance(commands, bytes) else [commands[i] for i in indexes]
            # A per-call timeout is the job's own: the same client and connections.
            return client.run(per_host, pty=use_pty, sudo=bool(sudo), sudo_user=user,
                              sudo_password=sudo_password, shell=shell, env=env_pairs,
                              command_timeout=command_timeout,
                              rollout=rollout(indexes) if rollout else None)

        if rollout and len(self._fleet.clients(subset)) > 1:
            raise ValueError("a rollout (waves, max_fail) needs hosts that share one "
                             "configuration: host_config entries that differ in settings "
                             "other than user, password, key and port split them")
        runs = self._fleet.start(start, subset)
        outputs = self._outputs(runs, encoding, read_timeout)
        self._wait_started(runs, outputs, stop_on_errors)
        return outputs

    def _rollout(self, waves, max_fail, abort_running, gate, wave_pause, spread):
        """A function from a native client's host indexes to its ``rollout`` settings, or
        None without rollout options."""
        if waves is None and max_fail is None:
            if gate is not None or spread is not None or abort_running or wave_pause:
                raise ValueError("gate, spread, abort_running and wave_pause apply to a "
                                 "rollout: give waves or max_fail")
            return None
        if waves is not None and not isinstance(waves, str):
            waves = ",".join(str(size) for size in waves)
        hosts = self._hosts

        def settings(indexes):
            wrapped = None
            if gate is not None:
                def wrapped(report):
                    report = dict(report, hosts=[hosts[indexes[i]] for i in report["hosts"]])
                    return bool(gate(report))
            groups = None
            if spread is not None:
                numbers = {}
                groups = [numbers.setdefault(spread(hosts[i]), len(numbers)) for i in indexes]
            return {"waves": waves, "max_fail": None if max_fail is None else str(max_fail),
                    "abort_running": bool(abort_running), "gate": wrapped,
                    "wave_pause": wave_pause, "spread": groups}
        return settings

    def get_last_output(self, cmds=None):
        """The output list of the last ``run_command`` (or of ``cmds``, as ``cmds``
        gives them)."""
        if cmds is None:
            return self._last_output
        return [cmd.get() for cmd in cmds]

    def _natives(self, output):
        if output is None:
            output = self._last_output
        if output is None:
            return []  # nothing run yet: nothing to wait for
        if not isinstance(output, (list, tuple)) or not all(
                isinstance(o, HostOutput) for o in output):
            raise ValueError("Unexpected output object type: give run_command's list of "
                             "HostOutput")
        return [o for o in output if o._native is not None]

    def join(self, output=None, consume_output=False, timeout=None):
        """Waits for every command (of ``output``, default the last run) to finish.

        Raises ``Timeout`` when ``timeout`` seconds pass first; commands keep running and
        their output stays readable. Joining keeps all output in memory until read, so
        reading after a join never loses any; ``consume_output`` discards it instead.
        """
        import time
        outputs = self._natives(output)
        deadline = None if timeout is None else time.monotonic() + timeout
        runs = {}
        for host_output in outputs:
            runs.setdefault(host_output._native.run_id, host_output._native)
        for native in runs.values():
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            native.join_run(left)
        unfinished = [o for o in outputs if not o._native.wait(0)]
        for host_output in outputs:
            # A host that failed while running (its command timeout, a lost connection)
            # says so: output is never cut short silently.
            if host_output.exception is None and host_output not in unfinished:
                host_output.exception = host_output._error()
        if unfinished:
            finished = [o for o in outputs if o not in unfinished]
            # parallel-ssh's layout: (fmt, timeout, finished outputs, unfinished outputs).
            raise exc.Timeout("Timeout of %s sec(s) reached with commands still running",
                              timeout, finished, unfinished)
        if consume_output and host_logger.isEnabledFor(logging.INFO):
            # As parallel-ssh: consuming reads the lines, so the host logger logs them.
            for host_output in outputs:
                for _ in host_output.stdout:
                    pass
                for _ in host_output.stderr:
                    pass
        elif consume_output:
            for host_output in outputs:
                for stream in (1, 2):
                    while host_output._native.read_chunk(stream) is not None:
                        pass
                host_output._end_streams()

    def gather(self, output=None, normalize=True, rules=None, patterns=()):
        """Groups the hosts of ``output`` (default the last run) by stdout, after waiting
        for them, so that among thousands of hosts the few that differ stand out.

        With ``normalize`` (the default), what is unique to each host is replaced first:
        its name (``<host>``), IP addresses, UUIDs, dates and times, hex ids and numbers
        standing alone; ``rules`` chooses among ``"host"``, ``"ip"``, ``"uuid"``,
        ``"time"``, ``"hex"``, ``"number"`` (all by default), ``patterns`` adds regular
        expressions of one's own. Returns a list of ``OutputGroup``, the largest first,
        every other one with its unified ``diff`` against it. Reads each host's remaining
        stdout (lines already read are not part of it).
        """
        from ...output import OutputGroup
        outputs = list(self._last_output if output is None else output)
        if not outputs:
            return []
        self.join(outputs)
        items = []
        for host_output in outputs:
            text = "".join(line + "\n" for line in (host_output.stdout or ()))
            if host_output.exception is not None:
                category = type(host_output.exception).__name__
            elif host_output.exit_code not in (0, None):
                category = "exit %s" % host_output.exit_code
            else:
                category = "ok"
            names = [str(host_output.host)]
            alias = getattr(host_output, "alias", None)
            if alias:
                names.append(str(alias))
            items.append((names, text, category))
        groups = _native.group_outputs(items, normalize=normalize,
                                       rules=None if rules is None else list(rules),
                                       patterns=list(patterns))
        return [OutputGroup([outputs[i].host for i in hosts], text, diff, category)
                for hosts, category, text, diff in groups]

    def finished(self, output=None):
        """Whether every command (of ``output``, default the last run) has finished."""
        return all(o.finished for o in self._natives(output))

    def connect_auth(self):
        """Connects to and authenticates with every host, in parallel; returns one
        greenlet per host under gevent (``gevent.joinall(cmds, raise_error=True)``), or
        one ``Task`` (``sshfan.utils.joinall``); its value is the host's ``SSHClient``.
        The connections are kept: later calls use them, as in parallel-ssh."""
        return for_caller(self._connect_tasks(None))

    def _connect_tasks(self, subset):
        runs = self._fleet.start(lambda client, indexes: client.connect_auth(), subset)
        return [self._fleet.place(Task(self._fleet.names[i], self._fleet.labels[i], native,
                                       value=self._host_client(i)), i)
                for i, native in runs.pairs]

    def close_channel(self, channel):
        """Closes a command's channel (``HostOutput.channel``)."""
        if channel is not None:
            channel.close()

    def disconnect(self):
        """Closes every host's connection (later calls connect again)."""
        for client in self._fleet.all_clients():
            client.disconnect()

    def _open_sessions(self):
        """SSH connections held open now (for tests)."""
        return sum(client.open_sessions() for client in self._fleet.all_clients())

    # Interactive shells.

    def open_shell(self, encoding="utf-8", read_timeout=None):
        """Opens an interactive shell on every host; returns one ``InteractiveShell`` each.
        Raises the first host's connection failure."""
        return self._open_shells(None, encoding, read_timeout)

    def _open_shells(self, subset, encoding, read_timeout):
        runs = self._fleet.start(lambda client, indexes: client.open_shells(), subset)
        outputs = self._outputs(runs, encoding, read_timeout)
        for output in outputs:
            output.fully_qualified_command = None
        self._wait_started(runs, outputs, True)
        return [InteractiveShell(output, encoding) for output in outputs]

    def run_shell_commands(self, shells, commands):
        """Writes each command (a string or a list) to every shell; a failure is a
        ``ShellError`` (wrapping the cause, as parallel-ssh's)."""
        if not isinstance(commands, list):
            commands = [commands]
        for shell in shells:
            for command in commands:
                try:
                    shell.run(command)
                except exc.ShellError:
                    raise
                except Exception as error:
                    raise exc.ShellError(error) from error

    def join_shells(self, shells, timeout=None):
        """Ends every shell's input and waits for them; ``Timeout`` after ``timeout``
        seconds (default: the client's ``timeout``) with parallel-ssh's layout ``(fmt,
        timeout, finished shells, unfinished shells)``."""
        timeout = self.timeout if timeout is None else timeout
        for shell in shells:
            shell._end_input()
        try:
            self.join([shell.output for shell in shells], timeout=timeout)
        except exc.Timeout as error:
            unfinished = [o for o in error.args[3]] if len(error.args) > 3 else []
            raise exc.Timeout(
                "Timeout of %s sec(s) reached with commands still running", timeout,
                [s for s in shells if s.output not in unfinished],
                [s for s in shells if s.output in unfinished]) from None

    # File copies: each returns one greenlet (under gevent) or Task per host.

    def _copy(self, make_paths, copy_args, starter, transfer, subset=None, check=None):
        """Starts a copy per host of ``subset`` (default all). ``check(paths)`` is called
        once per distinct path pair first: a local mistake raises there, before any host
        is touched."""
        indexes = list(range(len(self._hosts))) if subset is None else list(subset)
        if copy_args is not None:
            copy_args = list(copy_args)
            if len(copy_args) != len(indexes):
                raise exc.HostArgumentError(
                    "Number of per-host copy arguments provided (%d) does not match number "
                    "of hosts (%d)" % (len(copy_args), len(indexes)))
            paths = [make_paths(args) for args in copy_args]
        else:
            paths = [make_paths(None)] * len(indexes)
        if check is not None:
            for pair in set(paths):
                check(pair)
        by_pair = {}
        for index, pair in zip(indexes, paths):
            by_pair.setdefault(pair, []).append(index)
        natives = {}
        for pair, group in by_pair.items():
            runs = self._fleet.start(lambda client, _: starter(client, *pair), group)
            natives.update(runs.pairs)
        return [self._fleet.place(Task(self._fleet.names[i], self._fleet.labels[i],
                                       natives[i], transfer), i)
                for i in indexes]

    def copy_file(self, local_file, remote_file, recurse=False, copy_args=None):
        """Uploads ``local_file`` (a directory with ``recurse``) to ``remote_file`` on every
        host over SFTP, creating parent directories; into it when ``remote_file`` is an
        existing directory or ends in ``/``. The local file is read once for all hosts.
        ``copy_args``: one dict per host for ``%(name)s`` in both paths. Returns one
        greenlet per host under gevent (``gevent.joinall(cmds, raise_error=True)``), else
        one ``Task``. A missing or unreadable local file, or a directory without
        ``recurse``, raises ``FileNotFoundError``, ``PermissionError`` or ``ValueError``
        at once."""
        return for_caller(self._upload(local_file, remote_file, recurse, copy_args, False))

    def scp_send(self, local_file, remote_file, recurse=False, copy_args=None):
        """``copy_file`` over SCP, for servers without SFTP."""
        return for_caller(self._upload(local_file, remote_file, recurse, copy_args, True))

    def _upload(self, local_file, remote_file, recurse, copy_args, scp, subset=None):
        return self._copy(_formatter(local_file, remote_file), copy_args,
                          lambda client, local, remote: client.upload(
                              local, remote, recursive=recurse, scp=scp),
                          "scp" if scp else "sftp", subset,
                          check=lambda pair: _check_local_source(pair[0], recurse))

    def copy_remote_file(self, remote_file, local_file, recurse=False,
                         suffix_separator="_", copy_args=None, encoding="utf-8"):
        """Downloads ``remote_file`` from every host to ``<local_file>_<host>``."""
        return for_caller(self._download(remote_file, local_file, recurse, copy_args,
                                         scp=False, separator=suffix_separator))

    def scp_recv(self, remote_file, local_file, recurse=False, copy_args=None,
                 suffix_separator="_"):
        """``copy_remote_file`` over SCP."""
        return for_caller(self._download(remote_file, local_file, recurse, copy_args,
                                         scp=True, separator=suffix_separator))

    def _download(self, remote_file, local_file, recurse, copy_args, scp, separator="_",
                  subset=None, exact=False):
        return self._copy(_formatter(remote_file, local_file), copy_args,
                          lambda client, remote, local: client.download(
                              remote, local, recursive=recurse, scp=scp,
                              separator=separator, exact=exact),
                          "scp" if scp else "sftp", subset)


def _check_local_source(path, recurse):
    """Raises what parallel-ssh (and Python) raise for a local file that cannot be sent."""
    import stat
    info = os.stat(path)  # FileNotFoundError, PermissionError
    if stat.S_ISDIR(info.st_mode):
        if not recurse:
            raise ValueError("Recurse must be true if local_file is a directory.")
        os.listdir(path)  # PermissionError for an unreadable directory
    else:
        with open(path, "rb"):  # PermissionError
            pass


def _formatter(first, second):
    def paths(args):
        if args is None:
            return (os.fspath(first), os.fspath(second))
        try:
            return (os.fspath(first) % args, os.fspath(second) % args)
        except (TypeError, KeyError, ValueError) as error:
            raise exc.HostArgumentError("copy_args do not fit the paths: %s" % error) from None
    return paths

