import os
from typing import Any, Callable, Dict, Hashable, Iterable, List, Optional, Sequence, Union

from ...config import HostConfig
from ...output import Channel, HostOutput, InteractiveShell, OutputGroup
from .single import SSHClient

_Path = Union[str, "os.PathLike[str]"]
_Key = Union[str, bytes, None]

class ParallelSSHClient:
    host_config: Optional[List[HostConfig]]
    user: Optional[str]
    password: Optional[str]
    port: int
    pkey: _Key
    num_retries: int
    retry_delay: float
    timeout: Optional[float]
    pool_size: int
    allow_agent: bool
    identity_auth: bool
    proxy_host: Optional[str]
    proxy_port: Optional[int]
    proxy_user: Optional[str]
    proxy_password: Optional[str]
    proxy_pkey: _Key
    forward_ssh_agent: bool
    keepalive_seconds: float
    ipv6_only: bool
    compress: bool
    keyboard_interactive: bool
    cert_file: Optional[str]
    gssapi_auth: bool
    def __init__(self, hosts: Iterable[str], user: Optional[str] = ...,
                 password: Optional[str] = ..., port: int = ..., pkey: _Key = ...,
                 num_retries: int = ..., retry_delay: float = ...,
                 timeout: Optional[float] = ..., pool_size: int = ...,
                 allow_agent: bool = ..., host_config: Optional[List[HostConfig]] = ...,
                 proxy_host: Optional[str] = ..., proxy_port: Optional[int] = ...,
                 proxy_user: Optional[str] = ..., proxy_password: Optional[str] = ...,
                 proxy_pkey: _Key = ..., forward_ssh_agent: bool = ...,
                 keepalive_seconds: float = ..., identity_auth: bool = ...,
                 ipv6_only: bool = ..., compress: bool = ..., keyboard_interactive: bool = ...,
                 cert_file: Optional[str] = ..., gssapi_auth: bool = ...,
                 *, host_key_policy: str = ..., known_hosts: Union[_Path, List[_Path], None] = ...,
                 ssh_config: Union[_Path, bool, None] = ...,
                 command_timeout: Optional[float] = ..., proxy_command: Optional[str] = ...,
                 post_quantum_kex: bool = ..., **extras: Any) -> None: ...
    hosts: List[str]
    @property
    def cmds(self) -> Optional[List[Any]]: ...
    @property
    def pool(self) -> Any: ...
    def run_command(self, command: str, sudo: bool = ..., user: Optional[str] = ...,
                    stop_on_errors: bool = ..., use_pty: bool = ...,
                    host_args: Optional[Sequence[Any]] = ..., shell: Optional[str] = ...,
                    encoding: Optional[str] = ..., read_timeout: Optional[float] = ...,
                    timeout: Optional[float] = ..., env: Optional[Dict[str, str]] = ...,
                    sudo_password: Optional[str] = ...,
                    command_timeout: Optional[float] = ...,
                    waves: Union[str, Sequence[Union[int, str]], None] = ...,
                    max_fail: Union[int, str, None] = ..., abort_running: bool = ...,
                    gate: Optional[Callable[[Dict[str, Any]], bool]] = ...,
                    wave_pause: Optional[float] = ...,
                    spread: Optional[Callable[[str], Hashable]] = ...) -> List[HostOutput]: ...
    def get_last_output(self, cmds: Optional[List[Any]] = ...) -> Optional[List[HostOutput]]: ...
    def join(self, output: Optional[List[HostOutput]] = ..., consume_output: bool = ...,
             timeout: Optional[float] = ...) -> None: ...
    def gather(self, output: Optional[List[HostOutput]] = ..., normalize: bool = ...,
               rules: Optional[Iterable[str]] = ...,
               patterns: Iterable[str] = ...) -> List[OutputGroup]: ...
    def finished(self, output: Optional[List[HostOutput]] = ...) -> bool: ...
    def connect_auth(self) -> List[Any]: ...
    def close_channel(self, channel: Optional[Channel]) -> None: ...
    def disconnect(self) -> None: ...
    def open_shell(self, encoding: Optional[str] = ...,
                   read_timeout: Optional[float] = ...) -> List[InteractiveShell]: ...
    def run_shell_commands(self, shells: List[InteractiveShell],
                           commands: Union[str, List[str]]) -> None: ...
    def join_shells(self, shells: List[InteractiveShell],
                    timeout: Optional[float] = ...) -> None: ...
    def copy_file(self, local_file: _Path, remote_file: _Path, recurse: bool = ...,
                  copy_args: Optional[List[Dict[str, Any]]] = ...) -> List[Any]: ...
    def scp_send(self, local_file: _Path, remote_file: _Path, recurse: bool = ...,
                 copy_args: Optional[List[Dict[str, Any]]] = ...) -> List[Any]: ...
    def copy_remote_file(self, remote_file: _Path, local_file: _Path, recurse: bool = ...,
                         suffix_separator: str = ...,
                         copy_args: Optional[List[Dict[str, Any]]] = ...,
                         encoding: str = ...) -> List[Any]: ...
    def scp_recv(self, remote_file: _Path, local_file: _Path, recurse: bool = ...,
                 copy_args: Optional[List[Dict[str, Any]]] = ...,
                 suffix_separator: str = ...) -> List[Any]: ...
