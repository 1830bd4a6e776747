"""The bindings against a real OpenSSH sshd on loopback."""

import os

from sshfan.clients import ParallelSSHClient, SSHClient
from sshfan.utils import joinall


def args(sshd, **extra):
    values = dict(user=sshd["user"], port=sshd["port"], pkey=sshd["pkey"],
                  known_hosts=sshd["known_hosts"], ssh_config=False, allow_agent=False,
                  identity_auth=False)
    values.update(extra)
    return values


def test_commands_exit_codes_stderr_and_large_output(sshd):
    client = ParallelSSHClient([sshd["host"]] * 3, **args(sshd))
    output = client.run_command("echo out; echo err >&2; head -c 2000000 /dev/zero | tr '\\0' 'x'; echo; exit 7")
    client.join()
    for host_output in output:
        lines = list(host_output.stdout)
        assert lines[0] == "out" and len(lines[1]) == 2_000_000
        assert list(host_output.stderr) == ["err"]
        assert host_output.exit_code == 7


def test_single_client_shell_and_copy(sshd, tmp_path):
    client = SSHClient(sshd["host"], **args(sshd))
    with client.open_shell() as shell:
        shell.run("echo $((6 * 7))")
    assert list(shell.stdout) == ["42"]
    local = tmp_path / "up.bin"
    local.write_bytes(os.urandom(100_000))
    remote = str(sshd["dir"] / "remote" / "up.bin")
    client.copy_file(str(local), remote)
    client.copy_remote_file(remote, str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == local.read_bytes()
    client.scp_recv(remote, str(tmp_path / "scp.bin"))
    assert (tmp_path / "scp.bin").read_bytes() == local.read_bytes()


def test_parallel_copies_to_sshd(sshd, tmp_path):
    client = ParallelSSHClient([sshd["host"]], **args(sshd))
    local = tmp_path / "p.txt"
    local.write_text("parallel")
    remote = str(sshd["dir"] / "p.txt")
    joinall(client.scp_send(str(local), remote), raise_error=True)
    assert open(remote).read() == "parallel"
