"""``pssh.clients.ssh.parallel``: the parallel client, with the libssh client's arguments."""

from ..native.parallel import ParallelSSHClient as _NativeParallelSSHClient


class ParallelSSHClient(_NativeParallelSSHClient):
    """parallel-ssh's ``pssh.clients.ssh.ParallelSSHClient``: sshfan's parallel client."""

    def __init__(self, hosts, user=None, password=None, port=22, pkey=None, cert_file=None,
                 num_retries=3, timeout=None, pool_size=100, allow_agent=True,
                 host_config=None, retry_delay=5, forward_ssh_agent=False,
                 gssapi_auth=False, gssapi_server_identity=None, gssapi_client_identity=None,
                 gssapi_delegate_credentials=False, identity_auth=True, ipv6_only=False,
                 **extras):
        super().__init__(
            hosts, user=user, password=password, port=port, pkey=pkey, cert_file=cert_file,
            num_retries=num_retries, timeout=timeout, pool_size=pool_size,
            allow_agent=allow_agent, host_config=host_config, retry_delay=retry_delay,
            forward_ssh_agent=forward_ssh_agent, gssapi_auth=gssapi_auth,
            gssapi_server_identity=gssapi_server_identity,
            gssapi_client_identity=gssapi_client_identity,
            gssapi_delegate_credentials=gssapi_delegate_credentials,
            identity_auth=identity_auth, ipv6_only=ipv6_only, **extras)
        self.cert_file = cert_file
        self.gssapi_auth = gssapi_auth
        self.gssapi_server_identity = gssapi_server_identity
        self.gssapi_client_identity = gssapi_client_identity
        self.gssapi_delegate_credentials = gssapi_delegate_credentials

    @staticmethod
    def _single_class():
        from .single import SSHClient
        return SSHClient
