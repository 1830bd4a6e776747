"""Type stubs: mypy sees the API (py.typed and .pyi files are installed)."""

import os
import subprocess
import sys

import pytest

GOOD = '''
from sshfan.clients import ParallelSSHClient, SSHClient
from sshfan.config import HostConfig
from sshfan.output import HostOutput

client = ParallelSSHClient(["web1"], user="u", host_config=[HostConfig(port=2222)])
output: list[HostOutput] = client.run_command("uname", read_timeout=5.0)
for host_output in output:
    code: int | None = host_output.exit_code
    for line in host_output.stdout:
        print(host_output.host, line)
client.join(output, timeout=10)
single = SSHClient("web1")
out = single.run_command("true")
single.wait_finished(out)


async def aio() -> None:
    from sshfan.aio import ParallelClient
    async with ParallelClient(["web1"], user="u", pool_size=10) as fleet:
        run = await fleet.run("uname", read_timeout=5.0)
        async for host in run.as_completed():
            status: int | None = await host.wait()
            async for line in host.stdout:
                print(host.host, line, status)
        await run.join(timeout=10)
'''

BAD = '''
from sshfan.clients import ParallelSSHClient
client = ParallelSSHClient(["web1"])
client.run_command(42)
client.join(timeout="soon")


async def aio() -> None:
    from sshfan.aio import ParallelClient
    run = await ParallelClient(["web1"]).run(42)
'''


def mypy(tmp_path, text):
    pytest.importorskip("mypy", reason="SKIPPED: mypy is not installed (pip install mypy)")
    program = tmp_path / "program.py"
    program.write_text(text)
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental",
                           "--cache-dir", os.devnull, str(program)],
                          capture_output=True, text=True, cwd=tmp_path)


def test_a_correct_program_type_checks(tmp_path):
    done = mypy(tmp_path, GOOD)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mistakes_are_found(tmp_path):
    done = mypy(tmp_path, BAD)
    assert done.returncode == 1, done.stdout
    assert 'Argument 1 to "run_command"' in done.stdout
    assert 'Argument "timeout" to "join"' in done.stdout
    assert 'Argument 1 to "run" of "ParallelClient"' in done.stdout
