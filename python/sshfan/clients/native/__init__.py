"""Same classes as ``sshfan.clients`` (parallel-ssh's ``pssh.clients.native`` path)."""

from .parallel import ParallelSSHClient
from .single import SSHClient

__all__ = ["ParallelSSHClient", "SSHClient"]
