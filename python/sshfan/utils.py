"""Logging helpers with parallel-ssh's names, and ``joinall`` for background tasks."""

import logging

from . import _native
from .tasks import joinall

logger = logging.getLogger("sshfan")
host_logger = logging.getLogger("sshfan.host_logger")

__all__ = ["enable_logger", "enable_host_logger", "enable_debug_logger", "joinall"]


def enable_logger(_logger=logger, level=logging.INFO):
    """Sends ``_logger``'s records at ``level`` and above to stderr."""
    for handler in _logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            break
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)-15s %(message)s"))
        _logger.addHandler(handler)
    _logger.setLevel(level)


def enable_host_logger():
    """Logs every output line read, as ``[host]\\tline`` (parallel-ssh's host logger)."""
    for handler in host_logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            break
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        host_logger.addHandler(handler)
    host_logger.setLevel(logging.INFO)
    host_logger.propagate = False


def enable_debug_logger():
    """Debug logging, including the Rust library's (connections, auth, channels) on
    stderr. Secrets are never logged."""
    enable_logger(logger, logging.DEBUG)
    _native.enable_tracing("sshfan=debug")
