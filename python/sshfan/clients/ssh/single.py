"""``pssh.clients.ssh.single``: the one-host client, with the libssh client's arguments."""

from ..native.single import SSHClient as _NativeSSHClient


class SSHClient(_NativeSSHClient):
    """parallel-ssh's ``pssh.clients.ssh.SSHClient``: sshfan's one-host client."""

    def __init__(self, host, user=None, password=None, port=None, pkey=None, alias=None,
                 cert_file=None, num_retries=3, retry_delay=5, allow_agent=True,
                 timeout=None, identity_auth=True, gssapi_auth=False,
                 gssapi_server_identity=None, gssapi_client_identity=None,
                 gssapi_delegate_credentials=False, ipv6_only=False,
                 _auth_thread_pool=True, **extras):
        self.cert_file = cert_file
        self.gssapi_auth = gssapi_auth
        self.gssapi_server_identity = gssapi_server_identity
        self.gssapi_client_identity = gssapi_client_identity
        self.gssapi_delegate_credentials = gssapi_delegate_credentials
        super().__init__(
            host, user=user, password=password, port=port, pkey=pkey, alias=alias,
            num_retries=num_retries, retry_delay=retry_delay, allow_agent=allow_agent,
            timeout=timeout, identity_auth=identity_auth, ipv6_only=ipv6_only,
            cert_file=cert_file, gssapi_auth=gssapi_auth,
            gssapi_server_identity=gssapi_server_identity,
            gssapi_client_identity=gssapi_client_identity,
            gssapi_delegate_credentials=gssapi_delegate_credentials, **extras)
