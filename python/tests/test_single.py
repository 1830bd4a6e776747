"""SSHClient (one host) against the testkit fleet."""

import pytest

from sshfan import exceptions
from sshfan.clients import SSHClient
from sshfan.clients.native import SSHClient as NativeSSHClient


def single(fleet, index=0, **extra):
    args = fleet.client_args(**extra)
    return SSHClient(fleet.names[index], **args)


def test_run_command_wait_finished_and_exit_code(fleet):
    assert SSHClient is NativeSSHClient
    with single(fleet) as client:
        host_output = client.run_command("echo one; echo two >&2; exit 5")
        client.wait_finished(host_output)
        assert list(host_output.stdout) == ["one"]
        assert list(host_output.stderr) == ["two"]
        assert host_output.exit_code == 5


def test_wait_finished_timeout(fleet):
    client = single(fleet)
    host_output = client.run_command("sleep 3")
    with pytest.raises(exceptions.Timeout):
        client.wait_finished(host_output, timeout=0.2)


def test_read_output_and_read_stderr_take_buffers(fleet):
    client = single(fleet)
    host_output = client.run_command("seq 3; echo e >&2")
    assert list(client.read_output(host_output.buffers.stdout)) == [b"1", b"2", b"3"]
    assert list(client.read_stderr(host_output.buffers.stderr)) == [b"e"]


def test_connection_errors_raise_at_construction(make_fleet):
    fleet = make_fleet(hosts=2, faults={1: "reject-auth"})
    with pytest.raises(exceptions.AuthenticationError):
        single(fleet, 1)
    with pytest.raises(exceptions.ConnectionError):
        SSHClient("127.0.0.1", **fleet.client_args(timeout=2))


def test_open_shell_as_context_manager(fleet):
    client = single(fleet, 2)
    with client.open_shell() as shell:
        shell.run("echo in-shell")
        shell.run("hostname")
    assert list(shell.stdout) == ["in-shell", "host2"]
    assert shell.exit_code == 0


def test_copies_block_and_download_to_the_exact_path(fleet, tmp_path):
    client = single(fleet)
    local = tmp_path / "f.txt"
    local.write_text("single host")
    assert client.copy_file(str(local), "/srv/single/f.txt") is None
    client.copy_remote_file("/srv/single/f.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "single host"
    with pytest.raises(exceptions.SFTPIOError):
        client.copy_remote_file("/srv/missing", str(tmp_path / "none"))


def test_scp_on_one_host(make_fleet, tmp_path):
    fleet = make_fleet(hosts=1, real_shell=True)
    client = single(fleet)
    local = tmp_path / "s.bin"
    local.write_bytes(b"\x00\xffscp")
    client.scp_send(str(local), "s.bin")
    client.scp_recv("s.bin", str(tmp_path / "s-back.bin"))
    assert (tmp_path / "s-back.bin").read_bytes() == b"\x00\xffscp"


def test_copies_to_a_directory_go_into_it_under_the_source_name(make_fleet, tmp_path):
    fleet = make_fleet(hosts=1, real_shell=True)
    client = single(fleet)
    local = tmp_path / "app.conf"
    local.write_text("conf\n")
    client.wait_finished(client.run_command("mkdir -p into"))
    client.scp_send(str(local), "into")
    client.copy_file(str(local), "fresh/")
    output = client.run_command("cat into/app.conf fresh/app.conf")
    client.wait_finished(output)
    assert list(output.stdout) == ["conf", "conf"]
    target = tmp_path / "down"
    target.mkdir()
    client.scp_recv("into/app.conf", str(target))
    client.copy_remote_file("fresh/app.conf", str(target) + "/")
    assert (target / "app.conf").read_text() == "conf\n"
