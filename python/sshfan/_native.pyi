# The Rust extension module: private; the public API is sshfan.clients.
from typing import Any

Client: Any
Run: Any
Host: Any
ReadTimeoutError: Any
def enable_tracing(filter: str = ...) -> bool: ...
def group_outputs(outputs: Any, normalize: bool = ..., rules: Any = ...,
                  patterns: Any = ...) -> Any: ...
