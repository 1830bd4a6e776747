"""Per-host settings: parallel-ssh's ``HostConfig``.

A field left ``None`` takes the client's value; any other value, including ``False`` and
``0``, overrides it (parallel-ssh could not switch off a globally true option such as
``allow_agent``; sshfan can).
"""

from .exceptions import HostConfigError, _HostConfigValueError

_FIELDS = (
    "user", "port", "password", "private_key", "allow_agent", "alias", "num_retries",
    "retry_delay", "timeout", "identity_auth", "proxy_host", "proxy_port", "proxy_user",
    "proxy_password", "proxy_pkey", "keepalive_seconds", "ipv6_only", "cert_file",
    "forward_ssh_agent", "compress", "keyboard_interactive", "gssapi_auth",
    "gssapi_server_identity", "gssapi_client_identity", "gssapi_delegate_credentials",
    "auth_thread_pool",
)


class HostConfig:
    """Settings for one host of a ``ParallelSSHClient`` (``host_config=[...]``, one per
    host, in host order)."""

    __slots__ = _FIELDS

    def __init__(self, user=None, port=None, password=None, private_key=None,
                 allow_agent=None, alias=None, num_retries=None, retry_delay=None,
                 timeout=None, identity_auth=None, proxy_host=None, proxy_port=None,
                 proxy_user=None, proxy_password=None, proxy_pkey=None,
                 keepalive_seconds=None, ipv6_only=None, cert_file=None,
                 forward_ssh_agent=None, compress=None, keyboard_interactive=None,
                 gssapi_auth=None, gssapi_server_identity=None, gssapi_client_identity=None,
                 gssapi_delegate_credentials=None, auth_thread_pool=None):
        values = dict(locals())
        for name in _FIELDS:
            setattr(self, name, values[name])
        self._validate()

    def _validate(self):
        def check(name, types):
            value = getattr(self, name)
            if value is not None and not isinstance(value, types):
                raise _HostConfigValueError(
                    "HostConfig.%s must be %s, not %r" % (
                        name, " or ".join(t.__name__ for t in types), value))
        for name in ("user", "password", "alias", "proxy_host", "proxy_user",
                     "proxy_password", "cert_file"):
            check(name, (str,))
        for name in ("port", "num_retries", "proxy_port"):
            check(name, (int,))
        for name in ("retry_delay", "timeout", "keepalive_seconds"):
            check(name, (int, float))
        for name in ("allow_agent", "identity_auth", "ipv6_only", "forward_ssh_agent",
                     "compress", "keyboard_interactive"):
            check(name, (bool,))
        check("private_key", (str, bytes))
        check("proxy_pkey", (str, bytes))
        if self.gssapi_auth:
            raise HostConfigError("GSS-API authentication is not supported by sshfan")

    def __repr__(self):
        shown = ", ".join(
            "%s=%r" % (name, "***" if "password" in name else getattr(self, name))
            for name in _FIELDS if getattr(self, name) is not None)
        return "HostConfig(%s)" % shown
