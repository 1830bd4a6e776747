"""sshfan under gevent. Imported only once the program itself has imported gevent.

- ``wait_readable``: what the native waits call (see ``src/runtime.rs``): park this
  greenlet until a descriptor is readable, running the hub's other greenlets meanwhile.
- ``HostGreenlet``: a real greenlet for one host's share of a copy or ``connect_auth``
  (what parallel-ssh returns), so ``gevent.joinall(..., raise_error=True)``, ``.get()``
  and ``gevent.Timeout`` work as in parallel-ssh.
"""

import gevent
from gevent.socket import wait_read


def wait_readable(fd):
    """Returns once ``fd`` is readable (``gevent.Timeout`` and kills interrupt it)."""
    wait_read(fd)


class HostGreenlet(gevent.Greenlet):
    """Waits for one host's ``Task``: its value, or its exception raised."""

    def __init__(self, task):
        super().__init__(task.get)
        self.task = task

    @property
    def host(self):
        return self.task.host

    @property
    def alias(self):
        return self.task.alias

    @property
    def report(self):
        """sshfan only: ``(files, bytes, seconds)`` a finished copy moved."""
        return self.task.report

    def __repr__(self):
        return "HostGreenlet(%r)" % (self.task,)
