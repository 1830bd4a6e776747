"""What the native waits call under gevent (see ``src/runtime.rs``): park this greenlet
until a descriptor is readable, running the hub's other greenlets meanwhile. Imported only
once the program itself has imported gevent."""

from gevent.socket import wait_read


def wait_readable(fd):
    """Returns once ``fd`` is readable (``gevent.Timeout`` and kills interrupt it)."""
    wait_read(fd)
