"""Logging helpers with parallel-ssh's names, and ``joinall`` for background tasks."""

import logging

from . import _native
from .tasks import joinall

logger = logging.getLogger("sshfan")
host_logger = logging.getLogger("sshfan.host_logger")

__all__ = ["enable_logger", "enable_host_logger", "enable_debug_logger", "joinall"]


def _stream_handler(_logger, fmt):
    """Adds a stderr handler with format ``fmt`` unless ``_logger`` has one already."""
    if not any(isinstance(h, logging.StreamHandler) for h in _logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(fmt))
        _logger.addHandler(handler)


def enable_logger(_logger=logger, level=logging.INFO):
    """Sends ``_logger``'s records at ``level`` and above to stderr."""
    _stream_handler(_logger, "%(asctime)s %(levelname)-8s %(name)-15s %(message)s")
    _logger.setLevel(level)


def enable_host_logger():
    """Logs every output line read, as ``[host]\\tline`` (parallel-ssh's host logger)."""
    _stream_handler(host_logger, "%(message)s")
    host_logger.setLevel(logging.INFO)
    host_logger.propagate = False


def enable_debug_logger():
    """Debug logging, including the Rust library's (connections, auth, channels) on
    stderr. Secrets are never logged."""
    enable_logger(logger, logging.DEBUG)
    _native.enable_tracing("sshfan=debug")
