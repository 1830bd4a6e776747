"""Called on the event loop's thread by the native side of ``sshfan.aio``."""

import atexit

from . import _native

# Before the interpreter finalizes, sshfan's threads stop calling into Python (a thread
# that takes the GIL during finalization is ended in a way that aborts the process).
atexit.register(_native.shutdown)


def complete(future, ok, value):
    """Sets ``future``'s result (or exception), unless it was cancelled meanwhile."""
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
