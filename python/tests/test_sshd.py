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


def test_run_command_encodes_the_command_with_its_encoding(sshd):
    """parallel-ssh's `run_command(encoding=)`: the command is sent in that encoding (and
    the output read with it), also through a custom shell and on the single client."""
    client = ParallelSSHClient([sshd["host"]], **args(sshd))
    output = client.run_command("printf '%s' 'é'; printf '%s' 'é' | od -An -tx1",
                                encoding="latin-1")
    client.join()
    assert output[0].fully_qualified_command == \
        b"printf '%s' '\xe9'; printf '%s' '\xe9' | od -An -tx1"
    assert list(output[0].stdout) == ["é e9"]
    output = client.run_command("printf '%s' 'é' | od -An -tx1", shell="sh -c",
                                encoding="utf-8")
    client.join()
    assert list(output[0].stdout) == [" c3 a9"]
    single = SSHClient(sshd["host"], **args(sshd))
    host_output = single.run_command("printf '%s' 'é' | od -An -tx1", encoding="latin-1")
    single.wait_finished(host_output)
    assert list(host_output.stdout) == [" e9"]


def test_cert_file_authenticates_with_a_certificate(sshd):
    """parallel-ssh's `cert_file` (pssh.clients.ssh): a key the server knows only through
    its user CA logs in with its certificate, wherever the certificate is stored."""
    from sshfan.clients.ssh import ParallelSSHClient as LibsshClient
    from sshfan.clients.ssh import SSHClient as LibsshSingle
    from sshfan.config import HostConfig
    from sshfan.exceptions import AuthenticationError
    without = ParallelSSHClient([sshd["host"]], **args(sshd, pkey=sshd["cert_key"]))
    output = without.run_command("true", stop_on_errors=False)
    assert isinstance(output[0].exception, AuthenticationError)
    client = LibsshClient([sshd["host"]], **args(sshd, pkey=sshd["cert_key"],
                                                 cert_file=sshd["cert_file"]))
    output = client.run_command("echo certified")
    client.join()
    assert list(output[0].stdout) == ["certified"]
    single = LibsshSingle(sshd["host"], **args(sshd, pkey=sshd["cert_key"],
                                              cert_file=sshd["cert_file"]))
    assert list(single.run_command("echo single").stdout) == ["single"]
    # Per host, through HostConfig.
    per_host = ParallelSSHClient(
        [sshd["host"]], **args(sshd),
        host_config=[HostConfig(port=sshd["port"], private_key=sshd["cert_key"],
                                cert_file=sshd["cert_file"])])
    output = per_host.run_command("echo per host")
    per_host.join()
    assert list(output[0].stdout) == ["per host"]


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
