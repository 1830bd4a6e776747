"""``SSHClient``: parallel-ssh's single-host client.

It is a ``ParallelSSHClient`` of one host underneath: the same engine, settings and
errors, with parallel-ssh's single-host methods. Like parallel-ssh's, it connects and
authenticates when created, so a bad host or credential raises there.
"""

from ... import exceptions as exc
from ...output import InteractiveShell
from ...tasks import joinall
from .parallel import ParallelSSHClient


class SSHClient:
    """Runs commands and copies files on one host."""

    def __init__(self, host, user=None, password=None, port=None, pkey=None, alias=None,
                 num_retries=3, retry_delay=5, allow_agent=True, timeout=None,
                 forward_ssh_agent=False, proxy_host=None, proxy_port=None, proxy_pkey=None,
                 proxy_user=None, proxy_password=None, keepalive_seconds=60,
                 identity_auth=True, ipv6_only=False, compress=False,
                 keyboard_interactive=False, _auth_thread_pool=True, **extras):
        from ...config import HostConfig
        self.host = host
        self.alias = alias
        self.user = user
        self.port = port or 22
        self._client = ParallelSSHClient(
            [host], user=user, password=password, port=port or 22, pkey=pkey,
            num_retries=num_retries, retry_delay=retry_delay, timeout=timeout,
            allow_agent=allow_agent, forward_ssh_agent=forward_ssh_agent,
            proxy_host=proxy_host, proxy_port=proxy_port, proxy_pkey=proxy_pkey,
            proxy_user=proxy_user, proxy_password=proxy_password,
            keepalive_seconds=keepalive_seconds, identity_auth=identity_auth,
            ipv6_only=ipv6_only, compress=compress,
            keyboard_interactive=keyboard_interactive,
            host_config=[HostConfig(alias=alias)] if alias else None, **extras)
        joinall(self._client.connect_auth(), raise_error=True)

    def run_command(self, command, sudo=False, user=None, use_pty=False, shell=None,
                    encoding="utf-8", timeout=None, read_timeout=None, env=None,
                    sudo_password=None, command_timeout=None):
        """Runs ``command``; returns its ``HostOutput`` once it has started.
        ``timeout`` is parallel-ssh's deprecated alias of ``read_timeout``."""
        if timeout is not None:
            import warnings
            warnings.warn("run_command(timeout=) is deprecated: use read_timeout",
                          DeprecationWarning, stacklevel=2)
            if read_timeout is None:
                read_timeout = timeout
        return self._client.run_command(
            command, sudo=sudo, user=user, use_pty=use_pty, shell=shell, encoding=encoding,
            read_timeout=read_timeout, env=env, sudo_password=sudo_password,
            command_timeout=command_timeout)[0]

    def wait_finished(self, host_output, timeout=None):
        """Waits for the command of ``host_output`` to finish; ``Timeout`` after
        ``timeout`` seconds."""
        from ...output import HostOutput
        if not isinstance(host_output, HostOutput):
            raise ValueError("wait_finished takes a HostOutput, not %r" % (host_output,))
        native = host_output._native
        if native is not None and not native.wait(timeout):
            raise exc.Timeout("Timeout of %s sec(s) reached on host %s"
                              % (timeout, host_output.alias or host_output.host))
        if host_output.exception is None:
            host_output.exception = host_output._error()

    def read_output(self, stdout_buffer, timeout=None):
        """Lines (``bytes``) from a buffer, ``host_output.buffers.stdout``."""
        return stdout_buffer.lines(False, timeout)

    def read_stderr(self, stderr_buffer, timeout=None):
        """Lines (``bytes``) from ``host_output.buffers.stderr``."""
        return stderr_buffer.lines(False, timeout)

    def open_shell(self, encoding="utf-8", read_timeout=None):
        """An ``InteractiveShell``; ``with client.open_shell() as shell: shell.run(...)``."""
        shell = self._client.open_shell(encoding=encoding, read_timeout=read_timeout)[0]
        return InteractiveShell(shell.output, encoding)

    def _copy(self, tasks):
        task = tasks[0]
        task.get()
        return None

    def copy_file(self, local_file, remote_file, recurse=False, sftp=None):
        """Uploads a file (a tree with ``recurse``) over SFTP; blocks until done."""
        return self._copy(self._client.copy_file(local_file, remote_file, recurse=recurse))

    def copy_remote_file(self, remote_file, local_file, recurse=False, sftp=None,
                         encoding="utf-8"):
        """Downloads to exactly ``local_file`` over SFTP; blocks until done."""
        return self._copy(self._download(remote_file, local_file, recurse, scp=False))

    def scp_send(self, local_file, remote_file, recurse=False, sftp=None):
        """Uploads over SCP; blocks until done."""
        return self._copy(self._client.scp_send(local_file, remote_file, recurse=recurse))

    def scp_recv(self, remote_file, local_file, recurse=False, sftp=None, encoding="utf-8"):
        """Downloads to exactly ``local_file`` over SCP; blocks until done."""
        return self._copy(self._download(remote_file, local_file, recurse, scp=True))

    def _download(self, remote_file, local_file, recurse, scp):
        import os
        from ...tasks import Task
        fleet = self._client._fleet
        runs = fleet.start(lambda client, indexes: client.download(
            os.fspath(remote_file), os.fspath(local_file), recursive=recurse, scp=scp,
            exact=True))
        return [fleet.place(Task(fleet.names[0], fleet.labels[0], runs.hosts[0],
                                 "scp" if scp else "sftp"), 0)]

    def disconnect(self):
        """Closes the connection (made in the constructor and used by every call)."""
        self._client.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.disconnect()

    def __repr__(self):
        return "SSHClient(%r)" % (self.alias or self.host)


