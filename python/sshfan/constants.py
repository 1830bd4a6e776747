"""parallel-ssh's ``pssh.constants``."""

#: Connection attempts per host by default.
DEFAULT_RETRIES = 3
#: Seconds between attempts by default.
RETRY_DELAY = 5
