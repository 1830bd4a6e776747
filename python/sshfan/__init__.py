"""sshfan: an asynchronous parallel SSH client in Rust, with parallel-ssh's API.

Porting from parallel-ssh is an import change::

    from sshfan.clients import ParallelSSHClient   # was: from pssh.clients import ...

Commands run on one shared Rust (Tokio) runtime on its own threads; no gevent, no thread
per host. Waiting calls (reading output, joins) release the GIL.
"""

from .clients import ParallelSSHClient, SSHClient
from .config import HostConfig
from .output import HostOutput

__all__ = ["ParallelSSHClient", "SSHClient", "HostConfig", "HostOutput"]
