from typing import Optional, Union

class HostConfig:
    user: Optional[str]
    port: Optional[int]
    password: Optional[str]
    private_key: Optional[Union[str, bytes]]
    allow_agent: Optional[bool]
    alias: Optional[str]
    num_retries: Optional[int]
    retry_delay: Optional[float]
    timeout: Optional[float]
    identity_auth: Optional[bool]
    proxy_host: Optional[str]
    proxy_port: Optional[int]
    proxy_user: Optional[str]
    proxy_password: Optional[str]
    proxy_pkey: Optional[Union[str, bytes]]
    keepalive_seconds: Optional[float]
    ipv6_only: Optional[bool]
    cert_file: Optional[str]
    forward_ssh_agent: Optional[bool]
    compress: Optional[bool]
    keyboard_interactive: Optional[bool]
    gssapi_auth: Optional[bool]
    gssapi_server_identity: Optional[str]
    gssapi_client_identity: Optional[str]
    gssapi_delegate_credentials: Optional[bool]
    auth_thread_pool: Optional[bool]
    def __init__(self, user: Optional[str] = ..., port: Optional[int] = ...,
                 password: Optional[str] = ..., private_key: Optional[Union[str, bytes]] = ...,
                 allow_agent: Optional[bool] = ..., alias: Optional[str] = ...,
                 num_retries: Optional[int] = ..., retry_delay: Optional[float] = ...,
                 timeout: Optional[float] = ..., identity_auth: Optional[bool] = ...,
                 proxy_host: Optional[str] = ..., proxy_port: Optional[int] = ...,
                 proxy_user: Optional[str] = ..., proxy_password: Optional[str] = ...,
                 proxy_pkey: Optional[Union[str, bytes]] = ...,
                 keepalive_seconds: Optional[float] = ..., ipv6_only: Optional[bool] = ...,
                 cert_file: Optional[str] = ..., forward_ssh_agent: Optional[bool] = ...,
                 compress: Optional[bool] = ..., keyboard_interactive: Optional[bool] = ...,
                 gssapi_auth: Optional[bool] = ..., gssapi_server_identity: Optional[str] = ...,
                 gssapi_client_identity: Optional[str] = ...,
                 gssapi_delegate_credentials: Optional[bool] = ...,
                 auth_thread_pool: Optional[bool] = ...) -> None: ...
