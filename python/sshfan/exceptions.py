"""Exceptions, named and laid out as parallel-ssh's are.

As in parallel-ssh, an exception's ``args`` are a printf-style format and its values
(``str(exc)`` is ``args[0] % args[1:]``), in parallel-ssh's positions, which programs
index: ``ConnectionError`` and ``AuthenticationError`` ``(fmt, host, port, cause, retry,
num_retries)``; ``UnknownHostError`` ``(fmt, host, reason, retry, num_retries)``;
``Timeout`` from ``join(timeout=)`` ``(fmt, timeout, finished_outputs,
unfinished_outputs)``; ``SFTPIOError``/``SCPError`` ``(fmt, path, host, cause)``;
``NoIPv6AddressFoundError`` ``(fmt, host, [(host, port)])``. ``ConnectionError`` is the
builtin ``ConnectionError`` (a refused connection is a ``ConnectionRefusedError``).
Every exception raised for a host also carries ``host`` (its name or alias) and ``kind``
(sshfan's stable error code, e.g. ``"auth"``, ``"connect_timeout"``).
"""

import builtins


def _formatted(error):
    args = error.args
    if len(args) < 2 or not isinstance(args[0], str):
        return None
    try:
        return args[0] % args[1:]
    except (KeyError, TypeError, ValueError):
        return None


class _HostError(Exception):
    """Base of the errors sshfan raises for one host (parallel-ssh's ``_PSSHError``)."""

    host = None
    kind = None

    def __str__(self):
        text = _formatted(self)
        return super().__str__() if text is None else text


#: The builtin ``ConnectionError``, as in parallel-ssh.
ConnectionError = builtins.ConnectionError


class _ConnectionFailed(builtins.ConnectionError):
    """A ``ConnectionError`` raised by sshfan, formatted as parallel-ssh's."""

    host = None
    kind = None

    def __str__(self):
        text = _formatted(self)
        return super().__str__() if text is None else text


class _ConnectionRefused(builtins.ConnectionRefusedError, _ConnectionFailed):
    """A refused connection: a ``ConnectionRefusedError`` (and so a ``ConnectionError``)."""

    __str__ = _ConnectionFailed.__str__


class NoIPv6AddressFoundError(_HostError):
    """``ipv6_only`` was set and the host name has no IPv6 address."""


class UnknownHostError(_HostError):
    """The host name did not resolve."""


class AuthenticationError(_HostError):
    """Every authentication method failed."""


class SSHError(_HostError):
    """A generic SSH failure."""


class HostKeyError(SSHError):
    """sshfan only: the host key was unknown, changed or revoked (host-key verification is
    on by default; parallel-ssh never checked)."""


class HostArgumentError(_HostError):
    """``host_args`` (or ``copy_args``) does not give one entry per host."""


class SessionError(_HostError):
    """The SSH session failed: handshake, channel, connection lost while running."""


class SFTPError(_HostError):
    """An SFTP operation failed."""


class SFTPIOError(SFTPError):
    """A file could not be read or written over SFTP."""


class ProxyError(_HostError):
    """A proxy (jump) host on the way failed."""


class Timeout(_HostError):
    """A timeout was reached: command, read, or join."""


class SCPError(_HostError):
    """An SCP transfer failed."""


class PKeyFileError(_HostError):
    """The private key could not be loaded (missing, bad passphrase, bad format)."""


class ShellError(_HostError):
    """An interactive shell could not be used."""


class HostConfigError(_HostError):
    """A ``HostConfig`` (or other setting) is invalid."""


class _HostConfigValueError(HostConfigError, ValueError):
    """A ``HostConfig`` value of the wrong type, or a ``host_config`` list whose length
    is not the host count: parallel-ssh raises ``ValueError`` for these."""


class InvalidAPIUseError(_HostError):
    """The API was used in a way it does not support."""


# parallel-ssh 1.x names, still exported by 2.x.
UnknownHostException = UnknownHostError
ConnectionErrorException = builtins.ConnectionError
AuthenticationException = AuthenticationError
SSHException = SSHError
HostArgumentException = HostArgumentError

__all__ = [
    "NoIPv6AddressFoundError", "UnknownHostError", "ConnectionError", "AuthenticationError",
    "SSHError", "HostKeyError", "HostArgumentError", "SessionError", "SFTPError",
    "SFTPIOError", "ProxyError", "Timeout", "SCPError", "PKeyFileError", "ShellError",
    "HostConfigError", "InvalidAPIUseError", "UnknownHostException",
    "ConnectionErrorException", "AuthenticationException", "SSHException",
    "HostArgumentException",
]
