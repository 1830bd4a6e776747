"""sshfan: an asynchronous parallel SSH client in Rust, with parallel-ssh's API.

Porting from parallel-ssh is an import change::

    from sshfan.clients import ParallelSSHClient   # was: from pssh.clients import ...

Commands run on one shared Rust (Tokio) runtime on its own threads, no thread per host.
Waiting calls (reading output, joins) release the GIL; once the program has imported
gevent they yield to gevent's hub instead (see ``sshfan._gevent``).
"""

import logging

from . import _aio_support  # noqa: F401  (its exit hook: see python/src/aio.rs)
from .clients import ParallelSSHClient, SSHClient
from .config import HostConfig
from .output import HostOutput

#: The package's logger (parallel-ssh's ``pssh.logger``); like parallel-ssh's, the
#: library's loggers carry a ``NullHandler``: nothing is printed unless the program
#: configures logging or calls ``sshfan.utils.enable_logger``.
logger = logging.getLogger("sshfan")
logger.addHandler(logging.NullHandler())
logging.getLogger("sshfan.host_logger").addHandler(logging.NullHandler())

__all__ = ["ParallelSSHClient", "SSHClient", "HostConfig", "HostOutput", "logger"]
