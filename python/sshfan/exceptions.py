"""Exceptions, named as parallel-ssh names them.

Every exception raised for a host carries ``host`` (its name or alias) and ``kind``
(sshfan's stable error code, e.g. ``"auth"``, ``"connect_timeout"``), besides its
message in ``args[0]``.
"""


class _HostError(Exception):
    """Base of the errors sshfan raises for one host."""

    host = None
    kind = None


class NoIPv6AddressFoundError(_HostError):
    """``ipv6_only`` was set and the host name has no IPv6 address."""


class UnknownHostError(_HostError):
    """The host name did not resolve."""


class ConnectionError(_HostError):
    """The host could not be reached: refused, unreachable, timed out."""


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


class InvalidAPIUseError(_HostError):
    """The API was used in a way it does not support."""


# parallel-ssh 1.x names, still exported by 2.x.
UnknownHostException = UnknownHostError
ConnectionErrorException = ConnectionError
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
