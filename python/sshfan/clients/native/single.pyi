import os
from typing import Any, Dict, Iterator, Optional, Union

from ...output import Channel, HostOutput, InteractiveShell

_Path = Union[str, "os.PathLike[str]"]

class SSHClient:
    host: str
    alias: Optional[str]
    user: str
    port: int
    password: Optional[str]
    pkey: Union[str, bytes, None]
    num_retries: int
    retry_delay: float
    timeout: Optional[float]
    allow_agent: bool
    identity_auth: bool
    forward_ssh_agent: bool
    keepalive_seconds: float
    compress: bool
    ipv6_only: bool
    keyboard_interactive: bool
    proxy_host: Optional[str]
    proxy_port: Optional[int]
    def __init__(self, host: str, user: Optional[str] = ..., password: Optional[str] = ...,
                 port: Optional[int] = ..., pkey: Union[str, bytes, None] = ...,
                 alias: Optional[str] = ..., num_retries: int = ..., retry_delay: float = ...,
                 allow_agent: bool = ..., timeout: Optional[float] = ...,
                 forward_ssh_agent: bool = ..., proxy_host: Optional[str] = ...,
                 proxy_port: Optional[int] = ..., proxy_pkey: Union[str, bytes, None] = ...,
                 proxy_user: Optional[str] = ..., proxy_password: Optional[str] = ...,
                 keepalive_seconds: float = ..., identity_auth: bool = ...,
                 ipv6_only: bool = ..., compress: bool = ..., keyboard_interactive: bool = ...,
                 _auth_thread_pool: bool = ..., **extras: Any) -> None: ...
    def run_command(self, command: str, sudo: bool = ..., user: Optional[str] = ...,
                    use_pty: bool = ..., shell: Optional[str] = ...,
                    encoding: Optional[str] = ..., timeout: Optional[float] = ...,
                    read_timeout: Optional[float] = ..., env: Optional[Dict[str, str]] = ...,
                    sudo_password: Optional[str] = ...,
                    command_timeout: Optional[float] = ...) -> HostOutput: ...
    def execute(self, cmd: str, use_pty: bool = ..., channel: Any = ...) -> Optional[Channel]: ...
    def wait_finished(self, host_output: HostOutput, timeout: Optional[float] = ...) -> None: ...
    def finished(self, channel: Optional[Channel]) -> Optional[bool]: ...
    def get_exit_status(self, channel: Channel) -> Optional[int]: ...
    def close_channel(self, channel: Channel) -> None: ...
    def read_output(self, stdout_buffer: Any, timeout: Optional[float] = ...) -> Iterator[bytes]: ...
    def read_stderr(self, stderr_buffer: Any, timeout: Optional[float] = ...) -> Iterator[bytes]: ...
    def open_shell(self, encoding: Optional[str] = ...,
                   read_timeout: Optional[float] = ...) -> InteractiveShell: ...
    def copy_file(self, local_file: _Path, remote_file: _Path, recurse: bool = ...,
                  sftp: Any = ...) -> None: ...
    def scp_send(self, local_file: _Path, remote_file: _Path, recurse: bool = ...,
                 sftp: Any = ...) -> None: ...
    def copy_remote_file(self, remote_file: _Path, local_file: _Path, recurse: bool = ...,
                         sftp: Any = ..., encoding: str = ...) -> None: ...
    def scp_recv(self, remote_file: _Path, local_file: _Path, recurse: bool = ...,
                 sftp: Any = ..., encoding: str = ...) -> None: ...
    def disconnect(self) -> None: ...
    def __enter__(self) -> "SSHClient": ...
    def __exit__(self, *exc_info: Any) -> None: ...
