"""parallel-ssh's ``pssh.clients.ssh`` (its libssh client), served by sshfan's engine.

The same clients as ``sshfan.clients.native``; they also take that module's extra
arguments (``cert_file``, ``gssapi_auth``, ``gssapi_server_identity``,
``gssapi_client_identity``, ``gssapi_delegate_credentials``). GSS-API is accepted and
kept, and refused with an ``AuthenticationError`` when connecting: sshfan does not
support it.
"""

from .parallel import ParallelSSHClient
from .single import SSHClient

__all__ = ["ParallelSSHClient", "SSHClient"]
