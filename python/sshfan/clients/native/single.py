"""``SSHClient``: parallel-ssh's single-host client.

It is one host of a ``ParallelSSHClient`` underneath: the same engine, settings and
errors, with parallel-ssh's single-host methods. Made directly, it is the only host of a
client of its own, and like parallel-ssh's it connects and authenticates when created,
so a bad host or credential raises there. ``HostOutput.client`` of a parallel run is
the host's ``SSHClient`` too, bound to the parallel client's connection to that host:
its calls open channels on that connection, never a new one.
"""

import getpass
import os
import warnings

from ... import exceptions as exc
from ...output import HostOutput, InteractiveShell
from ...tasks import joinall
from .parallel import _ATTRIBUTES, ParallelSSHClient


class SSHClient:
    """Runs commands and copies files on one host."""

    def __init__(self, host, user=None, password=None, port=None, pkey=None, alias=None,
                 num_retries=3, retry_delay=5, allow_agent=True, timeout=None,
                 forward_ssh_agent=False, proxy_host=None, proxy_port=None, proxy_pkey=None,
                 proxy_user=None, proxy_password=None, keepalive_seconds=60,
                 identity_auth=True, ipv6_only=False, compress=False,
                 keyboard_interactive=False, _auth_thread_pool=True, **extras):
        from ...config import HostConfig
        parallel = ParallelSSHClient(
            [host], user=user, password=password, port=port or 22, pkey=pkey,
            num_retries=num_retries, retry_delay=retry_delay, timeout=timeout,
            allow_agent=allow_agent, forward_ssh_agent=forward_ssh_agent,
            proxy_host=proxy_host, proxy_port=proxy_port, proxy_pkey=proxy_pkey,
            proxy_user=proxy_user, proxy_password=proxy_password,
            keepalive_seconds=keepalive_seconds, identity_auth=identity_auth,
            ipv6_only=ipv6_only, compress=compress,
            keyboard_interactive=keyboard_interactive,
            host_config=[HostConfig(alias=alias)] if alias else None, **extras)
        parallel._single_class = lambda: type(self)
        parallel._host_clients[0] = self
        self._bind(parallel, 0)
        joinall(parallel._connect_tasks(None), raise_error=True)

    @classmethod
    def _bound(cls, parallel, index):
        """Host ``index`` of ``parallel``, without connecting (``HostOutput.client``)."""
        client = cls.__new__(cls)
        client._bind(parallel, index)
        return client

    def _bind(self, parallel, index):
        self._parallel = parallel
        self._index = index
        fleet = parallel._fleet
        self._fleet = fleet
        settings = fleet.effective[index].values
        for name in _ATTRIBUTES:
            setattr(self, name, settings.get(name))
        self.host = fleet.names[index]
        self.alias = fleet.aliases[index]
        self.port = fleet.ports[index]
        self.user = settings.get("user") or getpass.getuser()

    def _subset(self):
        if self._parallel._fleet is not self._fleet:
            raise exc.SessionError(
                "%s: this client's ParallelSSHClient was given other hosts since"
                % (self.alias or self.host))
        return [self._index]

    def run_command(self, command, sudo=False, user=None, use_pty=False, shell=None,
                    encoding="utf-8", timeout=None, read_timeout=None, env=None,
                    sudo_password=None, command_timeout=None):
        """Runs ``command``; returns its ``HostOutput`` once it has started.
        ``timeout`` is parallel-ssh's deprecated alias of ``read_timeout``."""
        if timeout is not None:
            warnings.warn("run_command(timeout=) is deprecated: use read_timeout",
                          DeprecationWarning, stacklevel=2)
            if read_timeout is None:
                read_timeout = timeout
        return self._parallel._run_command(
            self._subset(), command, sudo=sudo, user=user, use_pty=use_pty, shell=shell,
            encoding=encoding, read_timeout=read_timeout, env=env,
            sudo_password=sudo_password, command_timeout=command_timeout)[0]

    def execute(self, cmd, use_pty=False, channel=None):
        """Deprecated (as in parallel-ssh): runs ``cmd`` and returns its channel."""
        warnings.warn("Deprecated - use run_command instead.", DeprecationWarning,
                      stacklevel=2)
        return self.run_command(cmd, use_pty=use_pty).channel

    def wait_finished(self, host_output, timeout=None):
        """Waits for the command of ``host_output`` to finish; ``Timeout`` after
        ``timeout`` seconds."""
        if not isinstance(host_output, HostOutput):
            raise ValueError("wait_finished takes a HostOutput, not %r" % (host_output,))
        native = host_output._native
        if native is not None and not native.wait(timeout):
            raise exc.Timeout("Timeout of %s sec(s) reached on host %s"
                              % (timeout, host_output.alias or host_output.host))
        if host_output.exception is None:
            host_output.exception = host_output._error()

    def finished(self, channel):
        """Whether the command of ``channel`` (``HostOutput.channel``) has ended its
        output; ``None`` without a channel."""
        if channel is None:
            return None
        return channel.eof()

    def get_exit_status(self, channel):
        """The exit code of ``channel``'s command; ``None`` until it has ended."""
        if not channel.eof():
            return None
        return channel.get_exit_status()

    def close_channel(self, channel):
        """Closes ``channel`` (a command still running is stopped)."""
        channel.close()

    def read_output(self, stdout_buffer, timeout=None):
        """Lines (``bytes``) from ``host_output.buffers.stdout`` (or its ``rw_buffer``)."""
        return _stream(stdout_buffer).lines(False, timeout)

    def read_stderr(self, stderr_buffer, timeout=None):
        """Lines (``bytes``) from ``host_output.buffers.stderr`` (or its ``rw_buffer``)."""
        return _stream(stderr_buffer).lines(False, timeout)

    def open_shell(self, encoding="utf-8", read_timeout=None):
        """An ``InteractiveShell``; ``with client.open_shell() as shell: shell.run(...)``."""
        return self._parallel._open_shells(self._subset(), encoding, read_timeout)[0]

    def _copy(self, tasks):
        tasks[0].get()
        return None

    def copy_file(self, local_file, remote_file, recurse=False, sftp=None):
        """Uploads a file (a tree with ``recurse``) over SFTP; blocks until done."""
        return self._copy(self._parallel._upload(local_file, remote_file, recurse, None,
                                                 scp=False, subset=self._subset()))

    def scp_send(self, local_file, remote_file, recurse=False, sftp=None):
        """Uploads over SCP; blocks until done."""
        return self._copy(self._parallel._upload(local_file, remote_file, recurse, None,
                                                 scp=True, subset=self._subset()))

    def copy_remote_file(self, remote_file, local_file, recurse=False, sftp=None,
                         encoding="utf-8"):
        """Downloads to exactly ``local_file`` over SFTP; blocks until done."""
        return self._copy(self._exact_download(remote_file, local_file, recurse, scp=False))

    def scp_recv(self, remote_file, local_file, recurse=False, sftp=None, encoding="utf-8"):
        """Downloads to exactly ``local_file`` over SCP; blocks until done."""
        return self._copy(self._exact_download(remote_file, local_file, recurse, scp=True))

    def _exact_download(self, remote_file, local_file, recurse, scp):
        return self._parallel._download(os.fspath(remote_file), os.fspath(local_file),
                                        recurse, None, scp=scp, subset=self._subset(),
                                        exact=True)

    def disconnect(self):
        """Closes the connection (made in the constructor, or by the parallel client this
        host belongs to); a later call connects again."""
        for client, _ in self._fleet.clients(self._subset()):
            client.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.disconnect()

    def __repr__(self):
        return "SSHClient(%r)" % (self.alias or self.host)


def _stream(buffer):
    """A ``BufferData``'s reader, or the reader itself."""
    return getattr(buffer, "rw_buffer", buffer)
