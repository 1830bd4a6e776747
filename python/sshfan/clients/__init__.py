"""The clients: ``ParallelSSHClient`` for many hosts, ``SSHClient`` for one."""

from .native import ParallelSSHClient, SSHClient

__all__ = ["ParallelSSHClient", "SSHClient"]
