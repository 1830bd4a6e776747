"""Called on the event loop's thread by the native side of ``sshfan.aio``."""


def complete(future, ok, value):
    """Sets ``future``'s result (or exception), unless it was cancelled meanwhile."""
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
