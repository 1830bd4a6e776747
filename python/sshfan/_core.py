"""The bridge between parallel-ssh's settings and sshfan's native clients.

parallel-ssh takes settings per client and, through ``HostConfig``, per host. sshfan's
native client holds per-host user, port, key, password and alias; every other setting is
per client. So hosts are grouped by their effective settings, one native client per
group; a call starts one native run per group and hands back the hosts in the order
they were given. Most programs have one group.
"""

import os

from . import _native
from . import exceptions as exc

# Keyword arguments of the native client that a HostConfig can change per host.
_HOST_LEVEL = ("user", "port", "password", "private_key", "alias")


def expand_key(pkey):
    """A key argument for the native client: a path (``~`` expanded) or key bytes."""
    if pkey is None or isinstance(pkey, bytes):
        return pkey
    return os.path.expanduser(os.fspath(pkey))


# sshfan's error kinds (`ErrorKind::code`) as parallel-ssh exceptions; the others
# (handshake, channel, connection_lost, cancelled) are SessionError.
_EXCEPTIONS = {
    "refused": exc._ConnectionRefused,
    "unreachable": exc._ConnectionFailed,
    "io": exc._ConnectionFailed,
    "too_many_open_files": exc._ConnectionFailed,
    "connect_timeout": exc.Timeout,
    "auth": exc.AuthenticationError,
    "key": exc.PKeyFileError,
    "host_key": exc.HostKeyError,
    "config": exc.HostConfigError,
    "proxy": exc.ProxyError,
    "command_timeout": exc.Timeout,
    "idle_timeout": exc.Timeout,
}


def _cause(message, host):
    """The error's own text, without a leading ``host:`` label."""
    prefix = "%s: " % host
    return message[len(prefix):] if message.startswith(prefix) else message


def exception_for(kind, message, host, transfer=None, port=None, num_retries=1):
    """The parallel-ssh exception for one of sshfan's error kinds, with parallel-ssh's
    positional ``args`` (see ``sshfan.exceptions``)."""
    cause = _cause(message, host)
    retries = num_retries or 1
    if kind == "no_ipv6":
        error = exc.NoIPv6AddressFoundError(
            "Requested IPv6 only and no IPv6 addresses found for host %s from "
            "address list %s", host, [(host, port)])
    elif kind == "resolve":
        error = exc.UnknownHostError(
            "Unknown host %s - %s - retry %s/%s", host, cause, retries, retries)
    elif kind == "transfer":
        cls = exc.SCPError if transfer == "scp" else exc.SFTPIOError
        path, _, why = cause.partition(": ")
        error = cls("Error copying %s on host %s - %s", path, host, why or cause)
    elif kind in ("refused", "unreachable", "io", "too_many_open_files"):
        error = _EXCEPTIONS[kind](
            "Error connecting to host '%s:%s' - %s - retry %s/%s",
            host, port, cause, retries, retries)
    elif kind == "auth":
        error = exc.AuthenticationError(
            "Authentication error while connecting to %s:%s - %s - retries %s/%s",
            host, port, cause, retries, retries)
    elif kind == "host_key" and "is not known" in cause:
        error = exc.HostKeyError(
            "%s: %s (or pass host_key_policy='accept-new' to record unknown host keys)",
            host, cause)
    else:
        cls = _EXCEPTIONS.get(kind, exc.SessionError)
        error = cls("%s: %s", host, cause)
    error.host = host
    error.kind = kind
    return error


class Settings:
    """One host's effective settings, in parallel-ssh's names."""

    def __init__(self, **values):
        self.values = values

    def merged(self, host_config):
        if host_config is None:
            return self
        values = dict(self.values)
        for name in host_config.__slots__:
            value = getattr(host_config, name)
            if value is not None and name in values:
                values[name] = value
        if host_config.private_key is not None:
            values["pkey"] = host_config.private_key
        return Settings(**values)

    def native_kwargs(self, hosts_in_group):
        v = self.values
        pkey = expand_key(v.get("pkey"))
        keys = [pkey] if pkey is not None else []
        cert = v.get("cert_file")
        password = v.get("password")
        proxy_jump = None
        if v.get("proxy_host"):
            proxy_jump = v["proxy_host"]
            if v.get("proxy_user"):
                proxy_jump = "%s@%s" % (v["proxy_user"], proxy_jump)
            # As parallel-ssh: the proxy's port defaults to the destination's.
            proxy_port = v.get("proxy_port") or v.get("port")
            if proxy_port and proxy_port != 22:
                proxy_jump = "%s:%s" % (proxy_jump, proxy_port)
            proxy_pkey = expand_key(v.get("proxy_pkey"))
            if proxy_pkey is not None and proxy_pkey not in keys:
                keys.append(proxy_pkey)
            if password is None:
                password = v.get("proxy_password")
        known_hosts = v.get("known_hosts")
        if isinstance(known_hosts, (str, os.PathLike)):
            known_hosts = [known_hosts]
        ssh_config = v.get("ssh_config")
        if ssh_config is False:
            ssh_config = ""
        num_retries = v.get("num_retries")
        pool_size = v.get("pool_size") or 100
        timeout = v.get("timeout")
        keepalive = v.get("keepalive_seconds")
        return dict(
            user=v.get("user"),
            password=password,
            keys=keys,
            certificates=[os.path.expanduser(os.fspath(cert))] if cert is not None else [],
            passphrase=v.get("password") if keys else None,
            agent=bool(v.get("allow_agent", True)),
            identities=bool(v.get("identity_auth", True)),
            keyboard_interactive=bool(v.get("keyboard_interactive")),
            host_key_policy=v.get("host_key_policy"),
            known_hosts=[os.fspath(os.path.expanduser(f)) for f in known_hosts]
            if known_hosts is not None else None,
            ssh_config=os.path.expanduser(ssh_config) if ssh_config else ssh_config,
            proxy_jump=proxy_jump,
            proxy_command=v.get("proxy_command"),
            forward_agent=v.get("forward_ssh_agent"),
            keepalive=float(keepalive) if keepalive is not None else None,
            compress=v.get("compress"),
            # parallel-ssh holds every host's channel open once started and limits
            # connection set-up to pool_size at a time; so does this.
            pool_size=max(pool_size, hosts_in_group),
            max_handshakes=pool_size,
            connect_timeout=float(timeout) if timeout is not None else None,
            command_timeout=v.get("command_timeout"),
            retries=max(int(num_retries) - 1, 0) if num_retries is not None else 0,
            retry_delay=float(v.get("retry_delay") or 0),
            ipv6_only=bool(v.get("ipv6_only")),
            post_quantum_kex=bool(v.get("post_quantum_kex")),
        )


class Fleet:
    """The hosts of a client, grouped into native clients by settings."""

    def __init__(self, hosts, settings, host_config=None):
        hosts = list(hosts)
        if host_config is not None and not isinstance(host_config, (list, tuple)):
            raise exc.HostConfigError(
                "Host configuration of type %s is invalid - valid types are "
                "list[HostConfig]" % type(host_config))
        if host_config is not None and len(host_config) != len(hosts):
            raise exc._HostConfigValueError(
                "host_config has %d entries for %d hosts: give one per host"
                % (len(host_config), len(hosts)))
        self.names = []
        self.labels = []
        #: The HostConfig alias of each host, or None.
        self.aliases = []
        #: Each host's port as parallel-ssh reports it in errors.
        self.ports = []
        #: Each host's effective settings (the client's, with its HostConfig's over them).
        self.effective = []
        #: Connection attempts per host (parallel-ssh's ``num_retries``).
        self.num_retries = settings.values.get("num_retries") or 1
        client_port = settings.values.get("port")
        groups = {}
        for index, name in enumerate(hosts):
            cfg = host_config[index] if host_config is not None else None
            effective = settings.merged(cfg)
            self.effective.append(effective)
            alias = cfg.alias if cfg is not None else None
            self.names.append(name)
            self.labels.append(alias or name)
            self.aliases.append(alias)
            port = cfg.port if cfg is not None and cfg.port is not None else client_port
            self.ports.append(port or 22)
            host = (
                name,
                # 22 is parallel-ssh's default: leave it to ssh_config's Port.
                None if port in (None, 22) else int(port),
                cfg.user if cfg is not None else None,
                # The label in messages and download names: parallel-ssh's host string.
                alias or name,
                expand_key(cfg.private_key) if cfg is not None else None,
                cfg.password if cfg is not None else None,
            )
            key = _freeze({k: v for k, v in effective.values.items()
                           if k not in _HOST_LEVEL and k != "pkey"})
            group = groups.setdefault(key, (effective, [], []))
            group[1].append(index)
            group[2].append(host)
        self.groups = []
        for effective, indexes, host_tuples in groups.values():
            values = dict(effective.values)
            # The client's own user, password and key; a HostConfig's come with its host.
            for name in ("user", "password", "pkey"):
                values[name] = settings.values.get(name)
            kwargs = Settings(**values).native_kwargs(len(indexes))
            self.groups.append((indexes, host_tuples, kwargs))
        #: For each host index, its group and position in the group.
        self._place = [None] * len(hosts)
        for gi, (indexes, _, _) in enumerate(self.groups):
            for position, index in enumerate(indexes):
                self._place[index] = (gi, position)
        self._clients = {}
        #: GSS-API asked for: accepted and kept, refused when connecting.
        self.gssapi = bool(settings.values.get("gssapi_auth"))

    def __len__(self):
        return len(self.names)

    def clients(self, subset=None):
        """``(native client, host indexes)`` per group, optionally for a subset of hosts
        (host indexes, in order)."""
        if self.gssapi:
            host = self.labels[0] if self.labels else None
            error = exc.AuthenticationError(
                "Authentication error while connecting to %s:%s - %s - retries %s/%s",
                host, self.ports[0] if self.ports else None,
                "GSS-API authentication is not supported by sshfan (gssapi_auth=True)",
                1, self.num_retries)
            error.host, error.kind = host, "auth"
            raise error
        if subset is None:
            chosen = {gi: list(range(len(group[0]))) for gi, group in enumerate(self.groups)}
        else:
            chosen = {}
            for index in subset:
                gi, position = self._place[index]
                chosen.setdefault(gi, []).append(position)
        out = []
        for gi, positions in chosen.items():
            indexes, host_tuples, kwargs = self.groups[gi]
            client = self._clients.get(gi)
            if client is None:
                try:
                    client = _native.Client(host_tuples, **kwargs)
                except ValueError as error:
                    raise exc.HostConfigError(str(error)) from None
                self._clients[gi] = client
            if len(positions) != len(indexes):
                # Some of the group's hosts: a view sharing the group's sessions.
                client = client.only(positions)
            out.append((client, [indexes[p] for p in positions]))
        return out

    def all_clients(self):
        """The native clients made so far (one per group)."""
        return list(self._clients.values())

    def place(self, obj, index):
        """Gives a per-host object what its errors name: the port and the retry count."""
        obj._port = self.ports[index]
        obj._num_retries = self.num_retries
        return obj

    def start(self, starter, subset=None):
        """Starts one native run per group (``starter(client, indexes)``) → ``Runs``."""
        runs = [(starter(client, indexes), indexes) for client, indexes in self.clients(subset)]
        return Runs(runs, len(self.names))


def _freeze(values):
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in values.items()))


class Runs:
    """The native runs of one call, hosts back in the caller's order."""

    def __init__(self, runs, count):
        self.runs = runs
        pairs = [(index, host) for run, indexes in runs
                 for host, index in zip(run.hosts(), indexes)]
        pairs.sort(key=lambda pair: pair[0])
        #: ``(host index in the client, native host)``, in host order.
        self.pairs = pairs
        self.hosts = [host for _, host in pairs]

    def join(self, timeout=None):
        """Waits for all; returns the native hosts still running after ``timeout``."""
        import time
        deadline = None if timeout is None else time.monotonic() + timeout
        unfinished = []
        for run, _ in self.runs:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            hosts = run.hosts()
            unfinished.extend(hosts[i] for i in run.join(left))
        return unfinished

    def wait_connected(self, stop_at_first_error):
        """Waits until every host has a session or failed to get one (one native call per
        run); returns ``(position in hosts, kind, message)`` per failure, in host order."""
        position = {index: at for at, (index, _) in enumerate(self.pairs)}
        failed = [(position[indexes[i]], kind, message)
                  for run, indexes in self.runs
                  for i, kind, message in run.wait_connected(stop_at_first_error)]
        return sorted(failed)

    def cancel(self):
        for run, _ in self.runs:
            run.cancel()
