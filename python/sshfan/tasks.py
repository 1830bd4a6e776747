"""Handles for work that runs in the background, as parallel-ssh's greenlets.

parallel-ssh's ``copy_file``, ``connect_auth`` and friends return greenlets, waited on
with ``gevent.joinall(greenlets, raise_error=True)``. Under gevent (once the program has
imported it), sshfan returns real greenlets too (``sshfan._gevent.HostGreenlet``), each
waiting on its host's ``Task`` while yielding to the hub. Without gevent it returns the
``Task`` objects themselves, with the greenlet methods people use (``join``, ``get``,
``ready``, ``successful``, ``exception``, ``value``); ``sshfan.utils.joinall(tasks,
raise_error=True)`` replaces ``gevent.joinall`` and takes either.
"""

import sys
import time


def gevent_in_use():
    """Whether the program has imported gevent (then waits and handles are gevent's)."""
    return sys.modules.get("gevent") is not None


def for_caller(tasks):
    """``tasks`` as the program expects them: greenlets under gevent, else ``Task``s."""
    if not gevent_in_use():
        return tasks
    from ._gevent import HostGreenlet
    return [HostGreenlet.spawn(task) for task in tasks]


def finished_values(values):
    """One finished handle per value (``client.cmds``): greenlets under gevent."""
    return for_caller([_Done(value) for value in values])


class _Done:
    """A task that has already finished with ``value``."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    host = alias = exception = None

    def join(self, timeout=None):
        return True

    def ready(self):
        return True

    def successful(self):
        return True

    @property
    def value(self):
        return self._value

    def get(self, block=True, timeout=None):
        return self._value


class Task:
    """One host's share of a background operation (a copy, a connect_auth)."""

    __slots__ = ("host", "alias", "_native", "_transfer", "_value", "_port", "_num_retries")

    def __init__(self, host, alias, native, transfer=None, value=None):
        self.host = host
        self.alias = alias
        self._native = native
        self._transfer = transfer
        self._value = value

    def join(self, timeout=None):
        """Waits until done (at most ``timeout`` seconds); whether it is done."""
        return self._native.wait(timeout)

    def ready(self):
        """Whether it has finished."""
        return self._native.outcome() is not None

    def successful(self):
        """Whether it finished without an exception."""
        return self.ready() and self.exception is None

    @property
    def exception(self):
        """The parallel-ssh exception it failed with, or ``None``."""
        from ._core import exception_for
        outcome = self._native.outcome()
        if outcome is None or outcome[0] != "error":
            return None
        return exception_for(outcome[1], outcome[2], self.alias or self.host, self._transfer,
                             getattr(self, "_port", None), getattr(self, "_num_retries", 1))

    @property
    def value(self):
        """What ``get`` returns, once finished without error."""
        return self._value if self.successful() else None

    @property
    def report(self):
        """sshfan only: ``(files, bytes, seconds)`` a finished copy moved."""
        return self._native.copy_report()

    def get(self, block=True, timeout=None):
        """Waits, then returns the value or raises the exception (like ``Greenlet.get``)."""
        from .exceptions import Timeout
        if block and not self.join(timeout):
            raise Timeout("%s: not finished after %s s" % (self.alias or self.host, timeout))
        if not self.ready():
            raise Timeout("%s: not finished" % (self.alias or self.host))
        error = self.exception
        if error is not None:
            raise error
        return self._value

    def __repr__(self):
        state = "pending" if not self.ready() else ("ok" if self.successful() else "failed")
        return "Task(host=%r, %s)" % (self.alias or self.host, state)


def joinall(tasks, timeout=None, raise_error=False):
    """Waits for every task (like ``gevent.joinall``); returns the finished ones.

    With ``raise_error``, raises the first failed task's exception (in task order).
    Greenlets (what copies return under gevent) go to ``gevent.joinall``.
    """
    tasks = list(tasks)
    if gevent_in_use():
        import gevent
        if any(isinstance(task, gevent.Greenlet) for task in tasks):
            return gevent.joinall(tasks, timeout=timeout, raise_error=raise_error)
    deadline = None if timeout is None else time.monotonic() + timeout
    done = []
    for task in tasks:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        if task.join(left):
            done.append(task)
    if raise_error:
        for task in done:
            if task.exception is not None:
                raise task.exception
    return done
